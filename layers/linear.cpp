#include "linear.hpp"

#include <cmath>

#include "../autodiff/ops.hpp"

namespace tapegrad {

template <class T>
Linear<T>::Linear(std::size_t in_features, std::size_t out_features, Generator& gen, bool with_bias)
    : weight(detail::new_tensor<T>("Linear", Shape{out_features, in_features}), "weight"), with_bias_(with_bias) {
    const double bound = in_features ? 1.0 / std::sqrt(double(in_features)) : 0.0;
    uniform_(weight.mutable_value(), -bound, bound, gen);
    if (with_bias) {
        bias = Parameter<T>(detail::new_tensor<T>("Linear", Shape{out_features}), "bias");
        uniform_(bias.mutable_value(), -bound, bound, gen);
    }
}

template <class T>
Var<T> Linear<T>::operator()(Var<T> x) {
    if (!x) throw StaleVarError("Linear: empty input handle");
    Tape<T>& t = *x.tape();
    return with_bias_ ? linear(x, t.param(weight), t.param(bias)) : linear(x, t.param(weight));
}

template <class T>
void Linear<T>::visit(ModuleVisitor<T>& v) {
    v.param("weight", weight);
    if (with_bias_) v.param("bias", bias);
}

template class Linear<float>;
template class Linear<double>;

}  // namespace tapegrad
