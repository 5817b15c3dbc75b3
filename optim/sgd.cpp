// SGD, following PyTorch 1.13's single-tensor `_single_tensor_sgd` operation by
// operation, in T (float math for float parameters, as PyTorch computes).

#include "sgd.hpp"

#include <cmath>

#include "optim_support.hpp"

namespace tapegrad {

namespace {

// PyTorch's SGD has no default lr; a forgotten one should not train silently.
double required_lr(double lr) {
    if (std::isnan(lr)) throw ArgumentError("SGD: lr is required (it has no default), e.g. {.lr = 0.1}");
    return lr;
}

}  // namespace

template <class T>
SGD<T>::SGD(std::vector<Parameter<T>*> params, SGDOptions options)
    : Optimizer<T>("SGD", std::move(params), required_lr(options.lr)), options_(options) {
    detail::require_nonnegative("SGD", "momentum", options.momentum);
    detail::require_arg(std::isfinite(options.dampening), "SGD", "dampening", "finite", options.dampening);
    detail::require_nonnegative("SGD", "weight_decay", options.weight_decay);
    if (options.nesterov && !(options.momentum > 0 && options.dampening == 0))
        throw ArgumentError("SGD: nesterov requires momentum > 0 and dampening == 0, got momentum " +
                            detail::num_str(options.momentum) + " and dampening " + detail::num_str(options.dampening));
    if (options.momentum != 0) momentum_buffer_ = this->add_buffer("momentum_buffer", T(0));
}

template <class T>
void SGD<T>::step() {
    const std::vector<Parameter<T>*>& params = this->prepare_step();
    const SGDOptions& o = options_;
    const T weight_decay = T(o.weight_decay), momentum = T(o.momentum), keep = T(1 - o.dampening),
            neg_lr = T(-this->lr_);
    const bool first = this->steps_ == 0;
    ++this->steps_;
    for (std::size_t i = 0; i < params.size(); ++i) {
        Parameter<T>& param = *params[i];
        const T* g = param.grad().data();
        T* p = param.mutable_value().data();
        T* buf = o.momentum != 0 ? this->buffers_[momentum_buffer_].tensors[i].data() : nullptr;
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

template class SGD<float>;
template class SGD<double>;

}  // namespace tapegrad
