#include "layer_norm_lstm_cell.hpp"

#include "../../autodiff/ops.hpp"
#include "../layer_norm.hpp"

namespace tapegrad {

namespace {

// A vector of `size` elements equal to `value`, as a parameter.
template <class T>
Parameter<T> filled(std::size_t size, T value) {
    Tensor<T> v = detail::new_tensor<T>(LayerNormLSTMCell<T>::kSpec.name, Shape{size});
    v.fill(value);
    return Parameter<T>(std::move(v));
}

// z (B, G·H) with each gate's block of H normalized on its own.
template <class T>
Var<T> normalize_gates(Var<T> z, std::size_t gates) {
    const auto B = static_cast<std::int64_t>(z.shape()[0]);
    const auto G = static_cast<std::int64_t>(gates), H = static_cast<std::int64_t>(z.shape()[1]) / G;
    const Var<T> blocks = normalize_last_axis(reshape(z, {B, G, H}), LayerNormLSTMCell<T>::kEps);
    return reshape(blocks, {B, G * H});
}

}  // namespace

template <class T>
LayerNormLSTMCell<T>::LayerNormLSTMCell(const RecurrentOptions& o, Generator& gen)
    : Cell<T>(kSpec, o, gen),
      ln_weight_ih(filled<T>(kSpec.gates * o.hidden_size, T(1))),
      ln_weight_hh(filled<T>(kSpec.gates * o.hidden_size, T(1))),
      ln_weight_c(filled<T>(o.hidden_size, T(1))),
      ln_bias_c(filled<T>(o.hidden_size, T(0))) {
    if (o.nonlinearity != RNNNonlinearity::tanh) throw ArgumentError("LayerNormLSTM: nonlinearity applies to RNN only");
}

template <class T>
void LayerNormLSTMCell<T>::visit_extra(ModuleVisitor<T>& v) {
    v.param("ln_weight_ih", ln_weight_ih);
    v.param("ln_weight_hh", ln_weight_hh);
    v.param("ln_weight_c", ln_weight_c);
    if (this->has_bias()) v.param("ln_bias_c", ln_bias_c);
}

template <class T>
typename LayerNormLSTMCell<T>::Context LayerNormLSTMCell<T>::begin(Tape<T>& t) {
    Context k{t.param(this->weight_hh()), t.param(ln_weight_ih), t.param(ln_weight_hh), t.param(ln_weight_c), {}, {}};
    if (this->has_bias()) {
        // b_ih and b_hh only ever appear summed: add them once per sequence.
        const Var<T> b_hh = t.param(this->bias_hh());
        k.bias = t.param(this->bias_ih()) + b_hh;
        k.ln_bias_c = t.param(ln_bias_c);
    }
    return k;
}

template <class T>
RecurrentState<T> LayerNormLSTMCell<T>::step(Var<T> gi, const RecurrentState<T>& s, const Context& k) const {
    const auto H = static_cast<std::int64_t>(s.h.shape()[1]);
    // gi = x·W_ihᵀ without bias (input_bias is empty): normalize it and the
    // recurrent projection separately, then shift.
    const Var<T> gh = linear(s.h, k.w_hh);
    Var<T> a = normalize_gates(gi, kSpec.gates) * k.ln_weight_ih + normalize_gates(gh, kSpec.gates) * k.ln_weight_hh;
    if (k.bias) a = a + k.bias;
    const Var<T> i = sigmoid(narrow(a, 1, 0, H)), f = sigmoid(narrow(a, 1, H, H));
    const Var<T> g = tanh(narrow(a, 1, 2 * H, H)), o = sigmoid(narrow(a, 1, 3 * H, H));
    const Var<T> c = f * s.c + i * g;
    Var<T> c_out = normalize_last_axis(c, kEps) * k.ln_weight_c;
    if (k.ln_bias_c) c_out = c_out + k.ln_bias_c;
    return {o * tanh(c_out), c};
}

template class LayerNormLSTMCell<float>;
template class LayerNormLSTMCell<double>;
template class Recurrent<LayerNormLSTMCell<float>>;
template class Recurrent<LayerNormLSTMCell<double>>;

}  // namespace tapegrad
