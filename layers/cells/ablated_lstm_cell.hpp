#pragma once
/// \file
/// `AblatedLSTMCell<T>`: the LSTM with one part taken out, the ablations of
/// Greff et al. 2017 ("LSTM: A Search Space Odyssey"), chosen by
/// `RecurrentOptions::lstm_ablation` (cell.hpp). From LSTM's
///   [a_i a_f a_g a_o] = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh   (4H, LSTM's order)
///   i, f, o = σ(·), g = tanh(a_g), c' = f⊙c + i⊙g, h' = o⊙tanh(c')
/// - `no_input_gate` (NIG): i = 1, c' = f⊙c + g
/// - `no_forget_gate` (NFG): f = 1, c' = c + i⊙g
/// - `no_output_gate` (NOG): o = 1, h' = tanh(c')
/// - `no_input_activation` (NIAF): g = a_g
/// - `no_output_activation` (NOAF): h' = o⊙c'
/// - `none`: the plain LSTM, the same ops as `LSTMCell` (bit for bit).
/// Greff et al.'s baseline also has peepholes; these ablate the library's
/// LSTM (their "NP" variant), so each differs from `LSTM` in one thing only.
///
/// Every ablation keeps G = 4 blocks: W_ih, W_hh, b_ih, b_hh have the
/// LSTM's shapes and names, so an LSTM checkpoint loads into any ablation
/// and back, and a comparison changes the equations and nothing else. The
/// unused block's rows get zero gradient; its quarter of each GEMM's columns
/// is the price. `no_forget_gate` refuses `forget_bias` (no gate to bias).
/// `AblatedLSTM<T>` runs it over sequences.

#include "../recurrent.hpp"

namespace tapegrad {

template <class T = float>
class AblatedLSTMCell : public Cell<T> {
public:
    static constexpr CellSpec kSpec{
        .name = "AblatedLSTM", .gates = 4, .states = 2, .forget_gate = 1, .takes_lstm_ablation = true};

    /// `ArgumentError` on bad options (see RecurrentOptions).
    AblatedLSTMCell(const RecurrentOptions& o, Generator& gen);
    /// x (B, I), (h, c) each (B, H) → (h', c').
    RecurrentState<T> operator()(Var<T> x, const RecurrentState<T>& state) { return single_step(*this, x, state); }
    LSTMAblation ablation() const { return ablation_; }

    struct Context {
        Var<T> w_hh;
    };
    Context begin(Tape<T>& t) { return {t.param(this->weight_hh())}; }
    RecurrentState<T> step(Var<T> gi, const RecurrentState<T>& s, const Context& k) const;

private:
    LSTMAblation ablation_;
};

/// An ablated LSTM over sequences (see `Recurrent`).
template <class T = float>
using AblatedLSTM = Recurrent<AblatedLSTMCell<T>>;

/// "none", "no_input_gate", ...: the enumerator's name, for messages and flags.
const char* lstm_ablation_name(LSTMAblation a);

extern template class AblatedLSTMCell<float>;
extern template class AblatedLSTMCell<double>;
extern template class Recurrent<AblatedLSTMCell<float>>;
extern template class Recurrent<AblatedLSTMCell<double>>;

}  // namespace tapegrad
