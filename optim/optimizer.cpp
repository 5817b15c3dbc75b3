// The optimizer base: parameter bookkeeping, lr, and state (de)serialisation
// shared by every optimizer.

#include "optimizer.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "optim_support.hpp"

namespace tapegrad {

namespace {

// For Parameter* and for shared records alike.
template <class P>
std::string param_label(const std::vector<P>& params, std::size_t i) {
    std::string s = "parameter " + std::to_string(i);
    if (params[i] != nullptr && !params[i]->name().empty()) s += " ('" + params[i]->name() + "')";
    return s;
}

template <class S1, class S2>
bool shapes_match(const S1& a, const S2& b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

Tensor<double> scalar_tensor(double v) {
    Tensor<double> t = Tensor<double>::from_shape(Shape{});
    t.data()[0] = v;
    return t;
}

}  // namespace

template <class T>
Optimizer<T>::Optimizer(std::vector<Parameter<T>*> params, double lr) : Optimizer("Optimizer", std::move(params), lr) {}

template <class T>
Optimizer<T>::Optimizer(std::string name, std::vector<Parameter<T>*> params, double lr)
    : lr_(lr), name_(std::move(name)) {
    // An empty list is almost always a model whose parameters were collected
    // before it was built; PyTorch refuses it for the same reason.
    if (params.empty()) throw ArgumentError(name_ + ": empty parameter list");
    std::unordered_map<const ParameterState<T>*, std::size_t> seen;
    params_.reserve(params.size());
    for (std::size_t i = 0; i < params.size(); ++i) {
        if (params[i] == nullptr) throw ArgumentError(name_ + ": parameter " + std::to_string(i) + " is null");
        if (!params[i]->has_state())
            throw LifetimeError(name_ + ": parameter " + std::to_string(i) + " was moved from (it has no value)");
        params_.push_back(params[i]->state());
        auto [it, inserted] = seen.emplace(params_[i].get(), i);
        // Updating one parameter twice per step would silently double its lr.
        if (!inserted)
            throw ArgumentError(name_ + ": " + param_label(params_, i) + " is listed twice (also at position " +
                                std::to_string(it->second) + ")");
    }
    live_ = std::move(params);
    detail::require_lr<T>(name_, "lr", lr);
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
            throw LifetimeError(name_ + "::" + what + ": " + param_label(params_, i) + " of shape " +
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
    lr_ = lr;
}

template <class T>
std::size_t Optimizer<T>::add_buffer(std::string name, T init, bool non_negative) {
    Buffer b;
    b.name = std::move(name);
    b.init = init;
    b.non_negative = non_negative;
    buffers_.push_back(std::move(b));
    return buffers_.size() - 1;
}

namespace {
template <class T, class B, class P>
void allocate(B& b, const std::vector<P>& params) {
    b.tensors.clear();
    b.tensors.reserve(params.size());
    for (const P& p : params) {
        b.tensors.push_back(Tensor<T>::from_shape(p->shape()));
        b.tensors.back().fill(b.init);
    }
    b.allocated = true;
}
}  // namespace

template <class T>
const std::vector<Parameter<T>*>& Optimizer<T>::prepare_step() {
    const std::vector<Parameter<T>*>& live = live_params("step");
    // A gradient left at an old shape by mutable_value() would be read past its end.
    for (const auto& p : params_)
        if (p->grad_stale()) throw ShapeError(name_ + "::step: " + p->grad_shape_problem());
    for (Buffer& b : buffers_) {
        if (!b.allocated) allocate<T>(b, params_);
        for (std::size_t i = 0; i < params_.size(); ++i)
            if (!shapes_match(b.tensors[i].shape(), params_[i]->shape()))
                throw ShapeError(name_ + "::step: " + param_label(params_, i) + " has shape " +
                                 shape_str(params_[i]->shape()) + " but its state '" + b.name + "' has shape " +
                                 shape_str(b.tensors[i].shape()) + " (reshaped after the optimizer was built?)");
    }
    return live;
}

template <class T>
StateDict Optimizer<T>::state_dict() const {
    StateDict out;
    out["lr"] = scalar_tensor(lr_);
    out["step"] = scalar_tensor(static_cast<double>(steps_));
    for (const Buffer& b : buffers_)
        for (std::size_t i = 0; i < params_.size(); ++i) {
            Tensor<double> t = Tensor<double>::from_shape(b.allocated ? b.tensors[i].shape() : params_[i]->shape());
            if (b.allocated) {
                const Tensor<T>& src = b.tensors[i];
                for (std::size_t j = 0; j < src.size(); ++j) t.data()[j] = static_cast<double>(src.data()[j]);
            } else {
                t.fill(static_cast<double>(b.init));  // what the first step would start from
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
    std::size_t expected = 0;
    auto find = [&](const std::string& key) -> const Tensor<double>& {
        auto it = state.find(key);
        if (it == state.end())
            throw ArgumentError(who + "missing key '" + key +
                                "' (is the state from another optimizer type, options or parameter list?)");
        ++expected;
        return it->second;
    };
    for (const char* key : {"lr", "step"}) {
        const Tensor<double>& t = find(key);
        if (t.dimension() != 0)
            throw ArgumentError(who + "key '" + key + "' has shape " + shape_str(t.shape()) + ", expected ()");
    }
    for (const Buffer& b : buffers_)
        for (std::size_t i = 0; i < params_.size(); ++i) {
            const std::string key = std::to_string(i) + "." + b.name;
            const Tensor<double>& t = find(key);
            if (!shapes_match(t.shape(), params_[i]->shape()))
                throw ArgumentError(who + "key '" + key + "' has shape " + shape_str(t.shape()) + ", expected " +
                                    shape_str(params_[i]->shape()) + " (" + param_label(params_, i) + ")");
            detail::require_state_values<T>(who, key, t, b.non_negative);
        }
    if (state.size() != expected)
        for (const auto& [key, t] : state) {
            bool known = key == "lr" || key == "step";
            for (const Buffer& b : buffers_)
                for (std::size_t i = 0; i < params_.size() && !known; ++i)
                    known = key == std::to_string(i) + "." + b.name;
            if (!known) throw ArgumentError(who + "unexpected key '" + key + "'");
        }
    const double lr = state.at("lr").data()[0], step = state.at("step").data()[0];
    detail::require_lr<T>(who + "key 'lr'", "value", lr);
    // 2^53: every integer below it is exact in double.
    detail::require_arg(step >= 0 && step < 9007199254740992.0 && step == std::floor(step), who + "key 'step'",
                        "value", "a non-negative integer below 2^53", step);

    lr_ = lr;
    steps_ = static_cast<long>(step);
    for (Buffer& b : buffers_) {
        if (!b.allocated) allocate<T>(b, params_);
        for (std::size_t i = 0; i < params_.size(); ++i) {
            const Tensor<double>& src = state.at(std::to_string(i) + "." + b.name);
            Tensor<T>& dst = b.tensors[i];
            // Only differs if the parameter was reshaped since construction.
            if (!shapes_match(dst.shape(), src.shape())) dst = Tensor<T>::from_shape(src.shape());
            for (std::size_t j = 0; j < src.size(); ++j) dst.data()[j] = static_cast<T>(src.data()[j]);
        }
    }
}

template class Optimizer<float>;
template class Optimizer<double>;

}  // namespace tapegrad
