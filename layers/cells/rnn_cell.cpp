#include "rnn_cell.hpp"

#include "../../autodiff/ops.hpp"

namespace tapegrad {

template <class T>
RNNCell<T>::RNNCell(const RecurrentOptions& o, Generator& gen) : Cell<T>(kSpec, o, gen), nonlinearity_(o.nonlinearity) {}

template <class T>
RecurrentState<T> RNNCell<T>::step(Var<T> gi, const RecurrentState<T>& s, const Context& k) const {
    // gi already holds both biases: the recurrent GEMM starts from it.
    const Var<T> pre = linear(s.h, k.w_hh, gi);
    return {nonlinearity_ == RNNNonlinearity::relu ? relu(pre) : tanh(pre), {}};
}

template class RNNCell<float>;
template class RNNCell<double>;

}  // namespace tapegrad
