#pragma once
/// \file
/// Recurrent cells (RNNCell, LSTMCell, GRUCell) and sequence layers (RNN,
/// LSTM, GRU), written only as compositions of primitive ops: linear, narrow,
/// select, sigmoid, tanh, relu, mul, add, where, stack, concat. There is no
/// hand-written backward here: backpropagation through time is the tape's
/// reverse walk over these ops.
///
/// Equations, parameter names, shapes and gate order follow PyTorch, so weights
/// are interchangeable (see `load` in io/checkpoint.hpp):
///   RNN:  h' = tanh(x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh)        (or relu)
///   LSTM: [i f g o] = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh          (4H columns, that order)
///         i, f, o = σ(·), g = tanh(·), c' = f⊙c + i⊙g, h' = o⊙tanh(c')
///   GRU:  [r z n]_x = x·W_ihᵀ + b_ih, [r z n]_h = h·W_hhᵀ + b_hh   (3H columns)
///         r = σ(r_x + r_h), z = σ(z_x + z_h), n = tanh(n_x + r⊙n_h), h' = (1−z)⊙n + z⊙h
///         (r multiplies after the hidden matmul, as in PyTorch and cuDNN, not as
///         in Cho et al. 2014)
/// Shapes: W_ih (G·H, I), W_hh (G·H, H), b_ih and b_hh (G·H) with G = 1, 4, 3.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "../autodiff/tape.hpp"
#include "dropout.hpp"
#include "init.hpp"
#include "module.hpp"

namespace tapegrad {

enum class CellKind { rnn_tanh, rnn_relu, lstm, gru };

/// Number of gate blocks G in W_ih and W_hh: 1, 4 or 3.
std::size_t gate_count(CellKind kind);

/// How weights start. `pytorch`: every weight and bias ~ U(±1/√H) (PyTorch's
/// default). `glorot`: weights Xavier-uniform, biases zero.
enum class RecurrentInit { pytorch, glorot };

/// A recurrent state: h, and c for an LSTM (empty for RNN and GRU).
template <class T>
struct RecurrentState {
    Var<T> h;
    Var<T> c;
};

/// Options of the cells and sequence layers. Designated initializers in this
/// order: `{.input_size = 2, .hidden_size = 128, .forget_bias = 1.0}`.
struct RecurrentOptions {
    std::size_t input_size = 0;
    std::size_t hidden_size = 0;
    std::size_t num_layers = 1;  ///< sequence layers only
    bool bias = true;
    bool bidirectional = false;  ///< sequence layers only
    double dropout = 0.0;        ///< between layers, in training mode (sequence layers only)
    /// LSTM only: set the forget gate's bias to this value (b_ih's block, with
    /// b_hh's block zero) so that the cell starts by remembering.
    std::optional<double> forget_bias;
    RecurrentInit init = RecurrentInit::pytorch;
    /// Initialize each gate's (H × H) block of W_hh as an orthogonal matrix.
    bool orthogonal_recurrent = false;
    std::uint64_t dropout_seed = 0;
};

namespace detail {

/// The recurrent weights as one step uses them, recorded once per sequence:
/// W_hh, and for GRU the recurrent GEMM's bias (0, 0, b_hn) (b_hn multiplies
/// with r, so it cannot join the input projection like the others).
template <class T>
struct StepWeights {
    Var<T> w_hh, b_hh;
};

/// One step of a cell given the input projection `gi` = x·W_ihᵀ + input_bias
/// (B, G·H) and the state.
template <class T>
RecurrentState<T> cell_step(CellKind kind, Var<T> gi, RecurrentState<T> state, const StepWeights<T>& w);

/// The four parameters of one cell (or one layer and direction), initialized.
template <class T>
struct CellWeights {
    Parameter<T> weight_ih, weight_hh, bias_ih, bias_hh;
    CellWeights() = default;
    CellWeights(CellKind kind, std::size_t input, std::size_t hidden, const RecurrentOptions& o, Generator& gen);
    void visit(ModuleVisitor<T>& v, const std::string& suffix, bool bias);
};

/// The bias of the input projection: b_ih + b_hh for RNN and LSTM, whose two
/// biases only ever appear summed, and b_ih + (b_hr, b_hz, 0) for GRU (so the
/// sum is added once per sequence, not once per step); an empty handle
/// without biases.
template <class T>
Var<T> input_bias(CellKind kind, Tape<T>& t, CellWeights<T>& w, bool bias);
/// The handles `cell_step` needs, recorded on `t`.
template <class T>
StepWeights<T> step_weights(CellKind kind, Tape<T>& t, CellWeights<T>& w, bool bias);

}  // namespace detail

/// Shared implementation of the three cells.
template <class T>
class CellBase : public Module<T> {
public:
    Parameter<T>& weight_ih() { return w_.weight_ih; }
    Parameter<T>& weight_hh() { return w_.weight_hh; }
    Parameter<T>& bias_ih() { return w_.bias_ih; }
    Parameter<T>& bias_hh() { return w_.bias_hh; }
    void visit(ModuleVisitor<T>& v) override { w_.visit(v, "", bias_); }
    std::size_t input_size() const { return input_; }
    std::size_t hidden_size() const { return hidden_; }

protected:
    CellBase(CellKind kind, const RecurrentOptions& o, Generator& gen);
    /// x (B, I), state (B, H) → next state. `ShapeError` on mismatched shapes.
    RecurrentState<T> step(Var<T> x, RecurrentState<T> state);

private:
    CellKind kind_;
    std::size_t input_, hidden_;
    bool bias_;
    detail::CellWeights<T> w_;
};

/// h' = tanh (or relu) of x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh.
template <class T = float>
class RNNCell : public CellBase<T> {
public:
    /// `relu` selects the ReLU nonlinearity instead of tanh.
    RNNCell(const RecurrentOptions& o, Generator& gen, bool relu = false);
    /// x (B, I), h (B, H) → h' (B, H).
    Var<T> operator()(Var<T> x, Var<T> h) { return this->step(x, {h, {}}).h; }
};

template <class T = float>
class LSTMCell : public CellBase<T> {
public:
    LSTMCell(const RecurrentOptions& o, Generator& gen) : CellBase<T>(CellKind::lstm, o, gen) {}
    /// x (B, I), (h, c) each (B, H) → (h', c').
    RecurrentState<T> operator()(Var<T> x, RecurrentState<T> state) { return this->step(x, state); }
};

template <class T = float>
class GRUCell : public CellBase<T> {
public:
    GRUCell(const RecurrentOptions& o, Generator& gen) : CellBase<T>(CellKind::gru, o, gen) {}
    /// x (B, I), h (B, H) → h' (B, H).
    Var<T> operator()(Var<T> x, Var<T> h) { return this->step(x, {h, {}}).h; }
};

/// What a sequence layer returns (two members, so `auto [out, state] = lstm(x)`).
template <class T>
struct RecurrentOutput {
    /// (T, B, D·H): the top layer's hidden state at every step, directions
    /// concatenated; zero at the padded steps of shorter sequences.
    Var<T> output;
    /// h (and c for LSTM) of shape (L·D, B, H), row l·D + d for layer l and
    /// direction d, each taken at the sequence's own last step.
    RecurrentState<T> state;
};

/// Shared implementation of RNN, LSTM and GRU.
template <class T>
class RecurrentLayer : public Module<T> {
public:
    /// x (T, B, I). `initial`: optional h0 (and c0 for LSTM) of shape
    /// (L·D, B, H); zeros when absent. `lengths`: optional per-sequence lengths
    /// (B values in [0, T]); steps at or past a sequence's length leave its
    /// state unchanged, output zeros, and receive and pass no gradient. A
    /// reverse direction starts at each sequence's own last step.
    /// `ShapeError`/`ArgumentError` on mismatched shapes or lengths.
    RecurrentOutput<T> operator()(Var<T> x, const std::optional<RecurrentState<T>>& initial = std::nullopt,
                                  const std::vector<std::int64_t>& lengths = {});

