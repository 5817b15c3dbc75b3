#pragma once
/// \file
/// `OpContext<T>`: everything an op's forward and backward may touch, and
/// nothing else. The tape passes one to `OpDef::forward` (as const: inputs,
/// attributes, output storage) and to `OpDef::backward` (also the output's
/// gradient and the inputs' gradients). Inputs are numbered as the op
/// recorded them; node ids, the node store and the tape's buffers stay
/// private to the tape.

#include <algorithm>
#include <cstring>
#include <span>
#include <string>

#include <xtensor/xnoalias.hpp>

#include "kernels.hpp"
#include "tape.hpp"

namespace tapegrad {

namespace detail {
/// A shape held inline (up to 4 axes without touching the heap): ops use it so
/// that recording and backward allocate nothing in a steady training loop.
using Dims = Tensor<float>::shape_type;

template <class S1, class S2>
bool shapes_equal(const S1& a, const S2& b) {
    // A loop, not std::equal: that becomes a call to memcmp for two or three
    // integers, which every op pays several times per node.
    if (a.size() != b.size()) return false;
    for (std::size_t k = 0; k < a.size(); ++k)
        if (a[k] != b[k]) return false;
    return true;
}
template <class S>
Dims to_shape(const S& s) {
    return Dims(s.begin(), s.end());
}

/// Whether `out` already has `shape` and storage for exactly its elements (a
/// value dropped in an earlier epoch keeps its shape but not its elements).
template <class T, class S>
bool fits(const Tensor<T>& out, const S& shape) {
    return shapes_equal(out.shape(), shape) && out.storage().size() == shape_size(shape);
}

[[noreturn]] void throw_grad_shape(const char* op, const Dims& grad, const Dims& input);

/// dst (shape `dshape`, broadcastable to `sshape`) += src summed over the
/// broadcast axes. Contiguous row-major buffers; no allocation.
template <class T>
void add_reduced(T* dst, const Dims& dshape, const T* src, const Dims& sshape);
}  // namespace detail

template <class T>
class OpContext {
public:
    using Shape = typename Tensor<T>::shape_type;

    /// Built by the tape (and the audit) around the node being run.
    OpContext(Tape<T>& tape, const detail::Node<T>& node) : t_(tape), n_(node) {}

    // ---- both passes: the op's inputs and constants ------------------------
    std::size_t inputs() const { return n_.parents_count; }
    /// Input k's value. In backward, `ContractError` naming the op if the op's
    /// `backward_reads` did not declare it and the tape dropped it.
    const Tensor<T>& input(std::size_t k) const { return t_.parent_value(n_, k); }
    /// Input k transposed (cols × rows, row-major), when it is a 2-D
    /// parameter this tape has read so before, or `first_too`: for a product
    /// that reads the same weight transposed at every time step, or one large
    /// enough that a copy costs little against it. nullptr otherwise (the
    /// first read without `first_too` included): then use `input(k)`.
    const T* input_transposed(std::size_t k, bool first_too = false) const { return t_.transposed_parent(n_, k, first_too); }
    /// Input k's shape, readable also after its value was dropped.
    const Shape& input_shape(std::size_t k) const { return t_.parent_shape(n_, k); }
    /// The attributes the op recorded, as its struct (see `OpAttrs`).
    template <class A>
    A attrs() const {
        return n_.attrs.template as<A>();
    }
    /// The integers recorded with the node (`Recording::add_indices`).
    std::span<const std::int64_t> indices() const { return t_.indices(n_); }
    /// Saved tensor k (`Recording::add_saved`): a mask, a target.
    const Tensor<T>& saved(std::size_t k) const { return t_.saved(n_, k); }
    /// The record of a custom op (custom_op.hpp).
    const CustomOpRecord<T>& custom() const { return t_.custom(n_); }
    /// The op's name (a custom op's own), for messages.
    const char* op_name() const { return t_.op_name(n_); }
    /// "inputs of shapes (2, 3), (3,)", for messages.
    std::string describe_inputs() const { return t_.describe_inputs(n_); }
    /// Sizes `out` to `shape` (no allocation when the size is unchanged),
    /// taking storage from the tape's pool when its own does not fit
    /// (`detail::fits`).
    template <class S>
    void fit(Tensor<T>& out, const S& shape) const {
        if (detail::fits(out, shape)) return;
        t_.fit_value(out, std::span<const std::size_t>(shape.data(), shape.size()));
    }

