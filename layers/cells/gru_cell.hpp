#pragma once
/// \file
/// `GRUCell<T>`: the gated recurrent unit, PyTorch's equations, gate order
/// and names (Cho et al. 2014):
///   [r z n]_x = x·W_ihᵀ + b_ih, [r z n]_h = h·W_hhᵀ + b_hh   (3H columns)
///   r = σ(r_x + r_h), z = σ(z_x + z_h), n = tanh(n_x + r⊙n_h), h' = (1−z)⊙n + z⊙h
/// r multiplies after the hidden matmul, as in PyTorch and cuDNN, not as in
/// Cho et al. Written against the `Cell` interface like any user's cell;
/// `GRU<T>` (recurrent.hpp) runs it over sequences.

#include "../cell.hpp"

namespace tapegrad {

template <class T = float>
class GRUCell : public Cell<T> {
public:
    static constexpr CellSpec kSpec{.name = "GRU", .gates = 3, .states = 1};

    /// `ArgumentError` on bad options (see RecurrentOptions).
    GRUCell(const RecurrentOptions& o, Generator& gen);
    /// x (B, I), h (B, H) → h' (B, H).
    Var<T> operator()(Var<T> x, Var<T> h) { return single_step(*this, x, {h, {}}).h; }

    /// b_ih + (b_hr, b_hz, 0): r's and z's biases are only ever summed, so
    /// they join the input projection; b_hn multiplies with r and cannot.
    Var<T> input_bias(Tape<T>& t) override;

    struct Context {
        Var<T> w_hh;
        Var<T> b_hh;  ///< the recurrent GEMM's bias (0, 0, b_hn); empty without biases
    };
    Context begin(Tape<T>& t);
    RecurrentState<T> step(Var<T> gi, const RecurrentState<T>& s, const Context& k) const;
};

extern template class GRUCell<float>;
extern template class GRUCell<double>;

}  // namespace tapegrad
