#include "lstm_cell.hpp"

#include "../../autodiff/ops.hpp"

namespace tapegrad {

template <class T>
LSTMCell<T>::LSTMCell(const RecurrentOptions& o, Generator& gen) : Cell<T>(kSpec, o, gen) {
    if (o.nonlinearity != RNNNonlinearity::tanh) throw ArgumentError("LSTM: nonlinearity applies to RNN only");
}

template <class T>
RecurrentState<T> LSTMCell<T>::step(Var<T> gi, const RecurrentState<T>& s, const Context& k) const {
    const auto H = static_cast<std::int64_t>(s.h.shape()[1]);
    // gi already holds both biases: it is the starting value of the
    // recurrent GEMM, so h·W_hhᵀ lands on it without a separate add.
    const Var<T> gates = linear(s.h, k.w_hh, gi);
    const Var<T> ai = narrow(gates, 1, 0, H), af = narrow(gates, 1, H, H);
    const Var<T> ag = narrow(gates, 1, 2 * H, H), ao = narrow(gates, 1, 3 * H, H);
    const Var<T> i = sigmoid(ai), f = sigmoid(af), g = tanh(ag), o = sigmoid(ao);
    const Var<T> fc = f * s.c, ig = i * g;
    const Var<T> c = fc + ig;
    const Var<T> h = o * tanh(c);
    return {h, c};
}

template class LSTMCell<float>;
template class LSTMCell<double>;

}  // namespace tapegrad
