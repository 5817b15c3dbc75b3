#pragma once
/// \file
/// Gradient clipping, as PyTorch's `torch.nn.utils.clip_grad_norm_` and
/// `clip_grad_value_`: call between `backward` and the optimizer's `step()`.

#include <vector>

#include "../autodiff/parameter.hpp"

namespace tapegrad {

/// The norm of all gradients together, as if concatenated into one vector, is
/// computed in double (norm_type > 0, or `INFINITY` for the largest absolute
/// value) and returned. If it is finite, every gradient is multiplied by
/// max_norm/(total + 1e-6) when that is below 1 (PyTorch's rule: the result
/// is then just under max_norm).
///
/// If the total norm is not finite (an inf or NaN gradient), the gradients are
/// left unchanged and the inf/NaN is returned: check `std::isfinite` on the
/// result to skip such a step. An empty list returns 0.
///
/// Throws `ArgumentError` for a null parameter, a max_norm that is negative or
/// NaN (+inf is allowed: measure only), or a norm_type that is not > 0;
/// `ShapeError` if a gradient no longer has its parameter's shape (value
/// reshaped through `mutable_value()`); `LifetimeError` for a moved-from
/// parameter. Nothing is changed when it throws.
template <class T>
double clip_grad_norm(const std::vector<Parameter<T>*>& params, double max_norm, double norm_type = 2.0);

/// Clamps every gradient element to [−clip, clip] (NaN stays NaN). Throws
/// `ArgumentError` for a null parameter or a clip that is negative or NaN,
/// and `ShapeError`/`LifetimeError` as `clip_grad_norm`, changing nothing.
template <class T>
void clip_grad_value(const std::vector<Parameter<T>*>& params, double clip);

extern template double clip_grad_norm(const std::vector<Parameter<float>*>&, double, double);
extern template double clip_grad_norm(const std::vector<Parameter<double>*>&, double, double);
extern template void clip_grad_value(const std::vector<Parameter<float>*>&, double);
extern template void clip_grad_value(const std::vector<Parameter<double>*>&, double);

}  // namespace tapegrad
