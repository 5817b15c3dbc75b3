#include "cifg_lstm_cell.hpp"

#include "../../autodiff/ops.hpp"

namespace tapegrad {

template <class T>
CIFGLSTMCell<T>::CIFGLSTMCell(const RecurrentOptions& o, Generator& gen) : Cell<T>(kSpec, o, gen) {
    if (o.nonlinearity != RNNNonlinearity::tanh) throw ArgumentError("CIFGLSTM: nonlinearity applies to RNN only");
}

template <class T>
RecurrentState<T> CIFGLSTMCell<T>::step(Var<T> gi, const RecurrentState<T>& s, const Context& k) const {
    const auto H = static_cast<std::int64_t>(s.h.shape()[1]);
    // gi holds both biases and starts the recurrent GEMM, as in LSTMCell.
    const Var<T> z = linear(s.h, k.w_hh, gi);
    const Var<T> i = sigmoid(narrow(z, 1, 0, H));
    const Var<T> g = tanh(narrow(z, 1, H, H));
    const Var<T> o = sigmoid(narrow(z, 1, 2 * H, H));
    // (1 − i)⊙c + i⊙g as c + i⊙(g − c): three ops instead of five, and the
    // step keeps g − c for backward instead of 1 − i.
    const Var<T> c = s.c + i * (g - s.c);
    return {o * tanh(c), c};
}

template class CIFGLSTMCell<float>;
template class CIFGLSTMCell<double>;
template class Recurrent<CIFGLSTMCell<float>>;
template class Recurrent<CIFGLSTMCell<double>>;

}  // namespace tapegrad
