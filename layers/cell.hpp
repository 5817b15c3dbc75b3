#pragma once
/// \file
/// `Cell<T>`: the interface a recurrent cell implements, so that a sequence
/// layer (`Recurrent<Cell>`, recurrent.hpp) can run it over time with one
/// input GEMM for all steps, several layers, both directions, per-sequence
/// lengths, dropout between layers, and step temporaries released.
///
/// A cell is a class derived from `Cell<T>` that provides
/// - `static constexpr CellSpec kSpec`: its name, its gate count G and its
///   number of state tensors (h; h and c; or more);
/// - a constructor `(const RecurrentOptions&, Generator&)` that passes kSpec
///   to `Cell<T>`, which creates the four weights every cell has: W_ih
///   (G·H, I), W_hh (G·H, H), b_ih and b_hh (G·H), PyTorch's names;
/// - `Context begin(Tape<T>&)`: records, once per sequence, what the steps
///   reuse (W_hh, peephole weights...) and returns it by value. The context
///   lives on the caller's stack, never in the cell: one cell serves several
///   tapes in several threads at once;
/// - `RecurrentState<T> step(Var<T> gi, const RecurrentState<T>& s, const Context&) const`:
///   one step in primitive ops, from the step's input projection
///   gi = x_t·W_ihᵀ + input_bias, (B, G·H), and the state (each (B, H)).
///   Everything it records that is not returned and that no backward reads
///   is released when it returns (`Tape::release_since`): there is no list
///   of temporaries to keep;
/// - optionally `visit_extra` (its own parameters, like `Module::visit`) and
///   `input_bias` (how its biases fold into the input projection).
/// See layers/cells/ for LSTM, GRU and RNN written this way, and
/// docs/layers.md, "Write your own cell".

#include <array>
#include <concepts>
#include <cstdint>
#include <optional>
#include <string>

#include "../autodiff/tape.hpp"
#include "init.hpp"
#include "module.hpp"

