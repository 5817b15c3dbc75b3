#pragma once
/// \file
/// Sequence layers: `Recurrent<Cell>` runs any cell (cell.hpp) over time,
/// and `RNN`, `LSTM`, `GRU` are it with the built-in cells (layers/cells/).
///
/// `RecurrentLayer<T>` holds everything that is not the cell: layers ×
/// directions, the input projection (x·W_ihᵀ + the cell's input bias) as one
/// GEMM per `projection_steps` steps of a layer and direction, the initial
/// state, masks for per-sequence lengths, dropout between layers, the
/// per-step hidden states, the release of each step's temporaries, and
/// recompute segments (`checkpoint_every`). Everything is
/// composed of primitive ops: backpropagation through time is the tape's
/// reverse walk, with no hand-written backward.
///
/// Equations, parameter names ("weight_ih_l0", "weight_hh_l1_reverse", ...),
/// shapes and gate order of the built-in cells follow PyTorch, so weights are
/// interchangeable (see `load` in io/checkpoint.hpp).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "../autodiff/tape.hpp"
#include "cell.hpp"
#include "cells/gru_cell.hpp"
#include "cells/lstm_cell.hpp"
#include "cells/rnn_cell.hpp"
#include "dropout.hpp"
#include "function_ref.hpp"
#include "module.hpp"

namespace tapegrad {

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
    /// Each state tensor of the cell (h, and c for LSTM) of shape (L·D, B, H),
    /// row l·D + d for layer l and direction d, taken at the sequence's own
    /// last step.
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

/// The part of a sequence layer that does not depend on the cell's type;
/// `Recurrent<C>` supplies the cells.
template <class T>
class RecurrentLayer : public Module<T> {
public:
    /// x (T, B, I), or (B, T, I) with `batch_first` (then the output is
    /// (B, T, D·H); states keep (L·D, B, H), as in PyTorch). `initial`: optional initial state, each of the cell's
    /// state tensors (h, and c for LSTM) of shape (L·D, B, H); zeros when
    /// absent. `lengths`: optional per-sequence lengths (B values in [0, T]);
    /// steps at or past a sequence's length leave its state unchanged, output
    /// zeros, and receive and pass no gradient. A reverse direction starts at
    /// each sequence's own last step.
    /// `dropout_generator`: where this call draws the masks of the dropout
    /// between layers (training mode, dropout > 0); nullptr: the layer's own
    /// generator, shared by all calls under a lock (see `Dropout`).
    /// `ShapeError`/`ArgumentError` on mismatched shapes or lengths, and
    /// `ShapeError` for T = 0 time steps.
    ///
    /// Reentrant: the call keeps nothing in the layer (handle lists live on
    /// x's tape, a cell's per-sequence context on the call's stack), so one
    /// layer may run on several threads at once, each with its own tape,
    /// while nothing modifies its parameters.
    RecurrentOutput<T> operator()(Var<T> x, const std::optional<RecurrentState<T>>& initial = std::nullopt,
                                  const std::vector<std::int64_t>& lengths = {}, Generator* dropout_generator = nullptr);

    /// Each cell's parameters with "_l<layer>" (and "_reverse") appended to
    /// their names, layer by layer, forward before reverse; then the dropout.
    void visit(ModuleVisitor<T>& v) override;
    /// Training mode for the layer, its dropout and every cell: a cell's own
    /// `training()` (read by a cell with, say, its own recurrent dropout)
    /// follows the layer's.
    void train(bool on = true) override;

    const RecurrentOptions& options() const { return o_; }
    const CellSpec& spec() const { return spec_; }
    std::size_t num_directions() const { return o_.bidirectional ? 2 : 1; }
    /// The cell of layer l, direction d (0 forward, 1 reverse).
    Cell<T>& cell(std::size_t layer, std::size_t direction) { return cell_at(row_of(layer, direction)); }
    /// The four weights of layer l, direction d.
    CellWeights<T>& weights(std::size_t layer, std::size_t direction) { return cell(layer, direction).weights(); }
    /// The generator of the dropout between layers (reseed it to replay masks).
    Generator& dropout_generator() { return dropout_.generator(); }

protected:
    /// Validates `o` for cells of `spec` (`ArgumentError` naming the cell).
    RecurrentLayer(const CellSpec& spec, const RecurrentOptions& o);
    /// The options of layer l's cells: input_size is D·H above the first layer.
    RecurrentOptions cell_options(std::size_t layer) const;

