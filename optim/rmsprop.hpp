#pragma once
/// \file
/// `RMSprop<T>`, step for step as PyTorch 1.13's `torch.optim.RMSprop`.

#include "param_groups.hpp"

namespace tapegrad {

/// `tg::RMSprop opt(params, {.lr = 1e-3, .centered = true});`
struct RMSpropOptions {
    double lr = 1e-2;
    double alpha = 0.99;  ///< smoothing constant of the squared-gradient average
    double eps = 1e-8;
    double weight_decay = 0;  ///< L2 penalty added to the gradient
    double momentum = 0;
    bool centered = false;
};

/// With g the gradient (plus weight_decay·p):
///
///     sq = alpha·sq + (1 − alpha)·g²                       state "square_avg"
///     ga = alpha·ga + (1 − alpha)·g                        state "grad_avg", centered only
///     avg = sqrt(sq − ga²) + eps   (centered)  or  sqrt(sq) + eps
///     buf = momentum·buf + g/avg;  p = p − lr·buf          state "momentum_buffer", momentum > 0
///     p = p − lr·g/avg                                     without momentum
template <class T = float>
class RMSprop : public GroupedOptimizer<T, RMSpropOptions> {
public:
    /// One group.
    RMSprop(std::vector<Parameter<T>*> params, RMSpropOptions options = {});
    /// Several, each with its own options (see `ParamGroup`).
    explicit RMSprop(std::vector<ParamGroup<T, RMSpropOptions>> groups);
    void step() override;

private:
    std::size_t square_avg_ = 0, momentum_buffer_ = 0, grad_avg_ = 0;
};

extern template class GroupedOptimizer<float, RMSpropOptions>;
extern template class GroupedOptimizer<double, RMSpropOptions>;
extern template class RMSprop<float>;
extern template class RMSprop<double>;

}  // namespace tapegrad
