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
#include <span>
#include <string>
#include <tuple>
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

/// The hidden state h_t of every layer and direction at every step of one
/// call, as used in the recurrence: `hidden[l·D + d][t]`, each (B, H). After
/// `backward` with `BackwardOptions{.retain_grads = true}` (or `tape.retain_grad`
/// on these handles first), `tape.grad(hidden[0][t])` is ∂L/∂h_t.
/// A view of handles stored on the call's tape (`Tape::handle_buffer`): valid,
/// like the handles themselves, until that tape is cleared.
template <class T>
class StepHidden {
public:
    StepHidden() = default;
    /// `handles` holds `rows` rows of equally many steps, row after row.
    StepHidden(std::span<const Var<T>> handles, std::size_t rows)
        : data_(handles.data()), rows_(rows), steps_(rows ? handles.size() / rows : 0) {}
    /// L·D rows.
    std::size_t size() const { return rows_; }
    bool empty() const { return rows_ == 0; }
    /// Row `i` = l·D + d: one handle per time step. `ArgumentError` if i >= size().
    std::span<const Var<T>> operator[](std::size_t i) const {
        if (i >= rows_)
            throw ArgumentError("StepHidden: row " + std::to_string(i) + " of " + std::to_string(rows_) +
                                " (rows are layer·directions + direction)");
        return {data_ + i * steps_, steps_};
    }
    /// The last row: the top layer's last direction.
    std::span<const Var<T>> back() const { return (*this)[rows_ - 1]; }

private:
    const Var<T>* data_ = nullptr;
    std::size_t rows_ = 0, steps_ = 0;
};

/// What a sequence layer returns. Structured bindings see the first two
/// members (`auto [out, state] = lstm(x)`, through the tuple protocol below);
/// the per-step hidden states come with the same call: `lstm(x).step_hidden`.
template <class T>
struct RecurrentOutput {
    /// (T, B, D·H): the top layer's hidden state at every step, directions
    /// concatenated; zero at the padded steps of shorter sequences.
    Var<T> output;
    /// h (and c for LSTM) of shape (L·D, B, H), row l·D + d for layer l and
    /// direction d, each taken at the sequence's own last step.
    RecurrentState<T> state;
    /// h_t of every layer, direction and step of this call (on the tape).
    StepHidden<T> step_hidden;

    template <std::size_t I>
    decltype(auto) get() & {
        if constexpr (I == 0) return (output); else return (state);
    }
    template <std::size_t I>
    decltype(auto) get() const& {
        if constexpr (I == 0) return (output); else return (state);
    }
    template <std::size_t I>
    decltype(auto) get() && {
        if constexpr (I == 0) return std::move(output); else return std::move(state);
    }
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
    /// `dropout_generator`: where this call draws the masks of the dropout
    /// between layers (training mode, dropout > 0); nullptr: the layer's own
    /// generator, shared by all calls under a lock (see `Dropout`).
    /// `ShapeError`/`ArgumentError` on mismatched shapes or lengths, and
    /// `ShapeError` for T = 0 time steps.
    ///
    /// Reentrant: the call keeps nothing in the layer (handle lists live on
    /// x's tape), so one layer may run on several threads at once, each with
    /// its own tape, while nothing modifies its parameters.
    RecurrentOutput<T> operator()(Var<T> x, const std::optional<RecurrentState<T>>& initial = std::nullopt,
                                  const std::vector<std::int64_t>& lengths = {}, Generator* dropout_generator = nullptr);

    void visit(ModuleVisitor<T>& v) override;

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
    // Throws unless x, initial and lengths fit this layer (before anything is recorded).
    void check_call(Var<T> x, const std::optional<RecurrentState<T>>& initial,
                    const std::vector<std::int64_t>& lengths) const;
    // Runs layer l, direction d over `input`: fills outs[t] (the step outputs)
    // and hidden[t] (h_t) and returns the final state.
    RecurrentState<T> run_direction(Var<T> input, std::size_t l, std::size_t d,
                                    const std::optional<RecurrentState<T>>& initial, Var<T> mask,
                                    std::span<Var<T>> outs, std::span<Var<T>> hidden);

    CellKind kind_;
    RecurrentOptions o_;
    std::vector<detail::CellWeights<T>> w_;
    Dropout<T> dropout_;
    // No per-call members: a call's handle lists and masks live on its tape.
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

// The tuple protocol of RecurrentOutput: `auto [out, state] = lstm(x)` binds
// `output` and `state` (step_hidden stays reachable as a member).
namespace std {
template <class T>
struct tuple_size<tapegrad::RecurrentOutput<T>> : integral_constant<size_t, 2> {};
template <size_t I, class T>
struct tuple_element<I, tapegrad::RecurrentOutput<T>> {
    using type = conditional_t<I == 0, tapegrad::Var<T>, tapegrad::RecurrentState<T>>;
};
}  // namespace std
