#include "recurrent.hpp"

#include "../autodiff/ops.hpp"

#include <algorithm>
#include <cmath>

namespace tapegrad {

namespace {

// Names the state tensors in error messages.
const char* state_name(std::size_t k) {
    static const char* const names[] = {"h", "c", "state 2", "state 3"};
    return names[k];
}

// Hands a cell's parameters and children on with `suffix` appended to their
// names ("weight_ih" → "weight_ih_l1_reverse"), PyTorch's scheme.
template <class T>
class SuffixVisitor final : public ModuleVisitor<T> {
public:
    SuffixVisitor(ModuleVisitor<T>& inner, std::string suffix) : inner_(inner), suffix_(std::move(suffix)) {}
    void param(const std::string& name, Parameter<T>& p) override { inner_.param(name + suffix_, p); }
    void module(const std::string& name, Module<T>& m) override { inner_.module(name + suffix_, m); }

private:
    ModuleVisitor<T>& inner_;
    std::string suffix_;
};

// (T, B, 1): 1 while t < length (lengths already checked). Written straight
// into a constant on the tape: no member to race on, no allocation once the
// tape's pool holds a buffer of that size.
template <class T>
Var<T> step_mask(Tape<T>& t, const std::vector<std::int64_t>& lengths, std::size_t steps) {
    const std::size_t B = lengths.size();
    const std::array<std::size_t, 3> shape{steps, B, 1};
    return t.constant_from(shape, [&](std::span<T> m) {
        for (std::size_t b = 0; b < B; ++b)
            for (std::size_t s = 0; s < static_cast<std::size_t>(lengths[b]); ++s) m[s * B + b] = T(1);
    });
}

// Row `row` of each given initial state tensor, or zeros (one leaf shared by
// all state tensors).
template <class T>
RecurrentState<T> initial_state(Tape<T>& t, std::size_t states, std::size_t row, std::size_t B, std::size_t H,
                                const std::optional<RecurrentState<T>>& initial) {
    RecurrentState<T> s;
    if (initial) {
        for (std::size_t k = 0; k < states; ++k) s[k] = select((*initial)[k], 0, static_cast<std::int64_t>(row));
    } else {
        s.h = t.full({B, H}, T(0));
        for (std::size_t k = 1; k < states; ++k) s[k] = s.h;
    }
    return s;
}

}  // namespace

template <class T>
RecurrentLayer<T>::RecurrentLayer(const CellSpec& spec, const RecurrentOptions& o)
    : spec_(spec), o_(o), dropout_(o.dropout >= 0.0 && o.dropout < 1.0 ? o.dropout : 0.0, o.dropout_seed) {
    detail::validate_options(spec, o);
}

template <class T>
RecurrentOptions RecurrentLayer<T>::cell_options(std::size_t layer) const {
    RecurrentOptions o = o_;
    if (layer > 0) o.input_size = o_.hidden_size * num_directions();
    return o;
}

template <class T>
std::size_t RecurrentLayer<T>::row_of(std::size_t layer, std::size_t direction) const {
    if (layer >= o_.num_layers || direction >= num_directions())
        throw ArgumentError(std::string(spec_.name) + ": layer " + std::to_string(layer) + ", direction " +
                            std::to_string(direction) + " of " + std::to_string(o_.num_layers) + " layers and " +
                            std::to_string(num_directions()) + " directions");
    return layer * num_directions() + direction;
}

template <class T>
void RecurrentLayer<T>::visit(ModuleVisitor<T>& v) {
    for (std::size_t l = 0; l < o_.num_layers; ++l)
        for (std::size_t d = 0; d < num_directions(); ++d) {
            SuffixVisitor<T> named(v, "_l" + std::to_string(l) + (d ? "_reverse" : ""));
            cell_at(row_of(l, d)).visit(named);
        }
    v.module("dropout", dropout_);
}

template <class T>
void RecurrentLayer<T>::train(bool on) {
    Module<T>::train(on);
    for (std::size_t row = 0; row < o_.num_layers * num_directions(); ++row) cell_at(row).train(on);
}

template <class T>
void RecurrentLayer<T>::check_call(Var<T> x, const std::optional<RecurrentState<T>>& initial,
                                   const std::vector<std::int64_t>& lengths) const {
    const std::string who = spec_.name;
    if (!x) throw StaleVarError(who + ": empty input handle");
    const std::size_t I = o_.input_size;
    if (x.dim() != 3 || x.shape()[2] != I)
        throw ShapeError(who + ": input of shape " + shape_str(x.shape()) + ", expected (T, B, " + std::to_string(I) + ")");
    const std::size_t steps = x.shape()[0], B = x.shape()[1], H = o_.hidden_size, LD = o_.num_layers * num_directions();
    if (steps == 0)
        throw ShapeError(who + ": input of shape " + shape_str(x.shape()) + " has T = 0 time steps; need at least one");
    // Each step of each layer and direction records at least 3 nodes, and a
    // tape holds fewer than 2^32: refuse (say) an empty batch of 2^40 steps
    // before sizing the handle lists for it.
    if (steps > ((std::size_t(1) << 32) - 1) / (3 * LD))
        throw ShapeError(who + ": input of shape " + shape_str(x.shape()) + " has more time steps than one tape can record");
    for (std::size_t k = 0; initial && k < spec_.states; ++k) {
        const Var<T>& v = (*initial)[k];
        if (!v) throw StaleVarError(who + ": empty initial " + state_name(k));
        if (v.dim() != 3 || v.shape()[0] != LD || v.shape()[1] != B || v.shape()[2] != H)
            throw ShapeError(who + ": initial " + state_name(k) + " of shape " + shape_str(v.shape()) + ", expected (" +
                             std::to_string(LD) + ", " + std::to_string(B) + ", " + std::to_string(H) + ")");
    }
    if (lengths.empty()) return;
    if (lengths.size() != B)
        throw ShapeError(who + ": " + std::to_string(lengths.size()) + " lengths for a batch of " + std::to_string(B));
    for (std::size_t b = 0; b < B; ++b)
        if (lengths[b] < 0 || lengths[b] > static_cast<std::int64_t>(steps))
            throw ArgumentError(who + ": length " + std::to_string(lengths[b]) + " of sequence " + std::to_string(b) +
                                " is outside [0, " + std::to_string(steps) + "]");
}

template <class T>
std::size_t RecurrentLayer<T>::segment_steps(std::size_t steps) const {
    if (o_.checkpoint_every != checkpoint_auto) return o_.checkpoint_every;
    // The multiple of projection_steps nearest √T, at least one: segments
    // then never cut a projection GEMM (bit-identical gradients).
    const std::size_t p = o_.projection_steps;
    const auto chunks = static_cast<std::size_t>(std::llround(std::sqrt(double(steps)) / double(p)));
    return p * std::max<std::size_t>(chunks, 1);
}

template <class T>
typename RecurrentLayer<T>::Projection RecurrentLayer<T>::project_chunk(Var<T> input, std::size_t row, std::size_t k,
                                                                        std::size_t steps, std::size_t segment) {
    // Chunks end at multiples of projection_steps and at segment ends,
    // counted in the order the direction runs.
    const std::size_t p = o_.projection_steps;
    std::size_t end = std::min(steps, (k / p + 1) * p);
    if (segment != 0) end = std::min(end, (k / segment + 1) * segment);
    const bool reverse = row % num_directions() == 1;
    const std::size_t lo = reverse ? steps - end : k, len = end - k;
    Cell<T>& cell = cell_at(row);
    if (len == steps) return {cell.project(input), 0, end};
    return {cell.project(narrow(input, 0, static_cast<std::int64_t>(lo), static_cast<std::int64_t>(len))), lo, end};
}

template <class T>
RecurrentState<T> RecurrentLayer<T>::run_direction(Var<T> input, std::size_t row,
                                                   const std::optional<RecurrentState<T>>& initial, Var<T> mask,
                                                   std::span<Var<T>> outs, std::span<Var<T>> hidden,
                                                   std::span<Var<T>> segment_outs) {
    Tape<T>& t = *input.tape();
    const std::size_t steps = outs.size(), B = input.shape()[1], states = spec_.states;
    const bool reverse = row % num_directions() == 1;
    const std::size_t segment = segment_outs.empty() ? 0 : segment_steps(steps);
    auto loop = [&](BoundStep step) {
        RecurrentState<T> s = initial_state(t, states, row, B, o_.hidden_size, initial);
        Projection proj;
        std::size_t segment_begin = 0;
        for (std::size_t k = 0; k < steps; ++k) {
            const std::size_t at = reverse ? steps - 1 - k : k;
            if (segment != 0 && k % segment == 0) segment_begin = t.size();
            // Each chunk's input projection is one GEMM; its steps select
            // their slices, which share one gradient buffer.
            if (k == proj.end) proj = project_chunk(input, row, k, steps, segment);
            // Whatever the step records and does not return is released
            // unless a backward reads it: the cell keeps no list.
            const std::size_t step_begin = t.size();
            RecurrentState<T> next = step(select(proj.value, 0, static_cast<std::int64_t>(at - proj.lo)), s);
            t.release_since(step_begin, next.handles());
            if (mask) {
                const Var<T> m = select(mask, 0, static_cast<std::int64_t>(at));
                outs[at] = next.h * m;
                for (std::size_t j = 0; j < states; ++j) next[j] = where(m, next[j], s[j]);
            } else {
                outs[at] = next.h;
            }
            s = next;
            hidden[at] = s.h;
            // The steps' slices were its only readers (in a segment, its end drops it).
            if (segment == 0 && k + 1 == proj.end) t.drop_value(proj.value);
            if (segment != 0 && (k + 1 == steps || (k + 1) % segment == 0)) close_segment(t, segment_begin, k, steps, row, s, outs, segment_outs);
        }
        return s;
    };
    return run_bound(row, t, TimeLoop(loop));
}

template <class T>
void RecurrentLayer<T>::close_segment(Tape<T>& t, std::size_t begin, std::size_t k, std::size_t steps, std::size_t row,
                                      const RecurrentState<T>& s, std::span<const Var<T>> outs,
                                      std::span<Var<T>> segment_outs) {
    // The segment's outputs, stacked inside it: after the segment only the
    // stack and the state are kept. Stored in time order for the concat.
    const std::size_t segment = segment_steps(steps), j = k / segment;
    const std::size_t first = j * segment, len = k + 1 - first;
    const bool reverse = row % num_directions() == 1;
    const std::size_t lo = reverse ? steps - (k + 1) : first;
    const Var<T> stacked = stack<T>(outs.subspan(lo, len), 0);
    segment_outs[reverse ? segment_outs.size() - 1 - j : j] = stacked;
    const auto state = s.handles();
    const std::array<Var<T>, RecurrentState<T>::capacity + 1> keep{state[0], state[1], state[2], state[3], stacked};
    t.recompute_since(begin, keep);
}

template <class T>
RecurrentOutput<T> RecurrentLayer<T>::operator()(Var<T> x, const std::optional<RecurrentState<T>>& initial,
                                                 const std::vector<std::int64_t>& lengths, Generator* dropout_generator) {
    if (!o_.batch_first) return run(x, initial, lengths, dropout_generator);
    // (B, T, I) in and (B, T, D·H) out, as PyTorch's batch_first: a permute on
    // each side (recorded, so gradients flow); states stay (L·D, B, H).
    if (x && (x.dim() != 3 || x.shape()[2] != o_.input_size))
        throw ShapeError(std::string(spec_.name) + ": input of shape " + shape_str(x.shape()) + ", expected (B, T, " +
                         std::to_string(o_.input_size) + ") (batch_first)");
    if (x && x.shape()[1] == 0)
        throw ShapeError(std::string(spec_.name) + ": input of shape " + shape_str(x.shape()) + " has T = 0 time steps; need at least one");
    RecurrentOutput<T> out = run(x ? permute(x, {1, 0, 2}) : x, initial, lengths, dropout_generator);
    out.output = permute(out.output, {1, 0, 2});
    return out;
}

template <class T>
RecurrentOutput<T> RecurrentLayer<T>::run(Var<T> x, const std::optional<RecurrentState<T>>& initial,
                                          const std::vector<std::int64_t>& lengths, Generator* dropout_generator) {
    check_call(x, initial, lengths);
    Tape<T>& t = *x.tape();
    const std::size_t steps = x.shape()[0], D = num_directions(), LD = o_.num_layers * D, states = spec_.states;
    const Var<T> mask = lengths.empty() ? Var<T>() : step_mask(t, lengths, steps);
    // The call's handle lists live on the tape, not in the layer: the layer
    // stays reentrant (several threads, several tapes), the hidden states can
    // be returned, and a cleared tape hands the same storage back next step,
    // so a training loop allocates nothing. (A thread_local pool would do for
    // the scratch lists but not for step_hidden, which outlives the call.)
    const std::span<Var<T>> hidden = t.handle_buffer(LD * steps);
    const std::span<Var<T>> scratch = t.handle_buffer(steps + states * LD + D);
    const std::span<Var<T>> outs = scratch.first(steps), finals = scratch.subspan(steps, states * LD),
                            dir_out = scratch.last(D);
    // With recompute segments, each direction's output is the concatenation
    // of its segments' stacked outputs (one handle per segment).
    const std::size_t segment = o_.checkpoint_every == 0 || !grad_enabled() ? 0 : segment_steps(steps);
    const std::span<Var<T>> segment_outs =
        t.handle_buffer(segment == 0 ? 0 : steps / segment + (steps % segment != 0));  // no steps + segment: k may be ~2^64
    Var<T> input = x;
    for (std::size_t l = 0; l < o_.num_layers; ++l) {
        for (std::size_t d = 0; d < D; ++d) {
            const std::size_t row = l * D + d;
            const RecurrentState<T> s =
                run_direction(input, row, initial, mask, outs, hidden.subspan(row * steps, steps), segment_outs);
            for (std::size_t k = 0; k < states; ++k) finals[k * LD + row] = s[k];
            dir_out[d] = segment == 0 ? stack<T>(outs, 0) : concat<T>(segment_outs, 0);
            // The concat copied them, its backward reads nothing, and no
            // segment's recompute needs them (nothing in it reads them):
            // freed without drop_value's scan of every later node, which
            // would cost O(segments × nodes).
            for (const Var<T>& v : segment_outs) detail::TapeAccess<T>::free_unread_value(t, v);
        }
        input = D == 1 ? dir_out[0] : concat<T>(dir_out, 2);
        if (l + 1 < o_.num_layers) input = dropout_generator ? dropout_(input, *dropout_generator) : dropout_(input);
    }
    RecurrentOutput<T> out;
    out.output = input;
    for (std::size_t k = 0; k < states; ++k) out.state[k] = stack<T>(finals.subspan(k * LD, LD), 0);
    out.step_hidden = StepHidden<T>(hidden, LD);
    return out;
}

template class RecurrentLayer<float>;
template class RecurrentLayer<double>;
template class Recurrent<RNNCell<float>>;
template class Recurrent<RNNCell<double>>;
template class Recurrent<LSTMCell<float>>;
template class Recurrent<LSTMCell<double>>;
template class Recurrent<GRUCell<float>>;
template class Recurrent<GRUCell<double>>;

}  // namespace tapegrad
