#pragma once
/// \file
/// `SGD<T>`: stochastic gradient descent with momentum, dampening, Nesterov
/// momentum and L2 weight decay, step for step as PyTorch 1.13's `torch.optim.SGD`.

#include <limits>

#include "param_groups.hpp"

namespace tapegrad {

/// `tg::SGD opt(params, {.lr = 0.1, .momentum = 0.9});`
struct SGDOptions {
    /// Required, as in PyTorch: left unset (NaN), the constructor throws.
    double lr = std::numeric_limits<double>::quiet_NaN();
    double momentum = 0;
    double dampening = 0;
    double weight_decay = 0;
    /// Needs momentum > 0 and dampening == 0.
    bool nesterov = false;
};

/// With g the gradient (plus weight_decay·p), and buf the momentum buffer
/// (state "momentum_buffer", only when momentum != 0):
///
///     buf = g                                  on the first step,
///     buf = momentum·buf + (1 − dampening)·g   afterwards;
///     d = nesterov ? g + momentum·buf : buf;   (d = g without momentum)
///     p = p − lr·d.
///
/// Each parameter group has its own `SGDOptions` (see `ParamGroup`); the
/// buffer exists if some group has momentum.
template <class T = float>
class SGD : public GroupedOptimizer<T, SGDOptions> {
public:
    /// One group.
    SGD(std::vector<Parameter<T>*> params, SGDOptions options);
    /// Several: `tg::SGD<float> opt({{body, {.lr = 0.1}}, {head, {.lr = 0.5, .momentum = 0.9}}});`
    explicit SGD(std::vector<ParamGroup<T, SGDOptions>> groups);
    void step() override;

private:
    std::size_t momentum_buffer_ = 0;
};

extern template class GroupedOptimizer<float, SGDOptions>;
extern template class GroupedOptimizer<double, SGDOptions>;
extern template class SGD<float>;
extern template class SGD<double>;

}  // namespace tapegrad
