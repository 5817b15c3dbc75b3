#pragma once
/// \file
/// `LayerNormLSTMCell<T>`: the layer-normalized LSTM of Ba, Kiros & Hinton
/// 2016 ("Layer Normalization"), with LSTM's gate order (i, f, g, o):
///   a = LN_G(x·W_ihᵀ)⊙γ_ih + b_ih + LN_G(h·W_hhᵀ)⊙γ_hh + b_hh     (4H)
///   i, f, o = σ(a_i, a_f, a_o), g = tanh(a_g), c' = f⊙c + i⊙g
///   h' = o⊙tanh(LN(c')⊙γ_c + β_c)
/// where LN(z) = (z − mean z)/√(var z + 1e-5) over the last axis (biased
/// variance, `normalize_last_axis`) and LN_G applies it to each gate's block
/// of H pre-activations on its own. The carried cell state c' is the
/// unnormalized one.
///
/// What is normalized where: the layer computes x·W_ihᵀ for all steps in
/// one GEMM, and any bias folded in there would be removed again by the
/// centring. So `input_bias` is empty (the projection is bias-free), and the
/// step adds b_ih + b_hh after both normalizations: they are the paper's
/// shifts β_x + β_h + b, which only ever appear summed (one vector, added
/// once per step). Each gate block is normalized separately (as TensorFlow's
/// LayerNormBasicLSTMCell does; the paper's equation normalizes the 4H
/// vector as a whole), so one gate's statistics do not shift another's.
/// The input and the recurrent projection are normalized separately, so the
/// recurrent GEMM cannot start from gi as in `LSTMCell`.
///
/// Parameters beyond the four: γ_ih, γ_hh (4H, ones) "ln_weight_ih",
/// "ln_weight_hh"; γ_c (H, ones) "ln_weight_c"; β_c (H, zeros) "ln_bias_c".
/// Without biases (`bias = false`) b_ih, b_hh and β_c are all left out.
/// `forget_bias` sets the forget block of b_ih, i.e. the forget gate's shift
/// after normalization. `LayerNormLSTM<T>` runs it over sequences.
/// A step keeps about 6 times what an LSTM step keeps for backward (51
/// (B, H) values against 8): each normalization, composed of primitive ops,
/// keeps its input, centred values, squares and normalized values (see
/// tests/test_cell_variants.cpp).

#include "../recurrent.hpp"

namespace tapegrad {

template <class T = float>
class LayerNormLSTMCell : public Cell<T> {
public:
    static constexpr CellSpec kSpec{.name = "LayerNormLSTM", .gates = 4, .states = 2, .forget_gate = 1};
    /// The ε of every normalization (PyTorch's LayerNorm default).
    static constexpr double kEps = 1e-5;

    Parameter<T> ln_weight_ih, ln_weight_hh;  ///< γ_ih, γ_hh (4H), ones
    Parameter<T> ln_weight_c, ln_bias_c;      ///< γ_c, β_c (H), ones and zeros

    /// `ArgumentError` on bad options (see RecurrentOptions).
    LayerNormLSTMCell(const RecurrentOptions& o, Generator& gen);
    /// x (B, I), (h, c) each (B, H) → (h', c').
    RecurrentState<T> operator()(Var<T> x, const RecurrentState<T>& state) { return single_step(*this, x, state); }
    void visit_extra(ModuleVisitor<T>& v) override;
    /// Empty: the biases are added after the normalization (see above).
    Var<T> input_bias(Tape<T>&) override { return {}; }

    struct Context {
        Var<T> w_hh, ln_weight_ih, ln_weight_hh, ln_weight_c;
        Var<T> bias;       ///< b_ih + b_hh (4H); empty without biases
        Var<T> ln_bias_c;  ///< empty without biases
    };
    Context begin(Tape<T>& t);
    RecurrentState<T> step(Var<T> gi, const RecurrentState<T>& s, const Context& k) const;
};

/// A layer-normalized LSTM over sequences (see `Recurrent`).
template <class T = float>
using LayerNormLSTM = Recurrent<LayerNormLSTMCell<T>>;

extern template class LayerNormLSTMCell<float>;
extern template class LayerNormLSTMCell<double>;
extern template class Recurrent<LayerNormLSTMCell<float>>;
extern template class Recurrent<LayerNormLSTMCell<double>>;

}  // namespace tapegrad
