#pragma once
/// \file
/// `Adagrad<T>`, step for step as PyTorch 1.13's `torch.optim.Adagrad`.

#include "param_groups.hpp"

namespace tapegrad {

/// `tg::Adagrad opt(params, {.lr = 0.05, .lr_decay = 1e-4});`
struct AdagradOptions {
    double lr = 1e-2;
    double lr_decay = 0;
    double weight_decay = 0;  ///< L2 penalty added to the gradient
    double initial_accumulator_value = 0;
    double eps = 1e-10;
};

/// At step t, with g the gradient (plus weight_decay·p):
///
///     clr = lr / (1 + (t − 1)·lr_decay)
///     sum = sum + g²                  state "sum", starts at initial_accumulator_value
///     p = p − clr·g / (sqrt(sum) + eps)
///
/// With groups, "sum" starts at each group's initial_accumulator_value
/// (PyTorch 1.13 uses the constructor argument's for every group, ignoring a
/// group's own). As in PyTorch, changing it after construction has no effect.
template <class T = float>
class Adagrad : public GroupedOptimizer<T, AdagradOptions> {
public:
    /// One group.
    Adagrad(std::vector<Parameter<T>*> params, AdagradOptions options = {});
    /// Several, each with its own options (see `ParamGroup`).
    explicit Adagrad(std::vector<ParamGroup<T, AdagradOptions>> groups);
    void step() override;

private:
    std::size_t sum_ = 0;
};

extern template class GroupedOptimizer<float, AdagradOptions>;
extern template class GroupedOptimizer<double, AdagradOptions>;
extern template class Adagrad<float>;
extern template class Adagrad<double>;

}  // namespace tapegrad
