#include "layer_norm.hpp"

#include "../autodiff/ops.hpp"

namespace tapegrad {

template <class T>
Var<T> normalize_last_axis(Var<T> x, double eps) {
    Var<T> centered = x - mean(x, -1, true);
    Var<T> var = mean(centered * centered, -1, true);
    return centered / sqrt(var + static_cast<T>(eps));
}

template <class T>
LayerNorm<T>::LayerNorm(std::size_t features, double eps, bool elementwise_affine) : eps_(eps), affine_(elementwise_affine) {
    if (elementwise_affine) {
        weight = Parameter<T>(detail::new_tensor<T>("LayerNorm", Shape{features}), "weight");
        weight.mutable_value().fill(T(1));
        bias = Parameter<T>(detail::new_tensor<T>("LayerNorm", Shape{features}), "bias");
        bias.mutable_value().fill(T(0));
    }
}

template <class T>
Var<T> LayerNorm<T>::operator()(Var<T> x) {
    if (!x) throw StaleVarError("LayerNorm: empty input handle");
    if (affine_ && (x.dim() == 0 || x.shape()[x.dim() - 1] != weight.shape()[0]))
        throw ShapeError("LayerNorm: input of shape " + shape_str(x.shape()) + " does not end in " +
                         std::to_string(weight.shape()[0]) + " features");
    Var<T> y = normalize_last_axis(x, eps_);
    if (!affine_) return y;
    Tape<T>& t = *x.tape();
    return y * t.param(weight) + t.param(bias);
}

template <class T>
void LayerNorm<T>::visit(ModuleVisitor<T>& v) {
    if (!affine_) return;
    v.param("weight", weight);
    v.param("bias", bias);
}

template Var<float> normalize_last_axis(Var<float>, double);
template Var<double> normalize_last_axis(Var<double>, double);
template class LayerNorm<float>;
template class LayerNorm<double>;

}  // namespace tapegrad
