#pragma once
/// \file
/// `LSTMCell<T>`: the long short-term memory cell, PyTorch's equations, gate
/// order and names (Hochreiter & Schmidhuber 1997, with a forget gate):
///   [i f g o] = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh          (4H columns, that order)
///   i, f, o = σ(·), g = tanh(·), c' = f⊙c + i⊙g, h' = o⊙tanh(c')
/// Written against the `Cell` interface like any user's cell; `LSTM<T>`
/// (recurrent.hpp) runs it over sequences.

#include "../cell.hpp"

namespace tapegrad {

template <class T = float>
class LSTMCell : public Cell<T> {
public:
    static constexpr CellSpec kSpec{.name = "LSTM", .gates = 4, .states = 2, .forget_gate = 1};

    /// `ArgumentError` on bad options (see RecurrentOptions).
    LSTMCell(const RecurrentOptions& o, Generator& gen);
    /// x (B, I), (h, c) each (B, H) → (h', c').
    RecurrentState<T> operator()(Var<T> x, const RecurrentState<T>& state) { return single_step(*this, x, state); }

    struct Context {
        Var<T> w_hh;
    };
    Context begin(Tape<T>& t) { return {t.param(this->weight_hh())}; }
    RecurrentState<T> step(Var<T> gi, const RecurrentState<T>& s, const Context& k) const;
};

extern template class LSTMCell<float>;
extern template class LSTMCell<double>;

}  // namespace tapegrad
