#pragma once
/// \file
/// `CIFGLSTMCell<T>`: the LSTM with a coupled input and forget gate (CIFG;
/// Greff et al. 2017, "LSTM: A Search Space Odyssey", variant CIFG): one
/// gate decides both how much to write and how much to forget:
///   [a_i a_g a_o] = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh      (3H columns, that order)
///   i = σ(a_i), f = 1 − i, g = tanh(a_g), o = σ(a_o)
///   c' = f⊙c + i⊙g  (computed as c + i⊙(g − c)),  h' = o⊙tanh(c')
/// G = 3: the LSTM's blocks without the forget block, so W_ih is (3H, I) and
/// the GRU's gate count. It equals an LSTM whose forget block is the negated
/// input block (σ(−a) = 1 − σ(a)), to rounding. With no forget gate of its
/// own it refuses `forget_bias`; to start by remembering, give the input
/// gate a negative bias. `CIFGLSTM<T>` runs it over sequences.

#include "../recurrent.hpp"

namespace tapegrad {

template <class T = float>
class CIFGLSTMCell : public Cell<T> {
public:
    static constexpr CellSpec kSpec{.name = "CIFGLSTM", .gates = 3, .states = 2};

    /// `ArgumentError` on bad options (see RecurrentOptions).
    CIFGLSTMCell(const RecurrentOptions& o, Generator& gen);
    /// x (B, I), (h, c) each (B, H) → (h', c').
    RecurrentState<T> operator()(Var<T> x, const RecurrentState<T>& state) { return single_step(*this, x, state); }

    struct Context {
        Var<T> w_hh;
    };
    Context begin(Tape<T>& t) { return {t.param(this->weight_hh())}; }
    RecurrentState<T> step(Var<T> gi, const RecurrentState<T>& s, const Context& k) const;
};

/// A CIFG LSTM over sequences (see `Recurrent`).
template <class T = float>
using CIFGLSTM = Recurrent<CIFGLSTMCell<T>>;

extern template class CIFGLSTMCell<float>;
extern template class CIFGLSTMCell<double>;
extern template class Recurrent<CIFGLSTMCell<float>>;
extern template class Recurrent<CIFGLSTMCell<double>>;

}  // namespace tapegrad
