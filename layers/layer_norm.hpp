#pragma once
/// \file
/// `LayerNorm<T>`: normalization over the last axis, composed from primitives.

#include "../autodiff/tape.hpp"
#include "module.hpp"

namespace tapegrad {

template <class T = float>
class LayerNorm : public Module<T> {
public:
    Parameter<T> weight;  ///< (features), ones
    Parameter<T> bias;    ///< (features), zeros

    /// Normalizes over a last axis of size `features`, with biased variance as
    /// PyTorch does. `elementwise_affine = false` leaves out weight and bias.
    explicit LayerNorm(std::size_t features, double eps = 1e-5, bool elementwise_affine = true);

    /// x (..., features) → same shape: (x − mean) / √(var + eps) · weight + bias.
    Var<T> operator()(Var<T> x);
    void visit(ModuleVisitor<T>& v) override;

private:
    double eps_;
    bool affine_;
};

extern template class LayerNorm<float>;
extern template class LayerNorm<double>;

}  // namespace tapegrad
