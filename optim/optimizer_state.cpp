// Optimizer<T>::state_dict and load_state_dict over the keys documented at
// `StateDict`, including states saved before parameter groups ("lr").

#include <cmath>
#include <optional>

#include "optim_support.hpp"
#include "optimizer.hpp"

namespace tapegrad {

namespace {

Tensor<double> scalar_tensor(double v) {
    Tensor<double> t = Tensor<double>::from_shape(Shape{});
    t.data()[0] = v;
    return t;
}

// "group.<g>.<what>", e.g. "group.1.lr".
std::string group_key(std::size_t group, const std::string& what) {
    return "group." + std::to_string(group) + "." + what;
}

// The tensor at `key`, recorded in `used`; ArgumentError if it is missing.
const Tensor<double>& find_key(const StateDict& state, const std::string& who, const std::string& key,
                               std::set<std::string>& used) {
    auto it = state.find(key);
    if (it == state.end())
        throw ArgumentError(who + "missing key '" + key +
                            "' (is the state from another optimizer type, options or parameter list?)");
    used.insert(key);
    return it->second;
}

// The value of a 0-d tensor at `key`.
double find_scalar(const StateDict& state, const std::string& who, const std::string& key,
                   std::set<std::string>& used) {
    const Tensor<double>& t = find_key(state, who, key, used);
    if (t.dimension() != 0)
        throw ArgumentError(who + "key '" + key + "' has shape " + shape_str(t.shape()) + ", expected ()");
    return t.data()[0];
}

// Number of groups in a state: its "group.<g>.params" keys.
std::size_t saved_groups(const StateDict& state) {
    const std::string prefix = "group.", suffix = ".params";
    std::size_t n = 0;
    for (const auto& [key, t] : state)
        n += key.size() > prefix.size() + suffix.size() && key.compare(0, prefix.size(), prefix) == 0 &&
             key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0;
    return n;
}

// "group.<g>.params" must list exactly positions [begin, end): the same membership.
void check_members(const StateDict& state, const std::string& who, std::size_t group, std::size_t begin,
                   std::size_t end, std::set<std::string>& used) {
    const std::string key = group_key(group, "params");
    const Tensor<double>& t = find_key(state, who, key, used);
    const std::size_t n = end - begin;
    if (t.dimension() != 1 || t.size() != n)
        throw ArgumentError(who + "key '" + key + "' has shape " + shape_str(t.shape()) + ", expected (" +
                            std::to_string(n) + ",): group " + std::to_string(group) + " has " + std::to_string(n) +
                            " parameters");
    for (std::size_t j = 0; j < n; ++j)
        if (t.data()[j] != static_cast<double>(begin + j))
            throw ArgumentError(who + "key '" + key + "' element " + std::to_string(j) + " is " +
                                detail::num_str(t.data()[j]) + ", expected " + std::to_string(begin + j) +
                                ": the state's group " + std::to_string(group) +
                                " holds other parameters than this optimizer's");
}

}  // namespace

template <class T>
struct Optimizer<T>::LoadedGroup {
    double lr;
    std::optional<std::vector<double>> options;  ///< none in a state from before groups: keep the current ones
};

template <class T>
StateDict Optimizer<T>::state_dict() const {
    StateDict out;
    out["step"] = scalar_tensor(static_cast<double>(steps_));
    const std::vector<std::string> names = option_names();
    for (std::size_t g = 0; g < num_groups(); ++g) {
        Tensor<double> members = Tensor<double>::from_shape(Shape{group_end(g) - group_begin(g)});
        for (std::size_t i = group_begin(g); i < group_end(g); ++i)
            members.data()[i - group_begin(g)] = static_cast<double>(i);
        out[group_key(g, "params")] = std::move(members);
        out[group_key(g, "lr")] = scalar_tensor(lrs_[g]);
        const std::vector<double> values = option_values(g);
        for (std::size_t k = 0; k < names.size(); ++k) out[group_key(g, names[k])] = scalar_tensor(values[k]);
    }
    for (const Buffer& b : buffers_)
        for (std::size_t i = 0; i < params_.size(); ++i) {
            Tensor<double> t = Tensor<double>::from_shape(b.allocated ? b.tensors[i].shape() : params_[i]->shape());
            if (b.allocated) {
                const Tensor<T>& src = b.tensors[i];
                for (std::size_t j = 0; j < src.size(); ++j) t.data()[j] = static_cast<double>(src.data()[j]);
            } else {
                t.fill(static_cast<double>(initial_value(b, i)));  // what the first step would start from
            }
            out[std::to_string(i) + "." + b.name] = std::move(t);
        }
    return out;
}

template <class T>
void Optimizer<T>::load_state_dict(const StateDict& state) {
    const std::string who = name_ + "::load_state_dict: ";
    // Everything is checked before anything is written, so a bad state leaves
    // the optimizer exactly as it was.
    std::set<std::string> used;
    const std::vector<LoadedGroup> groups = read_groups(state, who, used);
    const long step = read_step(state, who, used);
    check_buffers(state, who, used);
    if (used.size() != state.size())
        for (const auto& [key, t] : state)
            if (!used.count(key)) throw ArgumentError(who + "unexpected key '" + key + "'");
    commit_state(state, groups, step);
}

template <class T>
auto Optimizer<T>::read_groups(const StateDict& state, const std::string& who, std::set<std::string>& used) const
    -> std::vector<LoadedGroup> {
    if (state.count("lr") && !state.count(group_key(0, "lr"))) {
        // Saved before parameter groups: one group's lr; the options were not saved.
        if (num_groups() != 1)
            throw ArgumentError(who + "the state was saved before parameter groups (key 'lr'): it has one group, "
                                      "this optimizer has " + std::to_string(num_groups()));
        const double lr = find_scalar(state, who, "lr", used);
        detail::require_lr<T>(who + "key 'lr'", "value", lr);
        return {LoadedGroup{lr, std::nullopt}};
    }
    const std::size_t saved = saved_groups(state);
    // With no group at all, the missing keys below say more.
    if (saved != 0 && saved != num_groups())
        throw ArgumentError(who + "the state has " + std::to_string(saved) + " parameter groups, this optimizer has " +
                            std::to_string(num_groups()));
    const std::vector<std::string> names = option_names();
    std::vector<LoadedGroup> out;
    for (std::size_t g = 0; g < num_groups(); ++g) {
        check_members(state, who, g, group_begin(g), group_end(g), used);
        const std::string lr_key = group_key(g, "lr");
        LoadedGroup loaded{find_scalar(state, who, lr_key, used), std::vector<double>{}};
        detail::require_lr<T>(who + "key '" + lr_key + "'", "value", loaded.lr);
        for (const std::string& name : names) loaded.options->push_back(find_scalar(state, who, group_key(g, name), used));
        check_option_values(g, *loaded.options, who + "group " + std::to_string(g) + " (keys 'group." +
                                                     std::to_string(g) + ".*')");
        out.push_back(std::move(loaded));
    }
    return out;
}

template <class T>
long Optimizer<T>::read_step(const StateDict& state, const std::string& who, std::set<std::string>& used) const {
    const double step = find_scalar(state, who, "step", used);
    // 2^53: every integer below it is exact in double.
    detail::require_arg(step >= 0 && step < 9007199254740992.0 && step == std::floor(step), who + "key 'step'",
                        "value", "a non-negative integer below 2^53", step);
    return static_cast<long>(step);
}

template <class T>
void Optimizer<T>::check_buffers(const StateDict& state, const std::string& who, std::set<std::string>& used) const {
    for (const Buffer& b : buffers_)
        for (std::size_t i = 0; i < params_.size(); ++i) {
            const std::string key = std::to_string(i) + "." + b.name;
            const Tensor<double>& t = find_key(state, who, key, used);
            if (!detail::shapes_match(t.shape(), params_[i]->shape()))
                throw ArgumentError(who + "key '" + key + "' has shape " + shape_str(t.shape()) + ", expected " +
                                    shape_str(params_[i]->shape()) + " (" + detail::param_label(params_, i) + ")");
            detail::require_state_values<T>(who, key, t, b.non_negative);
        }
}

template <class T>
void Optimizer<T>::commit_state(const StateDict& state, const std::vector<LoadedGroup>& groups, long step) {
    for (std::size_t g = 0; g < groups.size(); ++g) {
        lrs_[g] = groups[g].lr;
        if (groups[g].options) set_option_values(g, *groups[g].options);
    }
    steps_ = step;
    for (Buffer& b : buffers_) {
        if (!b.allocated) allocate(b);
        for (std::size_t i = 0; i < params_.size(); ++i) {
            const Tensor<double>& src = state.at(std::to_string(i) + "." + b.name);
            Tensor<T>& dst = b.tensors[i];
            // Only differs if the parameter was reshaped since construction.
            if (!detail::shapes_match(dst.shape(), src.shape())) dst = Tensor<T>::from_shape(src.shape());
            for (std::size_t j = 0; j < src.size(); ++j) dst.data()[j] = static_cast<T>(src.data()[j]);
        }
    }
}

// optimizer.cpp instantiates the rest of the class; the header's `extern
// template` stops the helpers from being instantiated implicitly here.
#define TAPEGRAD_INSTANTIATE(T)                                                                                        \
    template StateDict Optimizer<T>::state_dict() const;                                                               \
    template void Optimizer<T>::load_state_dict(const StateDict&);                                                     \
    template auto Optimizer<T>::read_groups(const StateDict&, const std::string&, std::set<std::string>&) const         \
        -> std::vector<LoadedGroup>;                                                                                   \
    template long Optimizer<T>::read_step(const StateDict&, const std::string&, std::set<std::string>&) const;         \
    template void Optimizer<T>::check_buffers(const StateDict&, const std::string&, std::set<std::string>&) const;     \
    template void Optimizer<T>::commit_state(const StateDict&, const std::vector<LoadedGroup>&, long);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)

}  // namespace tapegrad
