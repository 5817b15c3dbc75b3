// Elementwise ops: each op's forward and backward side by side.

#include <cmath>

#include <xtensor/xmath.hpp>
#include <xtensor/xoperation.hpp>

#include "ops.hpp"
#include "op_support.hpp"

namespace tapegrad {

using detail::Dims;

using detail::accumulate;
using detail::accumulate_broadcast;
using detail::resize_to;

namespace {

template <class Op, class T>
Var<T> record_op(std::initializer_list<Var<T>> xs, const OpAttrs& attrs = {}) {
    Tape<T>& t = detail::tape_of(Op::def.name, xs);
    return detail::finish(t, t.record(&Op::def, xs, attrs));
}

/// Binary ops check broadcastability before recording, so the error names the op.
template <class Op, class T>
Var<T> record_binary(Var<T> a, Var<T> b) {
    Tape<T>& t = detail::tape_of(Op::def.name, {a, b});
    detail::broadcast_shapes(Op::def.name, a.shape(), b.shape());
    return detail::finish(t, t.record(&Op::def, {a, b}));
}

template <class T>
const Tensor<T>& in(const Tape<T>& t, const Node<T>& n, std::size_t k) {
    return t.parent_value(n, k);
}

// Sizes `out` to the broadcast shape of the node's parents. Callers skip the
// assignment when it is empty: xtensor's strided assignment steps through the
// outer axes of an empty (2^40, 0) broadcast one row at a time.
template <class T>
void resize_broadcast(const Tape<T>& t, const Node<T>& n, Tensor<T>& out, const char* op) {
    Dims s = detail::to_shape(t.parent_shape(n, 0));
    for (std::size_t k = 1; k < n.parents_count; ++k) s = detail::broadcast_shapes(op, s, t.parent_shape(n, k));
    resize_to(t, out, s);
}

// ---- binary ------------------------------------------------------------------

// Binary ops take a raw loop when both operands have the same shape (the
// common case inside cells) and an xtensor broadcasting expression otherwise.
// Shapes only: add's and sub's backwards read no input's elements.
template <class T>
bool same_shapes(const Tape<T>& t, const Node<T>& n) {
    return detail::shapes_equal(t.parent_shape(n, 0), t.parent_shape(n, 1));
}

template <class T>
struct Add {
    static void forward(const Tape<T>& t, const Node<T>& n, Tensor<T>& out) {
        resize_broadcast(t, n, out, def.name);
        if (!same_shapes(t, n)) {
            if (out.size() != 0) xt::noalias(out) = in(t, n, 0) + in(t, n, 1);  // see `resize_broadcast`
            return;
        }
        const T *a = in(t, n, 0).data(), *b = in(t, n, 1).data();
        kernels::store_or_add(out.data(), out.size(), true, [=](std::size_t i) { return a[i] + b[i]; });
    }
    static void backward(Tape<T>& t, const Node<T>& n) {
        const T* g = n.grad.data();
        for (std::size_t k = 0; k < 2; ++k) {
            const NodeId p = t.parent(n, k);
            if (!t.needs_grad(p)) continue;
            if (same_shapes(t, n))
                detail::accumulate_each(t, p, [=](std::size_t i) { return g[i]; });
            else
                accumulate_broadcast(t, n, p, n.grad);
        }
    }
    static constexpr OpDef<T> def{"add", forward, backward, kReadsNothing};
};

template <class T>
struct Sub {
    static void forward(const Tape<T>& t, const Node<T>& n, Tensor<T>& out) {
        resize_broadcast(t, n, out, def.name);
        if (!same_shapes(t, n)) {
            if (out.size() != 0) xt::noalias(out) = in(t, n, 0) - in(t, n, 1);  // see `resize_broadcast`
            return;
        }
        const T *a = in(t, n, 0).data(), *b = in(t, n, 1).data();
        kernels::store_or_add(out.data(), out.size(), true, [=](std::size_t i) { return a[i] - b[i]; });
    }
    static void backward(Tape<T>& t, const Node<T>& n) {
        const T* g = n.grad.data();
        const bool same = same_shapes(t, n);
        if (t.needs_grad(t.parent(n, 0))) {
            if (same)
                detail::accumulate_each(t, t.parent(n, 0), [=](std::size_t i) { return g[i]; });
            else
                accumulate_broadcast(t, n, t.parent(n, 0), n.grad);
        }
        if (t.needs_grad(t.parent(n, 1))) {
            if (same)
                detail::accumulate_each(t, t.parent(n, 1), [=](std::size_t i) { return -g[i]; });
            else
                accumulate_broadcast(t, n, t.parent(n, 1), -n.grad);
        }
    }
    static constexpr OpDef<T> def{"sub", forward, backward, kReadsNothing};
};

template <class T>
struct Mul {
    static void forward(const Tape<T>& t, const Node<T>& n, Tensor<T>& out) {
        resize_broadcast(t, n, out, def.name);
        if (!same_shapes(t, n)) {
            if (out.size() != 0) xt::noalias(out) = in(t, n, 0) * in(t, n, 1);  // see `resize_broadcast`
            return;
        }
        const T *a = in(t, n, 0).data(), *b = in(t, n, 1).data();
        kernels::store_or_add(out.data(), out.size(), true, [=](std::size_t i) { return a[i] * b[i]; });
    }
    static void backward(Tape<T>& t, const Node<T>& n) {
        const T *g = n.grad.data(), *a = in(t, n, 0).data(), *b = in(t, n, 1).data();
        const bool same = same_shapes(t, n);
        if (t.needs_grad(t.parent(n, 0))) {
            if (same)
                detail::accumulate_each(t, t.parent(n, 0), [=](std::size_t i) { return g[i] * b[i]; });
            else
                accumulate_broadcast(t, n, t.parent(n, 0), n.grad * in(t, n, 1));
        }
        if (t.needs_grad(t.parent(n, 1))) {
            if (same)
                detail::accumulate_each(t, t.parent(n, 1), [=](std::size_t i) { return g[i] * a[i]; });
            else
                accumulate_broadcast(t, n, t.parent(n, 1), n.grad * in(t, n, 0));
        }
    }
    static constexpr OpDef<T> def{"mul", forward, backward, reads_input(0) | reads_input(1)};
};

template <class T>
struct Div {
    static void forward(const Tape<T>& t, const Node<T>& n, Tensor<T>& out) {
        resize_broadcast(t, n, out, def.name);
        if (out.size() != 0) xt::noalias(out) = in(t, n, 0) / in(t, n, 1);
    }
    // d(a/b)/da = 1/b; d(a/b)/db = −a/b² = −y/b.
    static void backward(Tape<T>& t, const Node<T>& n) {
        if (t.needs_grad(t.parent(n, 0))) accumulate_broadcast(t, n, t.parent(n, 0), n.grad / in(t, n, 1));
        if (t.needs_grad(t.parent(n, 1)))
            accumulate_broadcast(t, n, t.parent(n, 1), -n.grad * t.output_value(n) / in(t, n, 1));
    }
    static constexpr OpDef<T> def{"div", forward, backward};
};

// ---- with a scalar ------------------------------------------------------------------

// The scalar of add_scalar, mul_scalar, div_scalar, rdiv_scalar and pow.
struct ScalarAttrs {
    double s;
};
// clamp's bounds.
struct ClampAttrs {
    double lo, hi;
};

template <class T>
T scalar(const Node<T>& n) {
    return static_cast<T>(op_attrs<ScalarAttrs>(n).s);
}
OpAttrs scalar_attrs(double s) { return OpAttrs::of(ScalarAttrs{s}); }

template <class T>
struct AddScalar {
    static void forward(const Tape<T>& t, const Node<T>& n, Tensor<T>& out) {
        resize_to(t, out, in(t, n, 0).shape());
        xt::noalias(out) = in(t, n, 0) + scalar(n);
    }
    static void backward(Tape<T>& t, const Node<T>& n) {
        if (t.needs_grad(t.parent(n, 0))) accumulate(t, n, t.parent(n, 0), n.grad);
    }
    static constexpr OpDef<T> def{"add_scalar", forward, backward, kReadsNothing};
};

template <class T>
struct MulScalar {
    static void forward(const Tape<T>& t, const Node<T>& n, Tensor<T>& out) {
        resize_to(t, out, in(t, n, 0).shape());
        xt::noalias(out) = in(t, n, 0) * scalar(n);
    }
    static void backward(Tape<T>& t, const Node<T>& n) {
        if (t.needs_grad(t.parent(n, 0))) accumulate(t, n, t.parent(n, 0), n.grad * scalar(n));
    }
    static constexpr OpDef<T> def{"mul_scalar", forward, backward, kReadsNothing};
};

template <class T>
struct DivScalar {
    static void forward(const Tape<T>& t, const Node<T>& n, Tensor<T>& out) {
        resize_to(t, out, in(t, n, 0).shape());
        xt::noalias(out) = in(t, n, 0) / scalar(n);
    }
    static void backward(Tape<T>& t, const Node<T>& n) {
        if (t.needs_grad(t.parent(n, 0))) accumulate(t, n, t.parent(n, 0), n.grad / scalar(n));
    }
    static constexpr OpDef<T> def{"div_scalar", forward, backward, kReadsNothing};
};

template <class T>
struct RdivScalar {
    static void forward(const Tape<T>& t, const Node<T>& n, Tensor<T>& out) {
        resize_to(t, out, in(t, n, 0).shape());
        xt::noalias(out) = scalar(n) / in(t, n, 0);
    }
    // d(s/x)/dx = −s/x² = −y/x.
    static void backward(Tape<T>& t, const Node<T>& n) {
        if (t.needs_grad(t.parent(n, 0))) accumulate(t, n, t.parent(n, 0), -n.grad * t.output_value(n) / in(t, n, 0));
    }
    static constexpr OpDef<T> def{"rdiv_scalar", forward, backward};
};

// ---- unary -------------------------------------------------------------------

template <class T>
struct Neg {
    static void forward(const Tape<T>& t, const Node<T>& n, Tensor<T>& out) {
        resize_to(t, out, in(t, n, 0).shape());
        xt::noalias(out) = -in(t, n, 0);
    }
    static void backward(Tape<T>& t, const Node<T>& n) {
        if (t.needs_grad(t.parent(n, 0))) accumulate(t, n, t.parent(n, 0), -n.grad);
    }
    static constexpr OpDef<T> def{"neg", forward, backward, kReadsNothing};
};

template <class T>
struct Exp {
    static void forward(const Tape<T>& t, const Node<T>& n, Tensor<T>& out) {
        resize_to(t, out, in(t, n, 0).shape());
        kernels::exp(in(t, n, 0).data(), out.data(), out.size());  // not xt::exp: see kernels.cpp
    }
    static void backward(Tape<T>& t, const Node<T>& n) {
        if (t.needs_grad(t.parent(n, 0))) accumulate(t, n, t.parent(n, 0), n.grad * t.output_value(n));
    }
    static constexpr OpDef<T> def{"exp", forward, backward, kReadsOutput};
};

template <class T>
struct Log {
    static void forward(const Tape<T>& t, const Node<T>& n, Tensor<T>& out) {
        resize_to(t, out, in(t, n, 0).shape());
        xt::noalias(out) = xt::log(in(t, n, 0));
    }
    static void backward(Tape<T>& t, const Node<T>& n) {
        if (t.needs_grad(t.parent(n, 0))) accumulate(t, n, t.parent(n, 0), n.grad / in(t, n, 0));
    }
    static constexpr OpDef<T> def{"log", forward, backward};
};

// log(1 + x), accurate for tiny x where 1 + x rounds to 1.
template <class T>
struct Log1p {
    static void forward(const Tape<T>& t, const Node<T>& n, Tensor<T>& out) {
        resize_to(t, out, in(t, n, 0).shape());
        const T* x = in(t, n, 0).data();
        kernels::store_or_add(out.data(), out.size(), true, [=](std::size_t i) { return std::log1p(x[i]); });
    }
    static void backward(Tape<T>& t, const Node<T>& n) {
        const T *g = n.grad.data(), *x = in(t, n, 0).data();
        if (t.needs_grad(t.parent(n, 0)))
            detail::accumulate_each(t, t.parent(n, 0), [=](std::size_t i) { return g[i] / (T(1) + x[i]); });
    }
    static constexpr OpDef<T> def{"log1p", forward, backward, reads_input(0)};
};

template <class T>
struct Sqrt {
    static void forward(const Tape<T>& t, const Node<T>& n, Tensor<T>& out) {
        resize_to(t, out, in(t, n, 0).shape());
        xt::noalias(out) = xt::sqrt(in(t, n, 0));
    }
    static void backward(Tape<T>& t, const Node<T>& n) {
        if (t.needs_grad(t.parent(n, 0))) accumulate(t, n, t.parent(n, 0), n.grad / (T(2) * t.output_value(n)));
    }
    static constexpr OpDef<T> def{"sqrt", forward, backward, kReadsOutput};
};

template <class T>
struct Pow {
    static void forward(const Tape<T>& t, const Node<T>& n, Tensor<T>& out) {
        resize_to(t, out, in(t, n, 0).shape());
        // std::pow, not xt::pow: xsimd's pow goes through its exp, whose
        // float-to-integer conversion is undefined for huge y·log x (see kernels.cpp).
        const T* x = in(t, n, 0).data();
        const T p = scalar(n);
        kernels::store_or_add(out.data(), out.size(), true, [=](std::size_t i) { return std::pow(x[i], p); });
    }
    static void backward(Tape<T>& t, const Node<T>& n) {
        const T p = scalar(n);
        if (!t.needs_grad(t.parent(n, 0))) return;
        // x^0 is constant: its gradient is exactly 0 (PyTorch's convention),
        // not p · x^-1 = 0 · inf = NaN at x = 0.
        if (p == T(0)) {
            accumulate(t, n, t.parent(n, 0), xt::zeros_like(n.grad));
            return;
        }
        const T *g = n.grad.data(), *x = in(t, n, 0).data();
        detail::accumulate_each(t, t.parent(n, 0), [=](std::size_t i) { return g[i] * (p * std::pow(x[i], p - T(1))); });
    }
    static constexpr OpDef<T> def{"pow", forward, backward};
};

template <class T>
struct Abs {
    static void forward(const Tape<T>& t, const Node<T>& n, Tensor<T>& out) {
        resize_to(t, out, in(t, n, 0).shape());
        xt::noalias(out) = xt::abs(in(t, n, 0));
    }
    static void backward(Tape<T>& t, const Node<T>& n) {
        if (t.needs_grad(t.parent(n, 0))) accumulate(t, n, t.parent(n, 0), n.grad * xt::sign(in(t, n, 0)));
    }
    static constexpr OpDef<T> def{"abs", forward, backward};
};

template <class T>
struct Tanh {
    static void forward(const Tape<T>& t, const Node<T>& n, Tensor<T>& out) {
        resize_to(t, out, in(t, n, 0).shape());
        kernels::tanh(in(t, n, 0).data(), out.data(), out.size());
    }
    static void backward(Tape<T>& t, const Node<T>& n) {
        const T *g = n.grad.data(), *y = t.output_value(n).data();
        if (t.needs_grad(t.parent(n, 0)))
            detail::accumulate_each(t, t.parent(n, 0), [=](std::size_t i) { return g[i] * (T(1) - y[i] * y[i]); });
    }
    static constexpr OpDef<T> def{"tanh", forward, backward, kReadsOutput};
};

template <class T>
struct Sigmoid {
    // With e = exp(−|x|) ≤ 1 nothing overflows: σ(x) = 1/(1+e) for x ≥ 0 and
    // e/(1+e) for x < 0, which also keeps full relative precision for x ≪ 0.
    static void forward(const Tape<T>& t, const Node<T>& n, Tensor<T>& out) {
        resize_to(t, out, in(t, n, 0).shape());
        kernels::sigmoid(in(t, n, 0).data(), out.data(), out.size());
    }
    static void backward(Tape<T>& t, const Node<T>& n) {
        const T *g = n.grad.data(), *y = t.output_value(n).data();
        if (t.needs_grad(t.parent(n, 0)))
            detail::accumulate_each(t, t.parent(n, 0), [=](std::size_t i) { return g[i] * y[i] * (T(1) - y[i]); });
    }
    static constexpr OpDef<T> def{"sigmoid", forward, backward, kReadsOutput};
};

template <class T>
struct Relu {
    static void forward(const Tape<T>& t, const Node<T>& n, Tensor<T>& out) {
        resize_to(t, out, in(t, n, 0).shape());
        xt::noalias(out) = xt::maximum(in(t, n, 0), T(0));
    }
    static void backward(Tape<T>& t, const Node<T>& n) {
        if (t.needs_grad(t.parent(n, 0)))
            accumulate(t, n, t.parent(n, 0), xt::where(in(t, n, 0) > T(0), n.grad, T(0)));
    }
    static constexpr OpDef<T> def{"relu", forward, backward, reads_input(0)};
};

template <class T>
struct Clamp {
    static void forward(const Tape<T>& t, const Node<T>& n, Tensor<T>& out) {
        resize_to(t, out, in(t, n, 0).shape());
        const auto [lo, hi] = op_attrs<ClampAttrs>(n);
        xt::noalias(out) = xt::clip(in(t, n, 0), static_cast<T>(lo), static_cast<T>(hi));
    }
    static void backward(Tape<T>& t, const Node<T>& n) {
        const Tensor<T>& x = in(t, n, 0);
        const ClampAttrs bounds = op_attrs<ClampAttrs>(n);
        const T lo = static_cast<T>(bounds.lo), hi = static_cast<T>(bounds.hi);
        if (t.needs_grad(t.parent(n, 0))) accumulate(t, n, t.parent(n, 0), xt::where(x >= lo && x <= hi, n.grad, T(0)));
    }
    static constexpr OpDef<T> def{"clamp", forward, backward};
};

template <class T>
struct Where {
    static void forward(const Tape<T>& t, const Node<T>& n, Tensor<T>& out) {
        resize_broadcast(t, n, out, def.name);
        if (out.size() != 0) xt::noalias(out) = xt::where(xt::not_equal(in(t, n, 0), T(0)), in(t, n, 1), in(t, n, 2));
    }
    static void backward(Tape<T>& t, const Node<T>& n) {
        const auto chosen = xt::not_equal(in(t, n, 0), T(0));
        if (t.needs_grad(t.parent(n, 1))) accumulate_broadcast(t, n, t.parent(n, 1), xt::where(chosen, n.grad, T(0)));
        if (t.needs_grad(t.parent(n, 2))) accumulate_broadcast(t, n, t.parent(n, 2), xt::where(chosen, T(0), n.grad));
    }
    static constexpr OpDef<T> def{"where", forward, backward, reads_input(0)};
};

}  // namespace

template <class T> Var<T> add(Var<T> a, Var<T> b) { return record_binary<Add<T>>(a, b); }
template <class T> Var<T> sub(Var<T> a, Var<T> b) { return record_binary<Sub<T>>(a, b); }
template <class T> Var<T> mul(Var<T> a, Var<T> b) { return record_binary<Mul<T>>(a, b); }
template <class T> Var<T> div(Var<T> a, Var<T> b) { return record_binary<Div<T>>(a, b); }
template <class T> Var<T> add_scalar(Var<T> x, Scalar_t<T> s) { return record_op<AddScalar<T>>({x}, scalar_attrs(s)); }
template <class T> Var<T> mul_scalar(Var<T> x, Scalar_t<T> s) { return record_op<MulScalar<T>>({x}, scalar_attrs(s)); }
template <class T> Var<T> div_scalar(Var<T> x, Scalar_t<T> s) { return record_op<DivScalar<T>>({x}, scalar_attrs(s)); }
template <class T> Var<T> rdiv_scalar(Scalar_t<T> s, Var<T> x) { return record_op<RdivScalar<T>>({x}, scalar_attrs(s)); }
template <class T> Var<T> neg(Var<T> x) { return record_op<Neg<T>>({x}); }
template <class T> Var<T> exp(Var<T> x) { return record_op<Exp<T>>({x}); }
template <class T> Var<T> log(Var<T> x) { return record_op<Log<T>>({x}); }
template <class T> Var<T> log1p(Var<T> x) { return record_op<Log1p<T>>({x}); }
template <class T> Var<T> sqrt(Var<T> x) { return record_op<Sqrt<T>>({x}); }
template <class T> Var<T> pow(Var<T> x, Scalar_t<T> p) { return record_op<Pow<T>>({x}, scalar_attrs(p)); }
template <class T> Var<T> abs(Var<T> x) { return record_op<Abs<T>>({x}); }
template <class T> Var<T> tanh(Var<T> x) { return record_op<Tanh<T>>({x}); }
template <class T> Var<T> sigmoid(Var<T> x) { return record_op<Sigmoid<T>>({x}); }
template <class T> Var<T> relu(Var<T> x) { return record_op<Relu<T>>({x}); }

template <class T>
Var<T> clamp(Var<T> x, Scalar_t<T> lo, Scalar_t<T> hi) {
    if (!(lo <= hi))
        throw ArgumentError("clamp: lower bound " + std::to_string(lo) + " is above upper bound " + std::to_string(hi));
    return record_op<Clamp<T>>({x}, OpAttrs::of(ClampAttrs{double(lo), double(hi)}));
}

template <class T>
Var<T> where(Var<T> cond, Var<T> a, Var<T> b) {
    Tape<T>& t = detail::tape_of("where", {cond, a, b});
    detail::broadcast_shapes("where", detail::broadcast_shapes("where", cond.shape(), a.shape()), b.shape());
    return detail::finish(t, t.record(&Where<T>::def, {cond, a, b}));
}

#define TAPEGRAD_INSTANTIATE(T)                                  \
    template Var<T> add(Var<T>, Var<T>);                         \
    template Var<T> sub(Var<T>, Var<T>);                         \
    template Var<T> mul(Var<T>, Var<T>);                         \
    template Var<T> div(Var<T>, Var<T>);                         \
    template Var<T> add_scalar(Var<T>, Scalar_t<T>);             \
    template Var<T> mul_scalar(Var<T>, Scalar_t<T>);             \
    template Var<T> div_scalar(Var<T>, Scalar_t<T>);             \
    template Var<T> rdiv_scalar(Scalar_t<T>, Var<T>);            \
    template Var<T> neg(Var<T>);                                 \
    template Var<T> exp(Var<T>);                                 \
    template Var<T> log(Var<T>);                                 \
    template Var<T> log1p(Var<T>);                               \
    template Var<T> sqrt(Var<T>);                                \
    template Var<T> pow(Var<T>, Scalar_t<T>);                    \
    template Var<T> abs(Var<T>);                                 \
    template Var<T> tanh(Var<T>);                                \
    template Var<T> sigmoid(Var<T>);                             \
    template Var<T> relu(Var<T>);                                \
    template Var<T> clamp(Var<T>, Scalar_t<T>, Scalar_t<T>);     \
    template Var<T> where(Var<T>, Var<T>, Var<T>);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)

}  // namespace tapegrad
