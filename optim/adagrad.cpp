// Adagrad, following PyTorch 1.13's `_single_tensor_adagrad` (dense gradients)
// operation by operation, in T (float math for float parameters, as PyTorch
// computes); clr is computed in double, as PyTorch computes it in Python.

#include "adagrad.hpp"

#include <cmath>

#include "optim_support.hpp"

namespace tapegrad {

template <class T>
Adagrad<T>::Adagrad(std::vector<Parameter<T>*> params, AdagradOptions options)
    : Optimizer<T>("Adagrad", std::move(params), options.lr), options_(options) {
    detail::require_nonnegative("Adagrad", "lr_decay", options.lr_decay);
    detail::require_nonnegative("Adagrad", "weight_decay", options.weight_decay);
    detail::require_nonnegative("Adagrad", "initial_accumulator_value", options.initial_accumulator_value);
    detail::require_nonnegative("Adagrad", "eps", options.eps);
    sum_ = this->add_buffer("sum", T(options.initial_accumulator_value), true);
}

template <class T>
void Adagrad<T>::step() {
    const std::vector<Parameter<T>*>& params = this->prepare_step();
    ++this->steps_;
    const AdagradOptions& o = options_;
    const double clr = this->lr_ / (1 + static_cast<double>(this->steps_ - 1) * o.lr_decay);
    const T neg_clr = T(-clr), eps = T(o.eps), weight_decay = T(o.weight_decay);
    for (std::size_t i = 0; i < params.size(); ++i) {
        Parameter<T>& param = *params[i];
        const T* g = param.grad().data();
        T* p = param.mutable_value().data();
        T* sum = this->buffers_[sum_].tensors[i].data();
        const std::size_t n = param.size();
        for (std::size_t j = 0; j < n; ++j) {
            T grad = g[j];
            if (o.weight_decay != 0) grad = grad + weight_decay * p[j];
            sum[j] = sum[j] + grad * grad;
            const T denom = std::sqrt(sum[j]) + eps;
            // addcdiv_(grad, std, value=-clr): self + (value·t1)/t2.
            p[j] = p[j] + neg_clr * grad / denom;
        }
    }
}

template class Adagrad<float>;
template class Adagrad<double>;

}  // namespace tapegrad
