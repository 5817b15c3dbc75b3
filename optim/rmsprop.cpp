// RMSprop, following PyTorch 1.13's `_single_tensor_rmsprop` operation by
// operation, in T (float math for float parameters, as PyTorch computes).

#include "rmsprop.hpp"

#include <cmath>

#include "optim_support.hpp"

namespace tapegrad {

template <class T>
RMSprop<T>::RMSprop(std::vector<Parameter<T>*> params, RMSpropOptions options)
    : Optimizer<T>("RMSprop", std::move(params), options.lr), options_(options) {
    detail::require_nonnegative("RMSprop", "alpha", options.alpha);
    detail::require_nonnegative("RMSprop", "eps", options.eps);
    detail::require_nonnegative("RMSprop", "weight_decay", options.weight_decay);
    detail::require_nonnegative("RMSprop", "momentum", options.momentum);
    square_avg_ = this->add_buffer("square_avg", T(0), true);
    if (options.momentum > 0) momentum_buffer_ = this->add_buffer("momentum_buffer", T(0));
    if (options.centered) grad_avg_ = this->add_buffer("grad_avg", T(0));
}

template <class T>
void RMSprop<T>::step() {
    const std::vector<Parameter<T>*>& params = this->prepare_step();
    ++this->steps_;
    const RMSpropOptions& o = options_;
    const T alpha = T(o.alpha), one_minus_alpha = T(1 - o.alpha), eps = T(o.eps);
    const T weight_decay = T(o.weight_decay), momentum = T(o.momentum), neg_lr = T(-this->lr_);
    for (std::size_t i = 0; i < params.size(); ++i) {
        Parameter<T>& param = *params[i];
        const T* g = param.grad().data();
        T* p = param.mutable_value().data();
        T* sq = this->buffers_[square_avg_].tensors[i].data();
        T* buf = o.momentum > 0 ? this->buffers_[momentum_buffer_].tensors[i].data() : nullptr;
        T* ga = o.centered ? this->buffers_[grad_avg_].tensors[i].data() : nullptr;
        const std::size_t n = param.size();
        for (std::size_t j = 0; j < n; ++j) {
            T grad = g[j];
            if (o.weight_decay != 0) grad = grad + weight_decay * p[j];
            // addcmul_(grad, grad, value): self + (value·t1)·t2.
            sq[j] = sq[j] * alpha + one_minus_alpha * grad * grad;
            T avg;
            if (ga != nullptr) {
                ga[j] = ga[j] * alpha + one_minus_alpha * grad;
                // square_avg.addcmul(grad_avg, grad_avg, value=-1): the variance
                // estimate; rounding can make it slightly negative (sqrt → NaN),
                // exactly as in PyTorch.
                avg = std::sqrt(sq[j] + T(-1) * ga[j] * ga[j]);
            } else {
                avg = std::sqrt(sq[j]);
            }
            avg = avg + eps;
            if (buf != nullptr) {
                buf[j] = buf[j] * momentum + grad / avg;
                p[j] = p[j] + neg_lr * buf[j];
            } else {
                // addcdiv_(grad, avg, value=-lr): self + (value·t1)/t2.
                p[j] = p[j] + neg_lr * grad / avg;
            }
        }
    }
}

template class RMSprop<float>;
template class RMSprop<double>;

}  // namespace tapegrad
