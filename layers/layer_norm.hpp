#pragma once
/// \file
/// `LayerNorm<T>`: normalization over the last axis, composed from primitives.

#include "../autodiff/tape.hpp"
#include "module.hpp"

namespace tapegrad {

/// x (..., features) normalized over its last axis, without gain or shift:
/// (x − mean) / √(var + eps), biased variance as in PyTorch. Composed from
/// primitives (mean, sub, mul, add, sqrt, div); what `LayerNorm` and the
/// layer-normalized LSTM cell (cells/layer_norm_lstm_cell.hpp) compute.
template <class T>
Var<T> normalize_last_axis(Var<T> x, double eps);

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

extern template Var<float> normalize_last_axis(Var<float>, double);
extern template Var<double> normalize_last_axis(Var<double>, double);
extern template class LayerNorm<float>;
extern template class LayerNorm<double>;

}  // namespace tapegrad
