#pragma once
/// \file
/// `PeepholeLSTMCell<T>`: the LSTM with peephole connections of Gers &
/// Schmidhuber 2000 ("Recurrent nets that time and count"): the gates also
/// see the cell state, through diagonal weights p_i, p_f, p_o (each H) —
/// the input and forget gates the old cell state, the output gate the new one:
///   [a_i a_f a_g a_o] = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh    (LSTM's 4H blocks and order)
///   i = σ(a_i + p_i⊙c), f = σ(a_f + p_f⊙c), g = tanh(a_g)
///   c' = f⊙c + i⊙g, o = σ(a_o + p_o⊙c'), h' = o⊙tanh(c')
/// With p_i = p_f = p_o = 0 it is `LSTMCell` exactly, and W_ih, W_hh, b_ih,
/// b_hh are the LSTM's (a checkpoint of one loads into the other with
/// `strict = false`). The library's form of the user cell in docs/layers.md.
/// `PeepholeLSTM<T>` runs it over sequences.

#include "../recurrent.hpp"

namespace tapegrad {

template <class T = float>
class PeepholeLSTMCell : public Cell<T> {
public:
    static constexpr CellSpec kSpec{.name = "PeepholeLSTM", .gates = 4, .states = 2, .forget_gate = 1};

    /// The peephole weights, (H) each, visited as "p_i", "p_f", "p_o" after
    /// the four weights. Drawn after them from the same generator: U(±1/√H)
    /// with `RecurrentInit::pytorch` (like every other weight), zero with
    /// `glorot` (a diagonal weight has no fan to scale by; zero starts the
    /// cell as the plain LSTM).
    Parameter<T> p_i, p_f, p_o;

    /// `ArgumentError` on bad options (see RecurrentOptions).
    PeepholeLSTMCell(const RecurrentOptions& o, Generator& gen);
    /// x (B, I), (h, c) each (B, H) → (h', c').
    RecurrentState<T> operator()(Var<T> x, const RecurrentState<T>& state) { return single_step(*this, x, state); }
    void visit_extra(ModuleVisitor<T>& v) override;

    struct Context {
        Var<T> w_hh, p_i, p_f, p_o;
    };
    Context begin(Tape<T>& t) { return {t.param(this->weight_hh()), t.param(p_i), t.param(p_f), t.param(p_o)}; }
    RecurrentState<T> step(Var<T> gi, const RecurrentState<T>& s, const Context& k) const;
};

/// A peephole LSTM over sequences (see `Recurrent`).
template <class T = float>
using PeepholeLSTM = Recurrent<PeepholeLSTMCell<T>>;

extern template class PeepholeLSTMCell<float>;
extern template class PeepholeLSTMCell<double>;
extern template class Recurrent<PeepholeLSTMCell<float>>;
extern template class Recurrent<PeepholeLSTMCell<double>>;

}  // namespace tapegrad