namespace tapegrad {

/// How weights start. `pytorch`: every weight and bias ~ U(±1/√H) (PyTorch's
/// default). `glorot`: weights Xavier-uniform, biases zero.
enum class RecurrentInit { pytorch, glorot };

/// The nonlinearity of an Elman RNN: h' = tanh(·) or relu(·).
enum class RNNNonlinearity { tanh, relu };

/// One of the LSTM ablations of Greff et al. 2017 ("LSTM: A Search Space
/// Odyssey"), run by `AblatedLSTMCell` (cells/ablated_lstm_cell.hpp): no
/// input gate (i = 1), no forget gate (f = 1), no output gate (o = 1), no
/// input activation (g linear), no output activation (h = o⊙c); `none` is
/// the plain LSTM.
enum class LSTMAblation { none, no_input_gate, no_forget_gate, no_output_gate, no_input_activation, no_output_activation };

/// `RecurrentOptions::checkpoint_every = checkpoint_auto`: segments of about
/// √T steps (the multiple of `projection_steps` nearest √T, at least one).
inline constexpr std::size_t checkpoint_auto = ~std::size_t(0);

/// Options of the cells and sequence layers. Designated initializers in this
/// order: `{.input_size = 2, .hidden_size = 128, .forget_bias = 1.0}`.
struct RecurrentOptions {
    std::size_t input_size = 0;
    std::size_t hidden_size = 0;
    std::size_t num_layers = 1;  ///< sequence layers only
    bool bias = true;
    bool bidirectional = false;  ///< sequence layers only
    double dropout = 0.0;        ///< between layers, in training mode (sequence layers only)
    /// Cells with a forget gate (LSTM): set that gate's bias to this value
    /// (b_ih's block, with b_hh's block zero) so that the cell starts by
    /// remembering. `ArgumentError` for cells without one.
    std::optional<double> forget_bias{};  // {}: no -Wmissing-field-initializers for `{.input_size = ...}`
    RecurrentInit init = RecurrentInit::pytorch;
    /// Initialize each gate's (H × H) block of W_hh as an orthogonal matrix.
    bool orthogonal_recurrent = false;
    std::uint64_t dropout_seed = 0;
    /// RNN only (`ArgumentError` on LSTM and GRU when not tanh).
    RNNNonlinearity nonlinearity = RNNNonlinearity::tanh;
    /// AblatedLSTM only: which part of the LSTM to take out (`ArgumentError`
    /// naming the cell on any other cell when not `none`).
    LSTMAblation lstm_ablation = LSTMAblation::none;
    /// Sequence layers only: input (B, T, I) and output (B, T, D·H) instead
    /// of time-major (T, B, ·), as PyTorch's batch_first.
    bool batch_first = false;
    /// Sequence layers only: recompute checkpointing. 0 (the default) keeps
    /// what backward reads for every step; k > 0 cuts each layer and direction
    /// into segments of k steps whose values are dropped once the segment is
    /// recorded and recomputed by backward (`Tape::recompute_since`): memory
    /// holds the state at segment ends and one segment's values instead of
    /// all T steps', for about one more forward pass. `checkpoint_auto`
    /// chooses k ≈ √T. Gradients are bit-identical to k = 0 when k is a
    /// multiple of `projection_steps` or at least T (the automatic choice
    /// always is one of the two);
    /// otherwise segment ends also cut the projection GEMMs, which changes the
    /// weight gradients' summation order (by an ulp or so).
    std::size_t checkpoint_every = 0;
    /// Sequence layers only: the input projection x·W_ihᵀ runs as one GEMM
    /// per this many steps (at least 1), so that a long sequence never holds
    /// the (T, B, G·H) projection and its gradient at once. Longer chunks make
    /// fewer, larger GEMMs; up to this length a sequence is one GEMM.
    std::size_t projection_steps = 128;
};

/// A recurrent state: `h`, `c` for cells that have a cell state (LSTM), and
/// up to two more tensors for cells that keep more; unused ones are empty
/// handles. State k is `state[k]` (0 = h, 1 = c). Fixed size, so a step
/// never allocates for it.
template <class T>
struct RecurrentState {
    static constexpr std::size_t capacity = 4;
    Var<T> h;
    Var<T> c;
    std::array<Var<T>, capacity - 2> extra{};

    /// State k < capacity.
    Var<T>& operator[](std::size_t k) { return k == 0 ? h : k == 1 ? c : extra[k - 2]; }
    const Var<T>& operator[](std::size_t k) const { return k == 0 ? h : k == 1 ? c : extra[k - 2]; }
    /// Every handle, empty ones included (e.g. what a step keeps).
    std::array<Var<T>, capacity> handles() const { return {h, c, extra[0], extra[1]}; }
};

/// What a cell is, declared once per cell type (`static constexpr CellSpec kSpec`).
struct CellSpec {
    /// Names the cell in error messages ("LSTM"; the single-step form adds "Cell").
    const char* name = "cell";
    /// G, the gate blocks of the shared input projection: W_ih (G·H, I).
    std::size_t gates = 1;
    /// State tensors, h first: 1 (h), 2 (h, c), at most RecurrentState::capacity.
    std::size_t states = 1;
    /// The gate block whose bias `RecurrentOptions::forget_bias` sets (LSTM: 1).
    std::optional<std::size_t> forget_gate = std::nullopt;
    /// Whether the cell reads `RecurrentOptions::lstm_ablation`. Checked here,
    /// for every cell, so that a cell that ignores the option (a user's cell
    /// included) refuses it instead of silently running the plain LSTM.
    bool takes_lstm_ablation = false;
};

/// The four weights every cell has, with PyTorch's shapes and names.
template <class T>
struct CellWeights {
    Parameter<T> weight_ih, weight_hh, bias_ih, bias_hh;
};

template <class T>
class Cell : public Module<T> {
public:
    using value_type = T;