    // ---- backward: the output's gradient in, the inputs' gradients out ------
    /// The gradient of the loss with respect to the op's output.
    const Tensor<T>& grad() const { return n_.grad; }
    /// The op's own output value (declare `kReadsOutput`; `ContractError`
    /// otherwise once the tape dropped it).
    const Tensor<T>& output() const { return t_.output_value(n_); }
    /// The output's shape, readable also after its value was dropped.
    const Shape& output_shape() const { return n_.value.shape(); }
    /// Whether backward must compute input k's gradient.
    bool needs_grad(std::size_t k) const { return t_.needs_grad(parent(k)); }
    /// Input k's gradient buffer, zero-filled on first touch in this
    /// backward: for ops that add in place (GEMM with beta = 1, slices).
    Tensor<T>& grad_buffer(std::size_t k) { return t_.grad_buffer(parent(k)); }
    /// Whether input k's gradient has been written in this backward.
    bool grad_started(std::size_t k) const { return t_.node(parent(k)).grad_live; }
    /// Input k's gradient made live, contents unspecified: for a first write
    /// that assigns (check `grad_started` first).
    Tensor<T>& acquire_grad(std::size_t k) { return t_.acquire_grad(parent(k)); }
    /// Input k's gradient, about to receive its contiguous elements
    /// [begin, end): `assign` true when they hold no gradient yet (write
    /// them), false when they must be added to. Everything outside the block
    /// that holds no gradient reads as zero to everyone else (see
    /// `Tape::grad_block`).
    Tensor<T>& grad_block(std::size_t k, std::size_t begin, std::size_t end, bool& assign) {
        return t_.grad_block(parent(k), begin, end, assign);
    }
    /// A scratch tensor (reused across nodes, never shrunk).
    Tensor<T>& scratch() { return t_.scratch(); }
    /// Adds aᵀ·b (a: rows × m, b: rows × n, row-major) into input k's
    /// gradient (m × n): a weight gradient, maybe gathered with other steps'
    /// (see `Tape::accumulate_atb`).
    void accumulate_atb(std::size_t k, const T* a, const T* b, std::size_t rows, std::size_t m, std::size_t n) {
        t_.accumulate_atb(parent(k), a, b, rows, m, n);
    }

    /// Adds the expression `e` into input k's gradient (the first
    /// contribution assigns). `e` must have exactly the input's shape:
    /// xtensor's `+=` would silently broadcast-resize otherwise.
    template <class E>
    void accumulate(std::size_t k, const E& e) {
        const detail::Node<T>& p = t_.node(parent(k));
        if (!detail::shapes_equal(e.shape(), p.value.shape()))
            detail::throw_grad_shape(op_name(), detail::to_shape(e.shape()), detail::to_shape(p.value.shape()));
        // An empty gradient is only made live: xtensor's strided assignment can
        // step through the outer axes of an empty (2^40, 0) tensor one by one.
        if (!p.grad_live) {
            Tensor<T>& g = acquire_grad(k);
            if (g.size() != 0) xt::noalias(g) = e;
        } else if (p.grad.size() != 0) {
            xt::noalias(grad_of(k)) += e;
        }
    }
    /// The same-shape fast path: adds f(i) into element i of input k's
    /// gradient (assigns on first touch). f must cover exactly its elements.
    template <class F>
    void accumulate_each(std::size_t k, F f) {
        const bool first = !grad_started(k);
        Tensor<T>& g = first ? acquire_grad(k) : grad_of(k);
        kernels::store_or_add(g.data(), g.size(), first, f);
    }
    /// Like `accumulate`, for an `e` of the broadcast output's shape: sums it
    /// back to input k's shape (via the scratch buffer when they differ).
    template <class E>
    void accumulate_broadcast(std::size_t k, const E& e) {
        const Shape& shape = input_shape(k);
        if (detail::shapes_equal(e.shape(), shape)) {
            accumulate(k, e);
            return;
        }
        if (shape_size(e.shape()) == 0) {  // nothing to sum: the gradient is zeros (no loop over empty rows)
            grad_buffer(k);
            return;
        }
        Tensor<T>& s = scratch();
        if (!detail::shapes_equal(s.shape(), e.shape())) detail::resize_tensor(s, e.shape());
        xt::noalias(s) = e;
        detail::add_reduced(grad_buffer(k).data(), detail::to_shape(shape), s.data(), detail::to_shape(s.shape()));
    }
    /// Adds a contiguous buffer of input k's size into its gradient (a copy
    /// on first touch).
    void accumulate_raw(std::size_t k, const T* g) {
        if (!grad_started(k)) {
            Tensor<T>& dst = acquire_grad(k);
            if (dst.size() != 0) std::memcpy(dst.data(), g, dst.size() * sizeof(T));
            return;
        }
        Tensor<T>& dst = grad_of(k);
        T* d = dst.data();
        for (std::size_t i = 0, e = dst.size(); i < e; ++i) d[i] += g[i];
    }

private:
    NodeId parent(std::size_t k) const { return t_.parent(n_, k); }
    Tensor<T>& grad_of(std::size_t k) {
        detail::Node<T>& p = t_.node(parent(k));
        t_.zero_unset_grad(p);
        return p.grad;
    }

    Tape<T>& t_;
    const detail::Node<T>& n_;
};

/// The attributes an op recorded, as its struct: `op_attrs<NarrowAttrs>(c)`.
template <class A, class T>
A op_attrs(const OpContext<T>& c) {
    return c.template attrs<A>();
}

}  // namespace tapegrad
