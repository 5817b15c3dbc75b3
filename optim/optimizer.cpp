// The optimizer base: parameter groups, lr and state buffers shared by every
// optimizer (state_dict/load_state_dict are in optimizer_state.cpp).

#include "optimizer.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "optim_support.hpp"

namespace tapegrad {

template <class T>
Optimizer<T>::Optimizer(std::vector<Parameter<T>*> params, double lr) : Optimizer("Optimizer", std::move(params), lr) {}

template <class T>
Optimizer<T>::Optimizer(std::string name, std::vector<Parameter<T>*> params, double lr)
    : Optimizer(std::move(name), std::vector<std::vector<Parameter<T>*>>{std::move(params)}, std::vector<double>{lr}) {}

template <class T>
Optimizer<T>::Optimizer(std::string name, std::vector<std::vector<Parameter<T>*>> groups, std::vector<double> lrs)
    : group_offsets_{0}, lrs_(std::move(lrs)), name_(std::move(name)) {
    if (groups.empty()) throw ArgumentError(name_ + ": no parameter groups");
    if (groups.size() != lrs_.size())
        throw ArgumentError(name_ + ": " + std::to_string(groups.size()) + " parameter groups but " +
                            std::to_string(lrs_.size()) + " learning rates");
    // Each record's first place, as (group, position in the group).
    std::unordered_map<const ParameterState<T>*, std::pair<std::size_t, std::size_t>> seen;
    for (std::size_t g = 0; g < groups.size(); ++g) {
        const std::string who = group_label(g);
        // An empty list is almost always a model whose parameters were collected
        // before it was built; PyTorch refuses it for the same reason.
        if (groups[g].empty()) throw ArgumentError(who + ": empty parameter list");
        for (std::size_t i = 0; i < groups[g].size(); ++i) {
            Parameter<T>* p = groups[g][i];
            if (p == nullptr) throw ArgumentError(who + ": parameter " + std::to_string(i) + " is null");
            if (!p->has_state())
                throw LifetimeError(who + ": parameter " + std::to_string(i) + " was moved from (it has no value)");
            auto [it, inserted] = seen.emplace(p->state().get(), std::pair{g, i});
            // Updating one parameter twice per step would silently double its lr.
            if (!inserted)
                throw ArgumentError(who + ": " + detail::param_label(groups[g], i) + " is listed twice (also at position " +
                                    std::to_string(it->second.second) +
                                    (groups.size() > 1 ? " of group " + std::to_string(it->second.first) : "") + ")");
            params_.push_back(p->state());
            live_.push_back(p);
        }
        group_offsets_.push_back(params_.size());
    }
    for (std::size_t g = 0; g < lrs_.size(); ++g) detail::require_lr<T>(group_label(g), "lr", lrs_[g]);
}

template <class T>
std::string Optimizer<T>::group_label(std::size_t group) const {
    return detail::group_label(name_, group, num_groups());
}

template <class T>
void Optimizer<T>::check_group(std::size_t group, const char* what) const {
    if (group >= num_groups())
        throw ArgumentError(name_ + "::" + what + ": group " + std::to_string(group) + " does not exist (there are " +
                            std::to_string(num_groups()) + ")");
}

template <class T>
std::vector<Parameter<T>*> Optimizer<T>::params(std::size_t group) const {
    check_group(group, "params");
    const std::vector<Parameter<T>*>& live = live_params("params");
    return {live.begin() + static_cast<std::ptrdiff_t>(group_begin(group)),
            live.begin() + static_cast<std::ptrdiff_t>(group_end(group))};
}

template <class T>
double Optimizer<T>::lr(std::size_t group) const {
    check_group(group, "lr");
    return lrs_[group];
}

template <class T>
void Optimizer<T>::zero_grad() {
    for (Parameter<T>* p : live_params("zero_grad")) p->zero_grad();
}

template <class T>
const std::vector<Parameter<T>*>& Optimizer<T>::live_params(const char* what) const {
    live_.resize(params_.size());  // no-op after the constructor
    for (std::size_t i = 0; i < params_.size(); ++i) {
        Parameter<T>* owner = params_[i]->owner();
        if (owner == nullptr)
            throw LifetimeError(name_ + "::" + what + ": " + detail::param_label(params_, i) + " of shape " +
                                shape_str(params_[i]->shape()) +
                                " was destroyed while the optimizer still refers to it; build the optimizer over "
                                "parameters that outlive it");
        live_[i] = owner;
    }
    return live_;
}

template <class T>
void Optimizer<T>::set_lr(double lr) {
    detail::require_lr<T>(name_ + "::set_lr", "lr", lr);
    std::fill(lrs_.begin(), lrs_.end(), lr);
}

template <class T>
void Optimizer<T>::set_lr(std::size_t group, double lr) {
    check_group(group, "set_lr");
    detail::require_lr<T>(name_ + "::set_lr: group " + std::to_string(group), "lr", lr);
    lrs_[group] = lr;
}

template <class T>
std::size_t Optimizer<T>::add_buffer(std::string name, T init, bool non_negative) {
    return add_buffer(std::move(name), std::vector<T>(num_groups(), init), non_negative);
}

template <class T>
std::size_t Optimizer<T>::add_buffer(std::string name, std::vector<T> init, bool non_negative) {
    if (init.size() != num_groups())
        throw ArgumentError(name_ + ": buffer '" + name + "' has " + std::to_string(init.size()) +
                            " starting values for " + std::to_string(num_groups()) + " groups");
    Buffer b;
    b.name = std::move(name);
    b.init = std::move(init);
    b.non_negative = non_negative;
    buffers_.push_back(std::move(b));
    return buffers_.size() - 1;
}

template <class T>
T Optimizer<T>::initial_value(const Buffer& b, std::size_t index) const {
    // The first offset greater than index ends the parameter's group.
    const auto end = std::upper_bound(group_offsets_.begin(), group_offsets_.end(), index);
    return b.init[static_cast<std::size_t>(end - group_offsets_.begin()) - 1];
}

template <class T>
void Optimizer<T>::allocate(Buffer& b) const {
    b.tensors.clear();
    b.tensors.reserve(params_.size());
    for (std::size_t i = 0; i < params_.size(); ++i) {
        b.tensors.push_back(Tensor<T>::from_shape(params_[i]->shape()));
        b.tensors.back().fill(initial_value(b, i));
    }
    b.allocated = true;
}

template <class T>
const std::vector<Parameter<T>*>& Optimizer<T>::prepare_step() {
    const std::vector<Parameter<T>*>& live = live_params("step");
    // A gradient left at an old shape by mutable_value() would be read past its end.
    for (const auto& p : params_)
        if (p->grad_stale()) throw ShapeError(name_ + "::step: " + p->grad_shape_problem());
    for (Buffer& b : buffers_) {
        if (!b.allocated) allocate(b);
        for (std::size_t i = 0; i < params_.size(); ++i)
            if (!detail::shapes_match(b.tensors[i].shape(), params_[i]->shape()))
                throw ShapeError(name_ + "::step: " + detail::param_label(params_, i) + " has shape " +
                                 shape_str(params_[i]->shape()) + " but its state '" + b.name + "' has shape " +
                                 shape_str(b.tensors[i].shape()) + " (reshaped after the optimizer was built?)");
    }
    return live;
}

template class Optimizer<float>;
template class Optimizer<double>;

}  // namespace tapegrad
