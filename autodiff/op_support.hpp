#pragma once
/// \file
/// What an op's implementation needs besides its `OpContext`: operand checks,
/// recording with rollback (`record`, `Recording`), broadcasting and axis
/// geometry. Included by the library's op files and by anyone writing a
/// built-in-style op; user code normally needs only custom_op.hpp.
///
/// Every op is written the same way (docs/architecture.md, "Where an op lives"):
/// a struct with `forward(const OpContext<T>&, Tensor<T>& out)`,
/// `backward(OpContext<T>&)` and `static constexpr OpDef<T> def`, and a public
/// function that checks its operands with `tape_of`, checks what else it
/// must, and ends in `record<Op>(...)` (or a `Recording` when the node
/// carries integers or saved tensors).

#include <algorithm>
#include <array>
#include <cstring>
#include <initializer_list>
#include <span>
#include <string>

#include "op_context.hpp"
#include "profiler.hpp"

namespace tapegrad::detail {

/// The tape shared by all operands, each checked against its epoch.
[[noreturn]] void throw_dropped_input(const char* op, NodeId id, const std::string& shape);

template <class T>
Tape<T>& tape_of(const char* op, std::span<const Var<T>> xs) {
    if (xs.empty()) throw ArgumentError(std::string(op) + ": needs at least one operand");
    Tape<T>* t = xs[0].tape();
    if (t == nullptr) throw StaleVarError(std::string(op) + ": empty handle (default-constructed Var)");
    for (const Var<T>& x : xs) {
        t->check(x, op);
        if (TapeAccess<T>::node(*t, x.id()).value_dropped) throw_dropped_input(op, x.id(), shape_str(x.shape()));
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
    const std::string op = TapeAccess<T>::op_name(t, TapeAccess<T>::node(t, id));
    TapeAccess<T>::truncate(t, id);
    throw ShapeError(op + ": " + what);
}

/// Runs the op's forward into the node just recorded; on an exception the node
/// is removed again, so a failing op leaves the tape unchanged. Only tapegrad
/// errors leave: an output shape too large (`shape_size`) or an allocation
/// that failed becomes a `ShapeError` naming the op.
template <class T>
Var<T> finish(Tape<T>& t, NodeId id) {
    using A = TapeAccess<T>;
    Node<T>& n = A::node(t, id);
    Profiler* const profiler = t.profiler();
    const Profiler::Mark mark = profiler != nullptr ? Profiler::mark() : Profiler::Mark{};
    try {
        const OpContext<T> c(t, n);
        n.op->forward(c, n.value);
    } catch (const TensorTooLarge& e) {
        fail_forward(t, id, e.what() + ("; " + A::describe_inputs(t, n)));
    } catch (const std::bad_alloc&) {
        fail_forward(t, id, "out of memory computing an output from " + A::describe_inputs(t, n));
    } catch (const std::length_error&) {
        fail_forward(t, id, "out of memory computing an output from " + A::describe_inputs(t, n));
    } catch (...) {
        A::truncate(t, id);
        throw;
    }
    if (profiler != nullptr) [[unlikely]]
        profiler->forward_done(t, id, mark);
    if (t.detect_anomaly()) A::check_forward_anomaly(t, id);
    return Var<T>(&t, id, t.epoch());
}

/// Records a node of op `Op` on `t` with the given (checked) inputs and runs
/// its forward: the last step of every op's public function.
template <class Op, class T>
Var<T> record(Tape<T>& t, std::span<const Var<T>> inputs, const OpAttrs& attrs = {}) {
    return finish(t, TapeAccess<T>::record(t, &Op::def, inputs, attrs));
}
template <class Op, class T>
Var<T> record(Tape<T>& t, std::initializer_list<Var<T>> inputs, const OpAttrs& attrs = {}) {
    return record<Op>(t, std::span<const Var<T>>(inputs.begin(), inputs.size()), attrs);
}
/// The same, checking the inputs first (`tape_of`): for ops that need no
/// other check.
template <class Op, class T>
Var<T> record(std::initializer_list<Var<T>> inputs, const OpAttrs& attrs = {}) {
    return record<Op>(tape_of(Op::def.name, inputs), inputs, attrs);
}

/// A node that carries more than its inputs and attributes: integers
/// (indices, a shape), saved tensors (a mask) or a custom op's record.
/// Constructed once the op's checks passed; `finish()` runs the forward.
/// Until then the destructor removes the node again, so an op that throws
/// between the two leaves the tape unchanged.
template <class T>
class Recording {
public:
    Recording(Tape<T>& t, const OpDef<T>& op, std::span<const Var<T>> inputs, const OpAttrs& attrs = {})
        : t_(t), id_(TapeAccess<T>::record(t, &op, inputs, attrs)) {}
    Recording(Tape<T>& t, const OpDef<T>& op, std::initializer_list<Var<T>> inputs, const OpAttrs& attrs = {})
        : Recording(t, op, std::span<const Var<T>>(inputs.begin(), inputs.size()), attrs) {}
    Recording(const Recording&) = delete;
    Recording& operator=(const Recording&) = delete;
    ~Recording() {
        if (!finished_) TapeAccess<T>::truncate(t_, id_);
    }
    /// `count` integers for the op's `OpContext::indices()`: beyond 2^32 - 1
    /// on the tape, `ArgumentError` naming the op.
    std::int64_t* add_indices(std::size_t count) { return TapeAccess<T>::add_indices(t_, id_, count); }
    /// A tensor for the op's `OpContext::saved(k)`, k in the order added.
    Tensor<T>& add_saved() { return TapeAccess<T>::add_saved(t_, id_); }
    /// The record of a custom op (custom_op.hpp).
    void set_custom(CustomOpRecord<T> record) { TapeAccess<T>::set_custom(t_, id_, std::move(record)); }
    /// No gradient flows through the output (a comparison mask, `detach`),
    /// whatever its inputs need: backward never runs the op's backward.
    void stop_gradient() { TapeAccess<T>::node(t_, id_).requires_grad = false; }
    /// Runs the forward (see `finish` above) and returns the output.
    Var<T> finish() {
        finished_ = true;  // detail::finish removes the node itself if the forward fails
        return detail::finish(t_, id_);
    }

private:
    Tape<T>& t_;
    NodeId id_;
    bool finished_ = false;
};

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

/// Resizes `out` to `shape` unless it `fits` (no allocation when the size is
/// unchanged): for tensors outside the pool, such as a node's saved mask.
template <class T, class S>
void resize_to(Tensor<T>& out, const S& shape) {
    if (!fits(out, shape)) resize_tensor(out, shape);
}
}  // namespace tapegrad::detail
