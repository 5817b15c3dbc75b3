#include "gru_cell.hpp"

#include "../../autodiff/ops.hpp"

namespace tapegrad {

template <class T>
GRUCell<T>::GRUCell(const RecurrentOptions& o, Generator& gen) : Cell<T>(kSpec, o, gen) {
    if (o.nonlinearity != RNNNonlinearity::tanh) throw ArgumentError("GRU: nonlinearity applies to RNN only");
}

template <class T>
Var<T> GRUCell<T>::input_bias(Tape<T>& t) {
    if (!this->has_bias()) return {};
    const Var<T> b_hh = t.param(this->bias_hh());
    const std::size_t H = this->hidden_size();
    return t.param(this->bias_ih()) + concat({narrow(b_hh, 0, 0, 2 * static_cast<std::int64_t>(H)), t.full({H}, T(0))}, 0);
}

template <class T>
typename GRUCell<T>::Context GRUCell<T>::begin(Tape<T>& t) {
    Context k{t.param(this->weight_hh()), {}};
    if (this->has_bias()) {
        const std::size_t H = this->hidden_size();
        const auto h = static_cast<std::int64_t>(H);
        k.b_hh = concat({t.full({2 * H}, T(0)), narrow(t.param(this->bias_hh()), 0, 2 * h, h)}, 0);
    }
    return k;
}

template <class T>
RecurrentState<T> GRUCell<T>::step(Var<T> gi, const RecurrentState<T>& s, const Context& k) const {
    const auto H = static_cast<std::int64_t>(s.h.shape()[1]);
    // One GEMM for all three gates; r and z take their summed biases from
    // gi, n takes b_hn inside r⊙(·) from the GEMM's bias.
    const Var<T> gh = k.b_hh ? linear(s.h, k.w_hh, k.b_hh) : linear(s.h, k.w_hh);
    const Var<T> gi_rz = narrow(gi, 1, 0, 2 * H), gh_rz = narrow(gh, 1, 0, 2 * H);
    const Var<T> pre_rz = gi_rz + gh_rz;
    const Var<T> pre_r = narrow(pre_rz, 1, 0, H), pre_z = narrow(pre_rz, 1, H, H);
    const Var<T> r = sigmoid(pre_r), z = sigmoid(pre_z);
    const Var<T> gh_n = narrow(gh, 1, 2 * H, H);
    const Var<T> gi_n = narrow(gi, 1, 2 * H, H);
    const Var<T> rg = r * gh_n;
    const Var<T> pre_n = gi_n + rg;
    const Var<T> n = tanh(pre_n);
    const Var<T> d = s.h - n;
    const Var<T> zd = z * d;
    const Var<T> h = n + zd;  // (1 − z)⊙n + z⊙h
    return {h, {}};
}

template class GRUCell<float>;
template class GRUCell<double>;

}  // namespace tapegrad