    void visit(ModuleVisitor<T>& v) override;

    /// The hidden state h_t of every layer and direction at every step of the
    /// last call, as used in the recurrence: `step_hidden()[l·D + d][t]`, each
    /// (B, H). After `backward` with `BackwardOptions{.retain_grads = true}`
    /// (or `tape.retain_grad` on these handles first),
    /// `tape.grad(step_hidden()[0][t])` is ∂L/∂h_t.
    const std::vector<std::vector<Var<T>>>& step_hidden() const { return hidden_; }

    const RecurrentOptions& options() const { return o_; }
    std::size_t num_directions() const { return o_.bidirectional ? 2 : 1; }
    /// The weights of layer l, direction d (0 forward, 1 reverse).
    detail::CellWeights<T>& weights(std::size_t layer, std::size_t direction) {
        return w_.at(layer * num_directions() + direction);
    }
    /// The generator of the dropout between layers (reseed it to replay masks).
    Generator& dropout_generator() { return dropout_.generator(); }

protected:
    RecurrentLayer(CellKind kind, const RecurrentOptions& o, Generator& gen);

private:
    CellKind kind_;
    RecurrentOptions o_;
    std::vector<detail::CellWeights<T>> w_;
    Dropout<T> dropout_;
    std::vector<std::vector<Var<T>>> hidden_;
    Tensor<T> masks_;  // (T, B, 1) step masks for variable lengths, reused
    // Handle lists of the last call, kept so that a training loop allocates nothing.
    std::vector<Var<T>> outs_, final_h_, final_c_, dir_out_;
};

/// Elman RNN with tanh (or `relu = true`).
template <class T = float>
class RNN : public RecurrentLayer<T> {
public:
    RNN(const RecurrentOptions& o, Generator& gen, bool relu = false)
        : RecurrentLayer<T>(relu ? CellKind::rnn_relu : CellKind::rnn_tanh, o, gen) {}
};

template <class T = float>
class LSTM : public RecurrentLayer<T> {
public:
    LSTM(const RecurrentOptions& o, Generator& gen) : RecurrentLayer<T>(CellKind::lstm, o, gen) {}
};

template <class T = float>
class GRU : public RecurrentLayer<T> {
public:
    GRU(const RecurrentOptions& o, Generator& gen) : RecurrentLayer<T>(CellKind::gru, o, gen) {}
};

extern template class CellBase<float>;
extern template class CellBase<double>;
extern template class RNNCell<float>;
extern template class RNNCell<double>;
extern template class RecurrentLayer<float>;
extern template class RecurrentLayer<double>;

}  // namespace tapegrad