    /// A cell's step with its per-sequence context bound: (gi, state) → state.
    using BoundStep = detail::FunctionRef<RecurrentState<T>(Var<T>, const RecurrentState<T>&)>;
    /// The time loop of one layer and direction, given the bound step.
    using TimeLoop = detail::FunctionRef<RecurrentState<T>(BoundStep)>;
    /// The cell of row l·D + d.
    virtual Cell<T>& cell_at(std::size_t row) = 0;
    /// Records cell `row`'s context on `t` (its `begin`) and returns
    /// `loop(step)`, with `step` calling the cell's `step` with that context.
    virtual RecurrentState<T> run_bound(std::size_t row, Tape<T>& t, TimeLoop loop) = 0;

private:
    std::size_t row_of(std::size_t layer, std::size_t direction) const;
    // The call on a time-major x.
    RecurrentOutput<T> run(Var<T> x, const std::optional<RecurrentState<T>>& initial, const std::vector<std::int64_t>& lengths,
                           Generator* dropout_generator);
    // Throws unless x, initial and lengths fit this layer (before anything is recorded).
    void check_call(Var<T> x, const std::optional<RecurrentState<T>>& initial,
                    const std::vector<std::int64_t>& lengths) const;
    // Runs row `row` (layer l, direction d) over `input`: fills outs[t] (the
    // step outputs) and hidden[t] (h_t) and returns the final state. With a
    // non-empty `segment_outs` (one per segment), it records recompute
    // segments and stores each one's stacked outputs there, in time order.
    RecurrentState<T> run_direction(Var<T> input, std::size_t row, const std::optional<RecurrentState<T>>& initial,
                                    Var<T> mask, std::span<Var<T>> outs, std::span<Var<T>> hidden,
                                    std::span<Var<T>> segment_outs);
    // The steps of one recompute segment for a sequence of `steps` (options().checkpoint_every resolved).
    std::size_t segment_steps(std::size_t steps) const;
    // One chunk's input projection, for the steps k.. of row `row` in the order it runs.
    struct Projection {
        Var<T> value;
        std::size_t lo = 0;   // the time step of its first row
        std::size_t end = 0;  // the step count (in running order) where the next chunk starts
    };
    Projection project_chunk(Var<T> input, std::size_t row, std::size_t k, std::size_t steps, std::size_t segment);
    // Ends the segment that began at tape position `begin` with step k (in running order).
    void close_segment(Tape<T>& t, std::size_t begin, std::size_t k, std::size_t steps, std::size_t row,
                       const RecurrentState<T>& s, std::span<const Var<T>> outs, std::span<Var<T>> segment_outs);

    CellSpec spec_;
    RecurrentOptions o_;
    Dropout<T> dropout_;
    // No per-call members: a call's handle lists and masks live on its tape.
};

/// A sequence layer of any cell: `Recurrent<MyCell<float>> layer(options, gen)`
/// gets multi-layer, bidirectional, lengths, dropout between layers, the
/// per-step hidden states and released step temporaries with no extra code.
/// One cell per layer and direction, built in that order from `gen`.
template <RecurrentCell C>
class Recurrent : public RecurrentLayer<typename C::value_type> {
    using T = typename C::value_type;

public:
    Recurrent(const RecurrentOptions& o, Generator& gen) : RecurrentLayer<T>(C::kSpec, o) {
        cells_.reserve(o.num_layers * this->num_directions());
        for (std::size_t l = 0; l < o.num_layers; ++l)
            for (std::size_t d = 0; d < this->num_directions(); ++d) cells_.emplace_back(this->cell_options(l), gen);
        this->set_parameter_names();  // "weight_ih_l0" in errors from the start
    }
    /// The same from the default generator (`tg::manual_seed`).
    explicit Recurrent(const RecurrentOptions& o) : Recurrent(o, detail::DefaultGenerator().get()) {}
    /// The cell of layer l, direction d, as its own type.
    C& cell(std::size_t layer, std::size_t direction) { return static_cast<C&>(RecurrentLayer<T>::cell(layer, direction)); }

protected:
    Cell<T>& cell_at(std::size_t row) override { return cells_[row]; }
    RecurrentState<T> run_bound(std::size_t row, Tape<T>& t, typename RecurrentLayer<T>::TimeLoop loop) override {
        C& cell = cells_[row];
        const auto context = cell.begin(t);  // on this call's stack: the layer stays reentrant
        auto step = [&cell, &context](Var<T> gi, const RecurrentState<T>& s) {
            return static_cast<const C&>(cell).step(gi, s, context);
        };
        return loop(typename RecurrentLayer<T>::BoundStep(step));
    }

private:
    std::vector<C> cells_;
};

/// Elman RNN, tanh or relu (`RecurrentOptions::nonlinearity`).
template <class T = float>
using RNN = Recurrent<RNNCell<T>>;
template <class T = float>
using LSTM = Recurrent<LSTMCell<T>>;
template <class T = float>
using GRU = Recurrent<GRUCell<T>>;

extern template class RecurrentLayer<float>;
extern template class RecurrentLayer<double>;
extern template class Recurrent<RNNCell<float>>;
extern template class Recurrent<RNNCell<double>>;
extern template class Recurrent<LSTMCell<float>>;
extern template class Recurrent<LSTMCell<double>>;
extern template class Recurrent<GRUCell<float>>;
extern template class Recurrent<GRUCell<double>>;

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
