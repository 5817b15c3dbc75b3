#include "peephole_lstm_cell.hpp"

#include <cmath>

#include "../../autodiff/ops.hpp"

namespace tapegrad {

namespace {

// One peephole vector (H), drawn as the class comment says.
template <class T>
Parameter<T> peephole_weight(const RecurrentOptions& o, Generator& gen) {
    Tensor<T> p = detail::new_tensor<T>(PeepholeLSTMCell<T>::kSpec.name, Shape{o.hidden_size});
    if (o.init == RecurrentInit::pytorch) {
        const double k = 1.0 / std::sqrt(double(o.hidden_size));
        uniform_(p, -k, k, gen);
    } else {
        p.fill(T(0));
    }
    return Parameter<T>(std::move(p));
}

}  // namespace

template <class T>
PeepholeLSTMCell<T>::PeepholeLSTMCell(const RecurrentOptions& o, Generator& gen)
    : Cell<T>(kSpec, o, gen), p_i(peephole_weight<T>(o, gen)), p_f(peephole_weight<T>(o, gen)), p_o(peephole_weight<T>(o, gen)) {
    if (o.nonlinearity != RNNNonlinearity::tanh) throw ArgumentError("PeepholeLSTM: nonlinearity applies to RNN only");
}

template <class T>
void PeepholeLSTMCell<T>::visit_extra(ModuleVisitor<T>& v) {
    v.param("p_i", p_i);
    v.param("p_f", p_f);
    v.param("p_o", p_o);
}

template <class T>
RecurrentState<T> PeepholeLSTMCell<T>::step(Var<T> gi, const RecurrentState<T>& s, const Context& k) const {
    const auto H = static_cast<std::int64_t>(s.h.shape()[1]);
    // gi holds both biases and starts the recurrent GEMM, as in LSTMCell.
    const Var<T> z = linear(s.h, k.w_hh, gi);
    const Var<T> i = sigmoid(narrow(z, 1, 0, H) + k.p_i * s.c);
    const Var<T> f = sigmoid(narrow(z, 1, H, H) + k.p_f * s.c);
    const Var<T> g = tanh(narrow(z, 1, 2 * H, H));
    const Var<T> c = f * s.c + i * g;
    // The output gate looks at the new cell state (Gers & Schmidhuber's figure 1).
    const Var<T> o = sigmoid(narrow(z, 1, 3 * H, H) + k.p_o * c);
    return {o * tanh(c), c};
}

template class PeepholeLSTMCell<float>;
template class PeepholeLSTMCell<double>;
template class Recurrent<PeepholeLSTMCell<float>>;
template class Recurrent<PeepholeLSTMCell<double>>;

}  // namespace tapegrad
