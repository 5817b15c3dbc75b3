// Adam and AdamW, following PyTorch 1.13's `_single_tensor_adam` and
// `_single_tensor_adamw` operation by operation. Element arithmetic is in T
// (float for float parameters, as PyTorch computes); the per-step scalars
// (bias corrections, step size) are computed in double and then rounded to T,
// as PyTorch computes them in Python and passes them to its kernels.

#include "adam.hpp"

#include <cmath>
#include <concepts>

#include "optim_support.hpp"
#include "param_groups_impl.hpp"

namespace tapegrad {

// GroupedOptimizer's hooks for AdamOptions and AdamWOptions (see param_groups_impl.hpp).
template <class O>
concept AdamLikeOptions = std::same_as<O, AdamOptions> || std::same_as<O, AdamWOptions>;

template <AdamLikeOptions O>
void check_options(const std::string& who, const O& o) {
    // lr is checked by GroupedOptimizer.
    detail::require_arg(o.beta1 >= 0 && o.beta1 < 1, who, "beta1", "in [0, 1)", o.beta1);
    detail::require_arg(o.beta2 >= 0 && o.beta2 < 1, who, "beta2", "in [0, 1)", o.beta2);
    detail::require_nonnegative(who, "eps", o.eps);
    detail::require_nonnegative(who, "weight_decay", o.weight_decay);
}

template <AdamLikeOptions O>
const char* fixed_option_changed(const O& before, const O& after) {
    return before.amsgrad != after.amsgrad ? "amsgrad" : nullptr;
}

template <AdamLikeOptions O, class F>
void for_each_option(O& o, F&& f) {
    f("beta1", o.beta1);
    f("beta2", o.beta2);
    f("eps", o.eps);
    f("weight_decay", o.weight_decay);
    f("amsgrad", o.amsgrad);
}

namespace {

struct AdamConfig {
    double lr, beta1, beta2, eps, weight_decay;
    bool decoupled;  // AdamW: shrink the parameter instead of adding to the gradient
    bool amsgrad;
};

// PyTorch's torch.maximum propagates NaN from either side; std::max would not.
template <class T>
T nan_max(T a, T b) {
    return (a != a || a > b) ? a : b;
}

// The per-step scalars of one group, already rounded to T.
template <class T>
struct AdamScalars {
    T neg_step_size, bias_correction2_sqrt, beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, shrink;
};

// One parameter's elements. The variant's choices are template arguments and
// the buffers are declared not to overlap, so the compiler vectorizes the
// loop: each element gets exactly the scalar loop's operations in its order
// (no contraction: -ffp-contract=off; sqrt and division are correctly
// rounded in every lane), so the result is bit for bit the same, faster.
template <class T, bool Decoupled, bool L2, bool AmsGrad>
void adam_elements(const AdamScalars<T>& k, std::size_t n, const T* __restrict g, T* __restrict p, T* __restrict m,
                   T* __restrict v, T* __restrict v_max) {
    for (std::size_t j = 0; j < n; ++j) {
        // AdamW multiplies even when weight_decay is 0 (by exactly 1), as PyTorch does.
        T param = p[j];
        if constexpr (Decoupled) param = param * k.shrink;
        T grad = g[j];
        if constexpr (L2) grad = grad + k.weight_decay * param;
        const T avg = m[j] * k.beta1 + k.one_minus_beta1 * grad;
        // addcmul_(grad, grad, value): self + (value·t1)·t2.
        const T avg_sq = v[j] * k.beta2 + k.one_minus_beta2 * grad * grad;
        m[j] = avg;
        v[j] = avg_sq;
        T second = avg_sq;
        if constexpr (AmsGrad) second = v_max[j] = nan_max(v_max[j], avg_sq);
        const T denom = std::sqrt(second) / k.bias_correction2_sqrt + k.eps;
        // addcdiv_(m, denom, value): self + (value·t1)/t2.
        p[j] = param + k.neg_step_size * avg / denom;
    }
}

template <class T, bool Decoupled, bool L2>
void adam_elements(const AdamScalars<T>& k, bool amsgrad, std::size_t n, const T* g, T* p, T* m, T* v, T* v_max) {
    if (amsgrad)
        adam_elements<T, Decoupled, L2, true>(k, n, g, p, m, v, v_max);
    else
        adam_elements<T, Decoupled, L2, false>(k, n, g, p, m, v, nullptr);
}

// Updates params[begin, end), one group, with its buffers.
template <class T>
void adam_update(const std::vector<Parameter<T>*>& params, std::size_t begin, std::size_t end,
                 std::vector<Tensor<T>>& exp_avg, std::vector<Tensor<T>>& exp_avg_sq,
                 std::vector<Tensor<T>>* max_exp_avg_sq, const AdamConfig& c, long step) {
    const double t = static_cast<double>(step);
    const double bias_correction1 = 1 - std::pow(c.beta1, t);
    const double bias_correction2 = 1 - std::pow(c.beta2, t);
    const AdamScalars<T> k{T(-(c.lr / bias_correction1)), T(std::sqrt(bias_correction2)), T(c.beta1), T(1 - c.beta1),
                           T(c.beta2),  T(1 - c.beta2), T(c.eps), T(c.weight_decay), T(1 - c.lr * c.weight_decay)};
    const bool l2 = !c.decoupled && c.weight_decay != 0, amsgrad = max_exp_avg_sq != nullptr;
    for (std::size_t i = begin; i < end; ++i) {
        Parameter<T>& param = *params[i];
        const T* g = param.grad().data();
        T* p = param.mutable_value().data();
        T* m = exp_avg[i].data();
        T* v = exp_avg_sq[i].data();
        T* v_max = amsgrad ? (*max_exp_avg_sq)[i].data() : nullptr;
        const std::size_t n = param.size();
        if (c.decoupled)
            adam_elements<T, true, false>(k, amsgrad, n, g, p, m, v, v_max);
        else if (l2)
            adam_elements<T, false, true>(k, amsgrad, n, g, p, m, v, v_max);
        else
            adam_elements<T, false, false>(k, amsgrad, n, g, p, m, v, v_max);
    }
}

}  // namespace

template <class T>
Adam<T>::Adam(std::vector<Parameter<T>*> params, AdamOptions options)
    : Adam(std::vector<ParamGroup<T, AdamOptions>>{{std::move(params), options}}) {}

template <class T>
Adam<T>::Adam(std::vector<ParamGroup<T, AdamOptions>> groups)
    : GroupedOptimizer<T, AdamOptions>("Adam", std::move(groups)) {
    exp_avg_ = this->add_buffer("exp_avg", T(0));
    exp_avg_sq_ = this->add_buffer("exp_avg_sq", T(0), true);
    if (this->any_group([](const AdamOptions& o) { return o.amsgrad; }))
        max_exp_avg_sq_ = this->add_buffer("max_exp_avg_sq", T(0), true);
}

template <class T>
void Adam<T>::step() {
    const std::vector<Parameter<T>*>& params = this->prepare_step();
    ++this->steps_;
    for (std::size_t g = 0; g < this->num_groups(); ++g) {
        const AdamOptions o = this->options(g);
        const AdamConfig c{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, false, o.amsgrad};
        adam_update(params, this->group_begin(g), this->group_end(g), this->buffers_[exp_avg_].tensors,
                    this->buffers_[exp_avg_sq_].tensors,
                    o.amsgrad ? &this->buffers_[max_exp_avg_sq_].tensors : nullptr, c, this->steps_);
    }
}

template <class T>
AdamW<T>::AdamW(std::vector<Parameter<T>*> params, AdamWOptions options)
    : AdamW(std::vector<ParamGroup<T, AdamWOptions>>{{std::move(params), options}}) {}

template <class T>
AdamW<T>::AdamW(std::vector<ParamGroup<T, AdamWOptions>> groups)
    : GroupedOptimizer<T, AdamWOptions>("AdamW", std::move(groups)) {
    exp_avg_ = this->add_buffer("exp_avg", T(0));
    exp_avg_sq_ = this->add_buffer("exp_avg_sq", T(0), true);
    if (this->any_group([](const AdamWOptions& o) { return o.amsgrad; }))
        max_exp_avg_sq_ = this->add_buffer("max_exp_avg_sq", T(0), true);
}

template <class T>
void AdamW<T>::step() {
    const std::vector<Parameter<T>*>& params = this->prepare_step();
    ++this->steps_;
    for (std::size_t g = 0; g < this->num_groups(); ++g) {
        const AdamWOptions o = this->options(g);
        const AdamConfig c{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, true, o.amsgrad};
        adam_update(params, this->group_begin(g), this->group_end(g), this->buffers_[exp_avg_].tensors,
                    this->buffers_[exp_avg_sq_].tensors,
                    o.amsgrad ? &this->buffers_[max_exp_avg_sq_].tensors : nullptr, c, this->steps_);
    }
}

template class GroupedOptimizer<float, AdamOptions>;
template class GroupedOptimizer<double, AdamOptions>;
template class GroupedOptimizer<float, AdamWOptions>;
template class GroupedOptimizer<double, AdamWOptions>;
template class Adam<float>;
template class Adam<double>;
template class AdamW<float>;
template class AdamW<double>;

}  // namespace tapegrad
