#pragma once
/// \file
/// `Adam<T>` and `AdamW<T>` (optionally AMSGrad), step for step as PyTorch
/// 1.13's `torch.optim.Adam` and `torch.optim.AdamW`.

#include "param_groups.hpp"

namespace tapegrad {

/// `tg::Adam opt(params, {.lr = 3e-4, .amsgrad = true});`
struct AdamOptions {
    double lr = 1e-3;
    double beta1 = 0.9, beta2 = 0.999;  ///< each in [0, 1)
    double eps = 1e-8;
    /// L2 penalty: weight_decay·p is added to the gradient.
    double weight_decay = 0;
    bool amsgrad = false;
};

/// At step t, with g the gradient (plus weight_decay·p):
///
///     m = beta1·m + (1 − beta1)·g                 state "exp_avg"
///     v = beta2·v + (1 − beta2)·g²                state "exp_avg_sq"
///     v_max = max(v_max, v)                       state "max_exp_avg_sq", amsgrad only
///     p = p − lr/(1 − beta1^t) · m / (sqrt(v or v_max)/sqrt(1 − beta2^t) + eps)
///
/// Each parameter group has its own `AdamOptions` (see `ParamGroup`).
template <class T = float>
class Adam : public GroupedOptimizer<T, AdamOptions> {
public:
    /// One group.
    Adam(std::vector<Parameter<T>*> params, AdamOptions options = {});
    /// Several: `tg::Adam<float> opt({{encoder, {.lr = 1e-3}}, {head, {.lr = 1e-2}}});`
    explicit Adam(std::vector<ParamGroup<T, AdamOptions>> groups);
    void step() override;

private:
    std::size_t exp_avg_ = 0, exp_avg_sq_ = 0, max_exp_avg_sq_ = 0;
};

/// As `AdamOptions`, but weight decay is decoupled and on by default.
struct AdamWOptions {
    double lr = 1e-3;
    double beta1 = 0.9, beta2 = 0.999;  ///< each in [0, 1)
    double eps = 1e-8;
    /// Decoupled: p = p·(1 − lr·weight_decay) before the Adam update.
    double weight_decay = 1e-2;
    bool amsgrad = false;
};

/// Adam with decoupled weight decay (Loshchilov & Hutter): first
/// p = p·(1 − lr·weight_decay), then the Adam update above with the raw
/// gradient. Same state keys as `Adam`.
template <class T = float>
class AdamW : public GroupedOptimizer<T, AdamWOptions> {
public:
    AdamW(std::vector<Parameter<T>*> params, AdamWOptions options = {});
    explicit AdamW(std::vector<ParamGroup<T, AdamWOptions>> groups);
    void step() override;

private:
    std::size_t exp_avg_ = 0, exp_avg_sq_ = 0, max_exp_avg_sq_ = 0;
};

extern template class GroupedOptimizer<float, AdamOptions>;
extern template class GroupedOptimizer<double, AdamOptions>;
extern template class GroupedOptimizer<float, AdamWOptions>;
extern template class GroupedOptimizer<double, AdamWOptions>;
extern template class Adam<float>;
extern template class Adam<double>;
extern template class AdamW<float>;
extern template class AdamW<double>;

}  // namespace tapegrad
