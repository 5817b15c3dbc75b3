#include "recurrent.hpp"

#include <cmath>

#include "../autodiff/ops.hpp"

namespace tapegrad {

std::size_t gate_count(CellKind kind) {
    switch (kind) {
        case CellKind::lstm: return 4;
        case CellKind::gru: return 3;
        default: return 1;
    }
}

namespace {

const char* kind_name(CellKind kind) {
    switch (kind) {
        case CellKind::lstm: return "LSTM";
        case CellKind::gru: return "GRU";
        case CellKind::rnn_relu: return "RNN(relu)";
        default: return "RNN";
    }
}

void validate(CellKind kind, const RecurrentOptions& o) {
    const std::string who = kind_name(kind);
    if (o.hidden_size == 0) throw ArgumentError(who + ": hidden_size must be positive");
    if (o.num_layers == 0) throw ArgumentError(who + ": num_layers must be positive");
    if (!(o.dropout >= 0.0 && o.dropout < 1.0)) throw ArgumentError(who + ": dropout must lie in [0, 1)");
    if (o.forget_bias && kind != CellKind::lstm) throw ArgumentError(who + ": forget_bias applies to LSTM only");
}

template <class T>
Tensor<T> empty(std::size_t rows, std::size_t cols) {
    return detail::new_tensor<T>("recurrent layer", Shape{rows, cols});
}

}  // namespace

namespace detail {

template <class T>
Var<T> input_bias(CellKind kind, Tape<T>& t, CellWeights<T>& w, bool bias) {
    if (!bias) return {};
    const Var<T> b_hh = t.param(w.bias_hh);
    if (kind != CellKind::gru) return t.param(w.bias_ih) + b_hh;
    const std::size_t H = w.weight_hh.shape()[1];
    const auto h = static_cast<std::int64_t>(H);
    return t.param(w.bias_ih) + concat({narrow(b_hh, 0, 0, 2 * h), t.full({H}, T(0))}, 0);
}

template <class T>
StepWeights<T> step_weights(CellKind kind, Tape<T>& t, CellWeights<T>& w, bool bias) {
    StepWeights<T> s;
    s.w_hh = t.param(w.weight_hh);
    if (kind == CellKind::gru && bias) {
        const std::size_t H = w.weight_hh.shape()[1];
        s.b_hh = concat({t.full({2 * H}, T(0)), narrow(t.param(w.bias_hh), 0, 2 * static_cast<std::int64_t>(H),
                                                       static_cast<std::int64_t>(H))},
                        0);
    }
    return s;
}

template <class T>
RecurrentState<T> cell_step(CellKind kind, Var<T> gi, RecurrentState<T> s, const StepWeights<T>& w) {
    Tape<T>& t = *gi.tape();
    const auto H = static_cast<std::int64_t>(s.h.shape()[1]);
    // The step's temporaries are seen by nobody else, so each is dropped once
    // recorded: the tape frees those whose backward reads nothing of them
    // (slices, pre-activations, sums) and keeps the rest; under NoGradGuard it
    // frees them all. A sequence then holds a few (B, H) values per step.
    auto drop = [&t](std::initializer_list<Var<T>> vs) {
        for (const Var<T>& v : vs) t.drop_value(v);
    };
    switch (kind) {
        // gi (B, G·H) already holds the biases that are only ever summed: it is
        // the starting value of the recurrent GEMM, so h·W_hhᵀ lands on it
        // without a separate add.
        case CellKind::rnn_tanh:
        case CellKind::rnn_relu: {
            const Var<T> pre = linear(s.h, w.w_hh, gi);
            const Var<T> h = kind == CellKind::rnn_tanh ? tanh(pre) : relu(pre);
            drop({gi, pre});
            return {h, {}};
        }
        case CellKind::lstm: {
            const Var<T> gates = linear(s.h, w.w_hh, gi);
            const Var<T> ai = narrow(gates, 1, 0, H), af = narrow(gates, 1, H, H);
            const Var<T> ag = narrow(gates, 1, 2 * H, H), ao = narrow(gates, 1, 3 * H, H);
            const Var<T> i = sigmoid(ai), f = sigmoid(af), g = tanh(ag), o = sigmoid(ao);
            const Var<T> fc = f * s.c, ig = i * g;
            const Var<T> c = fc + ig;
            const Var<T> tc = tanh(c);
            const Var<T> h = o * tc;
            drop({gi, gates, ai, af, ag, ao, i, f, g, o, fc, ig, tc});
            return {h, c};
        }
        case CellKind::gru: {
            // One GEMM for all three gates; r and z take their summed
            // biases from gi, n takes b_hn inside r⊙(·) from the GEMM's bias.
            const Var<T> gh = w.b_hh ? linear(s.h, w.w_hh, w.b_hh) : linear(s.h, w.w_hh);
            const Var<T> gi_rz = narrow(gi, 1, 0, 2 * H), gh_rz = narrow(gh, 1, 0, 2 * H);
            const Var<T> pre_rz = gi_rz + gh_rz;
            const Var<T> pre_r = narrow(pre_rz, 1, 0, H), pre_z = narrow(pre_rz, 1, H, H);
            const Var<T> r = sigmoid(pre_r), z = sigmoid(pre_z);
            const Var<T> gh_n = narrow(gh, 1, 2 * H, H);
            const Var<T> gi_n = narrow(gi, 1, 2 * H, H);
            const Var<T> rg = r * gh_n;
            const Var<T> pre_n = gi_n + rg;
            const Var<T> n = tanh(pre_n);
            const Var<T> d = s.h - n;
            const Var<T> zd = z * d;
            const Var<T> h = n + zd;  // (1 − z)⊙n + z⊙h
            drop({gi, gh, gi_rz, gh_rz, pre_rz, pre_r, pre_z, r, z, gh_n, gi_n, rg, pre_n, n, d, zd});
            return {h, {}};
        }
    }
    throw ArgumentError("cell_step: unknown cell kind");
}

template <class T>
CellWeights<T>::CellWeights(CellKind kind, std::size_t input, std::size_t hidden, const RecurrentOptions& o, Generator& gen) {
    const std::size_t G = gate_count(kind);
    const char* who = kind_name(kind);
    std::size_t rows = 0;  // G gates of `hidden` rows each
    if (!checked_mul(G, hidden, rows))
        throw ShapeError(std::string(who) + ": " + std::to_string(G) + " gates of hidden size " + std::to_string(hidden) +
                         " are more rows than a tensor can hold");
    weight_ih = Parameter<T>(detail::new_tensor<T>(who, Shape{rows, input}));
    weight_hh = Parameter<T>(detail::new_tensor<T>(who, Shape{rows, hidden}));
    bias_ih = Parameter<T>(detail::new_tensor<T>(who, Shape{rows}));
    bias_hh = Parameter<T>(detail::new_tensor<T>(who, Shape{rows}));
    if (o.init == RecurrentInit::pytorch) {
        // PyTorch's order: w_ih, w_hh, b_ih, b_hh, each U(±1/√H).
        const double k = 1.0 / std::sqrt(double(hidden));
        uniform_(weight_ih.mutable_value(), -k, k, gen);
        uniform_(weight_hh.mutable_value(), -k, k, gen);
        uniform_(bias_ih.mutable_value(), -k, k, gen);
        uniform_(bias_hh.mutable_value(), -k, k, gen);
    } else {
        xavier_uniform_(weight_ih.mutable_value(), gen);
        xavier_uniform_(weight_hh.mutable_value(), gen);
        bias_ih.mutable_value().fill(T(0));
        bias_hh.mutable_value().fill(T(0));
    }
    if (o.orthogonal_recurrent) {
        // Each gate's own H × H block is orthogonal.
        Tensor<T> block = empty<T>(hidden, hidden);
        T* w = weight_hh.mutable_value().data();
        for (std::size_t g = 0; g < G; ++g) {
            orthogonal_(block, gen);
            std::copy(block.begin(), block.end(), w + g * hidden * hidden);
        }
    }
    if (!o.bias) {
        bias_ih.mutable_value().fill(T(0));
        bias_hh.mutable_value().fill(T(0));
    }
    if (o.forget_bias) {
        T* bi = bias_ih.mutable_value().data();
        T* bh = bias_hh.mutable_value().data();
        for (std::size_t j = hidden; j < 2 * hidden; ++j) {
            bi[j] = static_cast<T>(*o.forget_bias);
            bh[j] = T(0);
        }
    }
}

template <class T>
void CellWeights<T>::visit(ModuleVisitor<T>& v, const std::string& suffix, bool bias) {
    v.param("weight_ih" + suffix, weight_ih);
    v.param("weight_hh" + suffix, weight_hh);
    if (bias) {
        v.param("bias_ih" + suffix, bias_ih);
        v.param("bias_hh" + suffix, bias_hh);
    }
}

}  // namespace detail

// ---- cells ---------------------------------------------------------------------

template <class T>
CellBase<T>::CellBase(CellKind kind, const RecurrentOptions& o, Generator& gen)
    : kind_(kind), input_(o.input_size), hidden_(o.hidden_size), bias_(o.bias) {
    validate(kind, o);
    w_ = detail::CellWeights<T>(kind, o.input_size, o.hidden_size, o, gen);
}

template <class T>
RecurrentState<T> CellBase<T>::step(Var<T> x, RecurrentState<T> s) {
    const std::string who = std::string(kind_name(kind_)) + "Cell";
    if (!x || !s.h) throw StaleVarError(who + ": empty input or state handle");
    if (x.dim() != 2 || x.shape()[1] != input_)
        throw ShapeError(who + ": input of shape " + shape_str(x.shape()) + ", expected (B, " + std::to_string(input_) + ")");
    const std::size_t B = x.shape()[0];
    auto check_state = [&](Var<T> v, const char* name) {
        if (!v) throw StaleVarError(who + ": empty " + name + " handle");
        if (v.dim() != 2 || v.shape()[0] != B || v.shape()[1] != hidden_)
            throw ShapeError(who + ": " + name + " of shape " + shape_str(v.shape()) + ", expected (" + std::to_string(B) +
                             ", " + std::to_string(hidden_) + ")");
    };
    check_state(s.h, "h");
    if (kind_ == CellKind::lstm) check_state(s.c, "c");
    Tape<T>& t = *x.tape();
    const Var<T> b = detail::input_bias(kind_, t, w_, bias_);
    const Var<T> gi = b ? linear(x, t.param(w_.weight_ih), b) : linear(x, t.param(w_.weight_ih));
    return detail::cell_step(kind_, gi, s, detail::step_weights(kind_, t, w_, bias_));
}

template <class T>
RNNCell<T>::RNNCell(const RecurrentOptions& o, Generator& gen, bool relu)
    : CellBase<T>(relu ? CellKind::rnn_relu : CellKind::rnn_tanh, o, gen) {}

// ---- sequence layers ---------------------------------------------------------------

template <class T>
RecurrentLayer<T>::RecurrentLayer(CellKind kind, const RecurrentOptions& o, Generator& gen)
    : kind_(kind), o_(o), dropout_(o.dropout, o.dropout_seed) {
    validate(kind, o);
    for (std::size_t l = 0; l < o.num_layers; ++l)
        for (std::size_t d = 0; d < num_directions(); ++d)
            w_.emplace_back(kind, l == 0 ? o.input_size : o.hidden_size * num_directions(), o.hidden_size, o, gen);
}

template <class T>
void RecurrentLayer<T>::visit(ModuleVisitor<T>& v) {
    for (std::size_t l = 0; l < o_.num_layers; ++l)
        for (std::size_t d = 0; d < num_directions(); ++d)
            w_[l * num_directions() + d].visit(v, "_l" + std::to_string(l) + (d ? "_reverse" : ""), o_.bias);
    v.module("dropout", dropout_);
}

template <class T>
void RecurrentLayer<T>::check_call(Var<T> x, const std::optional<RecurrentState<T>>& initial,
                                   const std::vector<std::int64_t>& lengths) const {
    const std::string who = kind_name(kind_);
    if (!x) throw StaleVarError(who + ": empty input handle");
    const std::size_t I = w_[0].weight_ih.shape()[1];
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
    if (initial) {
        auto check = [&](Var<T> v, const char* name) {
            if (!v) throw StaleVarError(who + ": empty initial " + name);
            if (v.dim() != 3 || v.shape()[0] != LD || v.shape()[1] != B || v.shape()[2] != H)
                throw ShapeError(who + ": initial " + name + " of shape " + shape_str(v.shape()) + ", expected (" +
                                 std::to_string(LD) + ", " + std::to_string(B) + ", " + std::to_string(H) + ")");
        };
        check(initial->h, "h");
        if (kind_ == CellKind::lstm) check(initial->c, "c");
    }
    if (lengths.empty()) return;
    if (lengths.size() != B)
        throw ShapeError(who + ": " + std::to_string(lengths.size()) + " lengths for a batch of " + std::to_string(B));
    for (std::size_t b = 0; b < B; ++b)
        if (lengths[b] < 0 || lengths[b] > static_cast<std::int64_t>(steps))
            throw ArgumentError(who + ": length " + std::to_string(lengths[b]) + " of sequence " + std::to_string(b) +
                                " is outside [0, " + std::to_string(steps) + "]");
}

namespace {

// (T, B, 1): 1 while t < length (lengths already checked). Written straight
// into a constant on the tape: no member to race on, no allocation once the
// tape's pool holds a buffer of that size.
template <class T>
Var<T> step_mask(Tape<T>& t, const std::vector<std::int64_t>& lengths, std::size_t steps) {
    const std::size_t B = lengths.size();
    const Var<T> mask = t.full({steps, B, std::size_t(1)}, T(0));
    T* m = t.node(mask.id()).value.data();
    for (std::size_t b = 0; b < B; ++b)
        for (std::size_t s = 0; s < static_cast<std::size_t>(lengths[b]); ++s) m[s * B + b] = T(1);
    return mask;
}

}  // namespace

template <class T>
RecurrentState<T> RecurrentLayer<T>::run_direction(Var<T> input, std::size_t l, std::size_t d,
                                                   const std::optional<RecurrentState<T>>& initial, Var<T> mask,
                                                   std::span<Var<T>> outs, std::span<Var<T>> hidden) {
    Tape<T>& t = *input.tape();
    const std::size_t steps = outs.size(), B = input.shape()[1], H = o_.hidden_size, D = num_directions();
    const bool lstm = kind_ == CellKind::lstm;
    detail::CellWeights<T>& w = w_[l * D + d];
    // The input projection of all steps is one GEMM; each step selects
    // its slice, and the slices share one gradient buffer.
    const Var<T> b = detail::input_bias(kind_, t, w, o_.bias);
    const Var<T> proj = b ? linear(input, t.param(w.weight_ih), b) : linear(input, t.param(w.weight_ih));
    const detail::StepWeights<T> sw = detail::step_weights(kind_, t, w, o_.bias);
    RecurrentState<T> s;
    if (initial) {
        s.h = select(initial->h, 0, static_cast<std::int64_t>(l * D + d));
        if (lstm) s.c = select(initial->c, 0, static_cast<std::int64_t>(l * D + d));
    } else {
        s.h = t.full({B, H}, T(0));
        if (lstm) s.c = s.h;
    }
    for (std::size_t k = 0; k < steps; ++k) {
        const std::size_t step = d == 0 ? k : steps - 1 - k;
        const auto si = static_cast<std::int64_t>(step);
        RecurrentState<T> next = detail::cell_step(kind_, select(proj, 0, si), s, sw);
        if (mask) {
            const Var<T> m = select(mask, 0, si);
            outs[step] = next.h * m;
            next.h = where(m, next.h, s.h);
            if (lstm) next.c = where(m, next.c, s.c);
        } else {
            outs[step] = next.h;
        }
        s = next;
        hidden[step] = s.h;
    }
    t.drop_value(proj);  // the steps' slices were its only readers
    return s;
}

template <class T>
RecurrentOutput<T> RecurrentLayer<T>::operator()(Var<T> x, const std::optional<RecurrentState<T>>& initial,
                                                 const std::vector<std::int64_t>& lengths, Generator* dropout_generator) {
    check_call(x, initial, lengths);
    Tape<T>& t = *x.tape();
    const std::size_t steps = x.shape()[0], D = num_directions(), LD = o_.num_layers * D;
    const bool lstm = kind_ == CellKind::lstm;
    const Var<T> mask = lengths.empty() ? Var<T>() : step_mask(t, lengths, steps);
    // The call's handle lists live on the tape, not in the layer: the layer
    // stays reentrant (several threads, several tapes), the hidden states can
    // be returned, and a cleared tape hands the same storage back next step,
    // so a training loop allocates nothing. (A thread_local pool would do for
    // the scratch lists but not for step_hidden, which outlives the call.)
    const std::span<Var<T>> hidden = t.handle_buffer(LD * steps);
    const std::span<Var<T>> scratch = t.handle_buffer(steps + 2 * LD + D);
    const std::span<Var<T>> outs = scratch.first(steps), final_h = scratch.subspan(steps, LD),
                            final_c = scratch.subspan(steps + LD, LD), dir_out = scratch.last(D);
    Var<T> input = x;
    for (std::size_t l = 0; l < o_.num_layers; ++l) {
        for (std::size_t d = 0; d < D; ++d) {
            const std::size_t row = l * D + d;
            const RecurrentState<T> s = run_direction(input, l, d, initial, mask, outs, hidden.subspan(row * steps, steps));
            final_h[row] = s.h;
            if (lstm) final_c[row] = s.c;
            dir_out[d] = stack<T>(outs, 0);
        }
        input = D == 1 ? dir_out[0] : concat<T>(dir_out, 2);
        if (l + 1 < o_.num_layers) input = dropout_generator ? dropout_(input, *dropout_generator) : dropout_(input);
    }
    RecurrentOutput<T> out;
    out.output = input;
    out.state.h = stack<T>(final_h, 0);
    if (lstm) out.state.c = stack<T>(final_c, 0);
    out.step_hidden = StepHidden<T>(hidden, LD);
    return out;
}

template struct detail::CellWeights<float>;
template struct detail::CellWeights<double>;
template Var<float> detail::input_bias(CellKind, Tape<float>&, detail::CellWeights<float>&, bool);
template Var<double> detail::input_bias(CellKind, Tape<double>&, detail::CellWeights<double>&, bool);
template detail::StepWeights<float> detail::step_weights(CellKind, Tape<float>&, detail::CellWeights<float>&, bool);
template detail::StepWeights<double> detail::step_weights(CellKind, Tape<double>&, detail::CellWeights<double>&, bool);
template RecurrentState<float> detail::cell_step(CellKind, Var<float>, RecurrentState<float>, const detail::StepWeights<float>&);
template RecurrentState<double> detail::cell_step(CellKind, Var<double>, RecurrentState<double>, const detail::StepWeights<double>&);
template class CellBase<float>;
template class CellBase<double>;
template class RNNCell<float>;
template class RNNCell<double>;
template class RecurrentLayer<float>;
template class RecurrentLayer<double>;

}  // namespace tapegrad