    const CellSpec& spec() const { return spec_; }
    std::size_t input_size() const { return input_; }
    std::size_t hidden_size() const { return hidden_; }
    /// Whether the biases are used (`RecurrentOptions::bias`); they exist either way.
    bool has_bias() const { return bias_; }
    CellWeights<T>& weights() { return w_; }
    Parameter<T>& weight_ih() { return w_.weight_ih; }
    Parameter<T>& weight_hh() { return w_.weight_hh; }
    Parameter<T>& bias_ih() { return w_.bias_ih; }
    Parameter<T>& bias_hh() { return w_.bias_hh; }

    /// weight_ih, weight_hh, bias_ih, bias_hh (the biases only with `bias`),
    /// then the cell's own parameters (`visit_extra`). A sequence layer
    /// appends "_l0", "_l1_reverse", ... to each name.
    void visit(ModuleVisitor<T>& v) final;
    /// The cell's own parameters and child modules beyond the four; none by default.
    virtual void visit_extra(ModuleVisitor<T>&) {}

    /// The bias added to the input projection of all steps, recorded on `t`
    /// once per sequence; an empty handle without biases. By default
    /// b_ih + b_hh: cells in which both only ever appear summed (RNN, LSTM)
    /// add them once per sequence instead of once per step.
    virtual Var<T> input_bias(Tape<T>& t);
    /// x·W_ihᵀ + input_bias for x (..., I): every step's input projection at once.
    Var<T> project(Var<T> x);
    /// Throws unless x (B, I) and the cell's states (B, H) fit (single steps).
    void check_step(Var<T> x, const RecurrentState<T>& s) const;

protected:
    /// Validates `o` for this cell (`ArgumentError`) and initializes the four
    /// weights from `gen` (see RecurrentOptions).
    Cell(const CellSpec& spec, const RecurrentOptions& o, Generator& gen);
    Cell(const Cell&) = default;
    Cell(Cell&&) noexcept = default;
    Cell& operator=(const Cell&) = default;
    Cell& operator=(Cell&&) noexcept = default;

private:
    CellSpec spec_;
    std::size_t input_, hidden_;
    bool bias_;
    CellWeights<T> w_;
};

/// What `Recurrent<C>` and `single_step` need of a cell type (see the file comment).
template <class C>
concept RecurrentCell =
    requires { typename C::value_type; } && std::derived_from<C, Cell<typename C::value_type>> &&
    std::constructible_from<C, const RecurrentOptions&, Generator&> &&
    requires(C& cell, const C& fixed, Tape<typename C::value_type>& t, Var<typename C::value_type> gi,
             const RecurrentState<typename C::value_type>& s) {
        { C::kSpec } -> std::convertible_to<CellSpec>;
        { fixed.step(gi, s, cell.begin(t)) } -> std::same_as<RecurrentState<typename C::value_type>>;
    };

/// One step of `cell` on x (B, I) from state `s` (B, H each): the single-step
/// form (`LSTMCell::operator()`), with its temporaries released like a
/// layer's. `ShapeError`/`StaleVarError` on mismatched or empty handles.
template <RecurrentCell C, class T = typename C::value_type>
RecurrentState<T> single_step(C& cell, Var<T> x, const RecurrentState<T>& s) {
    cell.check_step(x, s);
    Tape<T>& t = *x.tape();
    const std::size_t begin = t.size();
    const Var<T> gi = cell.project(x);
    const auto context = cell.begin(t);
    const RecurrentState<T> next = static_cast<const C&>(cell).step(gi, s, context);
    t.release_since(begin, next.handles());
    return next;
}

namespace detail {
/// `ArgumentError` unless `o` suits a cell of `spec` and a layer of such
/// cells (sizes, dropout, forget_bias), naming the cell.
void validate_options(const CellSpec& spec, const RecurrentOptions& o);
}  // namespace detail

extern template class Cell<float>;
extern template class Cell<double>;

}  // namespace tapegrad
