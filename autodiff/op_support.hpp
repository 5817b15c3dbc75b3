#pragma once
/// \file
/// What an op's implementation needs: operand checks, recording with rollback,
/// gradient accumulation with shape checks, broadcasting and axis geometry.
/// Included by the library's op files and by anyone writing a built-in-style
/// op; user code normally needs only custom_op.hpp.

#include <algorithm>
#include <array>
#include <cstring>
#include <initializer_list>
#include <span>
#include <string>

#include <xtensor/xnoalias.hpp>

#include "kernels.hpp"
#include "profiler.hpp"
#include "tape.hpp"

namespace tapegrad::detail {

/// A shape held inline (up to 4 axes without touching the heap): ops use it so
/// that recording and backward allocate nothing in a steady training loop.
using Dims = Tensor<float>::shape_type;

/// The tape shared by all operands, each checked against its epoch.
[[noreturn]] void throw_dropped_input(const char* op, NodeId id, const std::string& shape);

template <class T>
Tape<T>& tape_of(const char* op, std::span<const Var<T>> xs) {
    if (xs.empty()) throw ArgumentError(std::string(op) + ": needs at least one operand");
    Tape<T>* t = xs[0].tape();
    if (t == nullptr) throw StaleVarError(std::string(op) + ": empty handle (default-constructed Var)");
    for (const Var<T>& x : xs) {
        t->check(x, op);
        if (t->node(x.id()).value_dropped) throw_dropped_input(op, x.id(), shape_str(x.shape()));
    }
    return *t;
}
template <class T>
Tape<T>& tape_of(const char* op, std::initializer_list<Var<T>> xs) {
    return tape_of(op, std::span<const Var<T>>(xs.begin(), xs.size()));
}

/// Rethrows a failure of node `id`'s forward as a tapegrad error naming its op
/// (a shape too large, memory exhausted) after removing the node.
template <class T>
[[noreturn]] void fail_forward(Tape<T>& t, NodeId id, const std::string& what) {
    const std::string op = t.op_name(t.node(id));
    t.truncate(id);
    throw ShapeError(op + ": " + what);
}

/// Runs the op's forward into the node just recorded; on an exception the node
/// is removed again, so a failing op leaves the tape unchanged. Only tapegrad
/// errors leave: an output shape too large (`shape_size`) or an allocation
/// that failed becomes a `ShapeError` naming the op.
template <class T>
Var<T> finish(Tape<T>& t, NodeId id) {
    Node<T>& n = t.node(id);
    Profiler* const profiler = t.profiler();
    const Profiler::Mark mark = profiler != nullptr ? Profiler::mark() : Profiler::Mark{};
    try {
        n.op->forward(t, n, n.value);
    } catch (const TensorTooLarge& e) {
        fail_forward(t, id, e.what() + ("; " + t.describe_inputs(n)));
    } catch (const std::bad_alloc&) {
        fail_forward(t, id, "out of memory computing an output from " + t.describe_inputs(n));
    } catch (const std::length_error&) {
        fail_forward(t, id, "out of memory computing an output from " + t.describe_inputs(n));
    } catch (...) {
        t.truncate(id);
        throw;
    }
    if (profiler != nullptr) [[unlikely]]
        profiler->forward_done(t, id, mark);
    if (t.detect_anomaly()) t.check_forward_anomaly(id);
    return Var<T>(&t, id, t.epoch());
}

template <class S>
Dims to_shape(const S& s) {
    return Dims(s.begin(), s.end());
}

template <class S1, class S2>
bool shapes_equal(const S1& a, const S2& b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

/// numpy broadcasting of two shapes; `ShapeError` naming `op` if incompatible.
template <class S1, class S2>
Dims broadcast_shapes(const char* op, const S1& a, const S2& b) {
    const std::size_t r = std::max(a.size(), b.size());
    Dims out(r);
    for (std::size_t k = 0; k < r; ++k) {
        const std::size_t da = k < r - a.size() ? 1 : a[k - (r - a.size())];
        const std::size_t db = k < r - b.size() ? 1 : b[k - (r - b.size())];
        if (da != db && da != 1 && db != 1)
            throw ShapeError(std::string(op) + ": shapes " + shape_str(a) + " and " + shape_str(b) +
                             " cannot be broadcast together (axis " + std::to_string(k) + ": " + std::to_string(da) +
                             " vs " + std::to_string(db) + ")");
        out[k] = da == 1 ? db : da;
    }
    return out;
}

/// An axis in [-rank, rank) as a position in [0, rank); `ArgumentError` otherwise.
inline std::size_t normalize_axis(const char* op, std::int64_t axis, std::size_t rank) {
    const auto r = static_cast<std::int64_t>(rank);
    if (axis < -r || axis >= r)
        throw ArgumentError(std::string(op) + ": axis " + std::to_string(axis) + " is out of range for a tensor of rank " +
                            std::to_string(rank));
    return static_cast<std::size_t>(axis < 0 ? axis + r : axis);
}

/// A tensor seen as (outer, n, inner) around one axis (row-major).
struct AxisGeometry {
    std::size_t outer = 1, n = 1, inner = 1;
};
template <class S>
AxisGeometry axis_geometry(const S& shape, std::size_t axis) {
    AxisGeometry g;
    for (std::size_t k = 0; k < axis; ++k) g.outer *= shape[k];
    g.n = shape[axis];
    for (std::size_t k = axis + 1; k < shape.size(); ++k) g.inner *= shape[k];
    return g;
}

[[noreturn]] void throw_grad_shape(const char* op, const Dims& grad, const Dims& input);

/// Adds the expression `e` into the gradient of node `p` (first contribution
/// assigns). `e` must have exactly p's shape: xtensor's `+=` would silently
/// broadcast-resize otherwise, so the shape is checked here.
template <class T, class E>
void accumulate(Tape<T>& t, const Node<T>& n, NodeId p, const E& e) {
    Node<T>& pn = t.node(p);
    if (!shapes_equal(e.shape(), pn.value.shape())) throw_grad_shape(t.op_name(n), to_shape(e.shape()), to_shape(pn.value.shape()));
    // An empty gradient is only made live: xtensor's strided assignment can
    // step through the outer axes of an empty (2^40, 0) tensor one by one.
    if (!pn.grad_live) {
        Tensor<T>& g = t.acquire_grad(p);
        if (g.size() != 0) xt::noalias(g) = e;
    } else if (pn.grad.size() != 0) {
        xt::noalias(pn.grad) += e;
    }
}

/// The same-shape fast path of `accumulate`: adds f(i) into element i of p's
/// gradient (assigns on first touch). The caller guarantees that f covers
/// exactly p's number of elements.
template <class T, class F>
void accumulate_each(Tape<T>& t, NodeId p, F f) {
    Node<T>& pn = t.node(p);
    const bool first = !pn.grad_live;
    Tensor<T>& g = first ? t.acquire_grad(p) : pn.grad;
    kernels::store_or_add(g.data(), g.size(), first, f);
}

/// dst (shape `dshape`, broadcastable to `sshape`) += src summed over the
/// broadcast axes. Contiguous row-major buffers; no allocation.
template <class T>
void add_reduced(T* dst, const Dims& dshape, const T* src, const Dims& sshape);

/// Like `accumulate`, for an `e` of the broadcast output shape: sums it back to
/// p's shape (via a tape scratch buffer when the shapes differ).
template <class T, class E>
void accumulate_broadcast(Tape<T>& t, const Node<T>& n, NodeId p, const E& e) {
    Node<T>& pn = t.node(p);
    if (shapes_equal(e.shape(), pn.value.shape())) {
        accumulate(t, n, p, e);
        return;
    }
    if (shape_size(e.shape()) == 0) {  // nothing to sum: p's gradient is zeros (no loop over empty rows)
        t.grad_buffer(p);
        return;
    }
    Tensor<T>& s = t.scratch();
    if (!shapes_equal(s.shape(), e.shape())) resize_tensor(s, e.shape());
    xt::noalias(s) = e;
    add_reduced(t.grad_buffer(p).data(), to_shape(pn.value.shape()), s.data(), to_shape(s.shape()));
}

/// Adds a contiguous buffer of p's size into p's gradient (a copy on first touch).
template <class T>
void accumulate_raw(Tape<T>& t, NodeId p, const T* g) {
    if (!t.node(p).grad_live) {
        Tensor<T>& dst = t.acquire_grad(p);
        if (dst.size() != 0) std::memcpy(dst.data(), g, dst.size() * sizeof(T));
        return;
    }
    Tensor<T>& dst = t.node(p).grad;
    T* d = dst.data();
    for (std::size_t i = 0, e = dst.size(); i < e; ++i) d[i] += g[i];
}

/// Resizes `out` to `shape` (no allocation when the size is unchanged). The
/// storage is checked too: a node's value dropped in an earlier epoch keeps
/// its shape but not its elements.
template <class T, class S>
void resize_to(Tensor<T>& out, const S& shape) {
    if (!shapes_equal(out.shape(), shape) || out.storage().size() != shape_size(shape)) resize_tensor(out, shape);
}
/// An op's output: like the above, taking storage from the tape's pool of
/// dropped values when `out`'s own does not fit.
template <class T, class S>
void resize_to(const Tape<T>& t, Tensor<T>& out, const S& shape) {
    if (shapes_equal(out.shape(), shape) && out.storage().size() == shape_size(shape)) return;
    t.fit_value(out, std::span<const std::size_t>(shape.data(), shape.size()));
}

}  // namespace tapegrad::detail
