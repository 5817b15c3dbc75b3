// SGD, following PyTorch 1.13's single-tensor `_single_tensor_sgd` operation by
// operation, in T (float math for float parameters, as PyTorch computes).

#include "sgd.hpp"

#include <cmath>

#include "optim_support.hpp"
#include "param_groups_impl.hpp"

namespace tapegrad {

// GroupedOptimizer's hooks for SGDOptions (see param_groups_impl.hpp).
void check_options(const std::string& who, const SGDOptions& o) {
    // PyTorch's SGD has no default lr; a forgotten one should not train silently.
    if (std::isnan(o.lr)) throw ArgumentError(who + ": lr is required (it has no default), e.g. {.lr = 0.1}");
    detail::require_nonnegative(who, "momentum", o.momentum);
    detail::require_arg(std::isfinite(o.dampening), who, "dampening", "finite", o.dampening);
    detail::require_nonnegative(who, "weight_decay", o.weight_decay);
    if (o.nesterov && !(o.momentum > 0 && o.dampening == 0))
        throw ArgumentError(who + ": nesterov requires momentum > 0 and dampening == 0, got momentum " +
                            detail::num_str(o.momentum) + " and dampening " + detail::num_str(o.dampening));
}

const char* fixed_option_changed(const SGDOptions& before, const SGDOptions& after) {
    return (before.momentum != 0) != (after.momentum != 0) ? "momentum" : nullptr;
}

template <class F>
void for_each_option(SGDOptions& o, F&& f) {
    f("momentum", o.momentum);
    f("dampening", o.dampening);
    f("weight_decay", o.weight_decay);
    f("nesterov", o.nesterov);
}

template <class T>
SGD<T>::SGD(std::vector<Parameter<T>*> params, SGDOptions options)
    : SGD(std::vector<ParamGroup<T, SGDOptions>>{{std::move(params), options}}) {}

template <class T>
SGD<T>::SGD(std::vector<ParamGroup<T, SGDOptions>> groups) : GroupedOptimizer<T, SGDOptions>("SGD", std::move(groups)) {
    if (this->any_group([](const SGDOptions& o) { return o.momentum != 0; }))
        momentum_buffer_ = this->add_buffer("momentum_buffer", T(0));
}

namespace {

// Updates params[begin, end), one group; `buffers` is null without momentum.
template <class T>
void sgd_update(const std::vector<Parameter<T>*>& params, std::size_t begin, std::size_t end,
                std::vector<Tensor<T>>* buffers, const SGDOptions& o, bool first) {
    const T weight_decay = T(o.weight_decay), momentum = T(o.momentum), keep = T(1 - o.dampening), neg_lr = T(-o.lr);
    for (std::size_t i = begin; i < end; ++i) {
        Parameter<T>& param = *params[i];
        const T* g = param.grad().data();
        T* p = param.mutable_value().data();
        T* buf = buffers != nullptr ? (*buffers)[i].data() : nullptr;
        const std::size_t n = param.size();
        for (std::size_t j = 0; j < n; ++j) {
            T d = g[j];
            if (o.weight_decay != 0) d = d + weight_decay * p[j];
            if (buf != nullptr) {
                // The buffer starts as a copy of the first gradient, not as zeros
                // decayed towards it (no dampening on the first step).
                buf[j] = first ? d : buf[j] * momentum + keep * d;
                d = o.nesterov ? d + momentum * buf[j] : buf[j];
            }
            p[j] = p[j] + neg_lr * d;
        }
    }
}

}  // namespace

template <class T>
void SGD<T>::step() {
    const std::vector<Parameter<T>*>& params = this->prepare_step();
    const bool first = this->steps_ == 0;
    ++this->steps_;
    for (std::size_t g = 0; g < this->num_groups(); ++g) {
        const SGDOptions o = this->options(g);
        sgd_update(params, this->group_begin(g), this->group_end(g),
                   o.momentum != 0 ? &this->buffers_[momentum_buffer_].tensors : nullptr, o, first);
    }
}

template class GroupedOptimizer<float, SGDOptions>;
template class GroupedOptimizer<double, SGDOptions>;
template class SGD<float>;
template class SGD<double>;

}  // namespace tapegrad
