// Elementwise ops: each op's forward and backward side by side.

#include <cmath>

#include <xtensor/xmath.hpp>
#include <xtensor/xoperation.hpp>

#include "ops.hpp"
#include "op_support.hpp"

namespace tapegrad {

using detail::Dims;

namespace {

/// Binary ops check broadcastability before recording, so the error names the op.
template <class Op, class T>
Var<T> record_binary(Var<T> a, Var<T> b) {
    Tape<T>& t = detail::tape_of(Op::def.name, {a, b});
    detail::broadcast_shapes(Op::def.name, a.shape(), b.shape());
    return detail::record<Op>(t, {a, b});
}

// Sizes `out` to the broadcast shape of the node's parents. Callers skip the
// assignment when it is empty: xtensor's strided assignment steps through the
// outer axes of an empty (2^40, 0) broadcast one row at a time.
template <class T>
void resize_broadcast(const OpContext<T>& c, Tensor<T>& out, const char* op) {
    Dims s = detail::to_shape(c.input_shape(0));
    for (std::size_t k = 1; k < c.inputs(); ++k) s = detail::broadcast_shapes(op, s, c.input_shape(k));
    c.fit(out, s);
}

// ---- binary ------------------------------------------------------------------

// Binary ops take a raw loop when both operands have the same shape (the
// common case inside cells) and an xtensor broadcasting expression otherwise.
// Shapes only: add's and sub's backwards read no input's elements.
template <class T>
bool same_shapes(const OpContext<T>& c) {
    return detail::shapes_equal(c.input_shape(0), c.input_shape(1));
}

template <class T>
struct Add {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        resize_broadcast(c, out, def.name);
        if (!same_shapes(c)) {
            if (out.size() != 0) xt::noalias(out) = c.input(0) + c.input(1);  // see `resize_broadcast`
            return;
        }
        const T *a = c.input(0).data(), *b = c.input(1).data();
        kernels::store_or_add(out.data(), out.size(), true, [=](std::size_t i) { return a[i] + b[i]; });
    }
    static void backward(OpContext<T>& c) {
        const T* g = c.grad().data();
        for (std::size_t k = 0; k < 2; ++k) {
            if (!c.needs_grad(k)) continue;
            if (same_shapes(c))
                c.accumulate_each(k, [=](std::size_t i) { return g[i]; });
            else
                c.accumulate_broadcast(k, c.grad());
        }
    }
    static constexpr OpDef<T> def{"add", forward, backward, kReadsNothing};
};

template <class T>
struct Sub {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        resize_broadcast(c, out, def.name);
        if (!same_shapes(c)) {
            if (out.size() != 0) xt::noalias(out) = c.input(0) - c.input(1);  // see `resize_broadcast`
            return;
        }
        const T *a = c.input(0).data(), *b = c.input(1).data();
        kernels::store_or_add(out.data(), out.size(), true, [=](std::size_t i) { return a[i] - b[i]; });
    }
    static void backward(OpContext<T>& c) {
        const T* g = c.grad().data();
        const bool same = same_shapes(c);
        if (c.needs_grad(0)) {
            if (same)
                c.accumulate_each(0, [=](std::size_t i) { return g[i]; });
            else
                c.accumulate_broadcast(0, c.grad());
        }
        if (c.needs_grad(1)) {
            if (same)
                c.accumulate_each(1, [=](std::size_t i) { return -g[i]; });
            else
                c.accumulate_broadcast(1, -c.grad());
        }
    }
    static constexpr OpDef<T> def{"sub", forward, backward, kReadsNothing};
};

template <class T>
struct Mul {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        resize_broadcast(c, out, def.name);
        if (!same_shapes(c)) {
            if (out.size() != 0) xt::noalias(out) = c.input(0) * c.input(1);  // see `resize_broadcast`
            return;
        }
        const T *a = c.input(0).data(), *b = c.input(1).data();
        kernels::store_or_add(out.data(), out.size(), true, [=](std::size_t i) { return a[i] * b[i]; });
    }
    static void backward(OpContext<T>& c) {
        const T *g = c.grad().data(), *a = c.input(0).data(), *b = c.input(1).data();
        const bool same = same_shapes(c);
        if (c.needs_grad(0)) {
            if (same)
                c.accumulate_each(0, [=](std::size_t i) { return g[i] * b[i]; });
            else
                c.accumulate_broadcast(0, c.grad() * c.input(1));
        }
        if (c.needs_grad(1)) {
            if (same)
                c.accumulate_each(1, [=](std::size_t i) { return g[i] * a[i]; });
            else
                c.accumulate_broadcast(1, c.grad() * c.input(0));
        }
    }
    static constexpr OpDef<T> def{"mul", forward, backward, reads_input(0) | reads_input(1)};
};

template <class T>
struct Div {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        resize_broadcast(c, out, def.name);
        if (out.size() != 0) xt::noalias(out) = c.input(0) / c.input(1);
    }
    // d(a/b)/da = 1/b; d(a/b)/db = −a/b² = −y/b.
    static void backward(OpContext<T>& c) {
        if (c.needs_grad(0)) c.accumulate_broadcast(0, c.grad() / c.input(1));
        if (c.needs_grad(1))
            c.accumulate_broadcast(1, -c.grad() * c.output() / c.input(1));
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
T scalar(const OpContext<T>& c) {
    return static_cast<T>(op_attrs<ScalarAttrs>(c).s);
}
OpAttrs scalar_attrs(double s) { return OpAttrs::of(ScalarAttrs{s}); }

template <class T>
struct AddScalar {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        c.fit(out, c.input(0).shape());
        xt::noalias(out) = c.input(0) + scalar(c);
    }
    static void backward(OpContext<T>& c) {
        if (c.needs_grad(0)) c.accumulate(0, c.grad());
    }
    static constexpr OpDef<T> def{"add_scalar", forward, backward, kReadsNothing};
};

template <class T>
struct MulScalar {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        c.fit(out, c.input(0).shape());
        xt::noalias(out) = c.input(0) * scalar(c);
    }
    static void backward(OpContext<T>& c) {
        if (c.needs_grad(0)) c.accumulate(0, c.grad() * scalar(c));
    }
    static constexpr OpDef<T> def{"mul_scalar", forward, backward, kReadsNothing};
};

template <class T>
struct DivScalar {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        c.fit(out, c.input(0).shape());
        xt::noalias(out) = c.input(0) / scalar(c);
    }
    static void backward(OpContext<T>& c) {
        if (c.needs_grad(0)) c.accumulate(0, c.grad() / scalar(c));
    }
    static constexpr OpDef<T> def{"div_scalar", forward, backward, kReadsNothing};
};

template <class T>
struct RdivScalar {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        c.fit(out, c.input(0).shape());
        xt::noalias(out) = scalar(c) / c.input(0);
    }
    // d(s/x)/dx = −s/x² = −y/x.
    static void backward(OpContext<T>& c) {
        if (c.needs_grad(0)) c.accumulate(0, -c.grad() * c.output() / c.input(0));
    }
    static constexpr OpDef<T> def{"rdiv_scalar", forward, backward};
};

// ---- unary -------------------------------------------------------------------

template <class T>
struct Neg {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        c.fit(out, c.input(0).shape());
        xt::noalias(out) = -c.input(0);
    }
    static void backward(OpContext<T>& c) {
        if (c.needs_grad(0)) c.accumulate(0, -c.grad());
    }
    static constexpr OpDef<T> def{"neg", forward, backward, kReadsNothing};
};

template <class T>
struct Exp {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        c.fit(out, c.input(0).shape());
        kernels::exp(c.input(0).data(), out.data(), out.size());  // not xt::exp: see kernels.cpp
    }
    static void backward(OpContext<T>& c) {
        if (c.needs_grad(0)) c.accumulate(0, c.grad() * c.output());
    }
    static constexpr OpDef<T> def{"exp", forward, backward, kReadsOutput};
};

template <class T>
struct Log {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        c.fit(out, c.input(0).shape());
        xt::noalias(out) = xt::log(c.input(0));
    }
    static void backward(OpContext<T>& c) {
        if (c.needs_grad(0)) c.accumulate(0, c.grad() / c.input(0));
    }
    static constexpr OpDef<T> def{"log", forward, backward};
};

// log(1 + x), accurate for tiny x where 1 + x rounds to 1.
template <class T>
struct Log1p {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        c.fit(out, c.input(0).shape());
        const T* x = c.input(0).data();
        kernels::store_or_add(out.data(), out.size(), true, [=](std::size_t i) { return std::log1p(x[i]); });
    }
    static void backward(OpContext<T>& c) {
        const T *g = c.grad().data(), *x = c.input(0).data();
        if (c.needs_grad(0))
            c.accumulate_each(0, [=](std::size_t i) { return g[i] / (T(1) + x[i]); });
    }
    static constexpr OpDef<T> def{"log1p", forward, backward, reads_input(0)};
};

template <class T>
struct Sqrt {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        c.fit(out, c.input(0).shape());
        xt::noalias(out) = xt::sqrt(c.input(0));
    }
    static void backward(OpContext<T>& c) {
        if (c.needs_grad(0)) c.accumulate(0, c.grad() / (T(2) * c.output()));
    }
    static constexpr OpDef<T> def{"sqrt", forward, backward, kReadsOutput};
};

template <class T>
struct Pow {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        c.fit(out, c.input(0).shape());
        // std::pow, not xt::pow: xsimd's pow goes through its exp, whose
        // float-to-integer conversion is undefined for huge y·log x (see kernels.cpp).
        const T* x = c.input(0).data();
        const T p = scalar(c);
        kernels::store_or_add(out.data(), out.size(), true, [=](std::size_t i) { return std::pow(x[i], p); });
    }
    static void backward(OpContext<T>& c) {
        const T p = scalar(c);
        if (!c.needs_grad(0)) return;
        // x^0 is constant: its gradient is exactly 0 (PyTorch's convention),
        // not p · x^-1 = 0 · inf = NaN at x = 0.
        if (p == T(0)) {
            c.accumulate(0, xt::zeros_like(c.grad()));
            return;
        }
        const T *g = c.grad().data(), *x = c.input(0).data();
        c.accumulate_each(0, [=](std::size_t i) { return g[i] * (p * std::pow(x[i], p - T(1))); });
    }
    static constexpr OpDef<T> def{"pow", forward, backward};
};

template <class T>
struct Abs {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        c.fit(out, c.input(0).shape());
        xt::noalias(out) = xt::abs(c.input(0));
    }
    static void backward(OpContext<T>& c) {
        if (c.needs_grad(0)) c.accumulate(0, c.grad() * xt::sign(c.input(0)));
    }
    static constexpr OpDef<T> def{"abs", forward, backward};
};

template <class T>
struct Tanh {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        c.fit(out, c.input(0).shape());
        kernels::tanh(c.input(0).data(), out.data(), out.size());
    }
    static void backward(OpContext<T>& c) {
        const T *g = c.grad().data(), *y = c.output().data();
        if (c.needs_grad(0))
            c.accumulate_each(0, [=](std::size_t i) { return g[i] * (T(1) - y[i] * y[i]); });
    }
    static constexpr OpDef<T> def{"tanh", forward, backward, kReadsOutput};
};

template <class T>
struct Sigmoid {
    // With e = exp(−|x|) ≤ 1 nothing overflows: σ(x) = 1/(1+e) for x ≥ 0 and
    // e/(1+e) for x < 0, which also keeps full relative precision for x ≪ 0.
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        c.fit(out, c.input(0).shape());
        kernels::sigmoid(c.input(0).data(), out.data(), out.size());
    }
    static void backward(OpContext<T>& c) {
        const T *g = c.grad().data(), *y = c.output().data();
        if (c.needs_grad(0))
            c.accumulate_each(0, [=](std::size_t i) { return g[i] * y[i] * (T(1) - y[i]); });
    }
    static constexpr OpDef<T> def{"sigmoid", forward, backward, kReadsOutput};
};

template <class T>
struct Relu {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        c.fit(out, c.input(0).shape());
        xt::noalias(out) = xt::maximum(c.input(0), T(0));
    }
    static void backward(OpContext<T>& c) {
        if (c.needs_grad(0))
            c.accumulate(0, xt::where(c.input(0) > T(0), c.grad(), T(0)));
    }
    static constexpr OpDef<T> def{"relu", forward, backward, reads_input(0)};
};

template <class T>
struct Clamp {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        c.fit(out, c.input(0).shape());
        const auto [lo, hi] = op_attrs<ClampAttrs>(c);
        xt::noalias(out) = xt::clip(c.input(0), static_cast<T>(lo), static_cast<T>(hi));
    }
    static void backward(OpContext<T>& c) {
        const Tensor<T>& x = c.input(0);
        const ClampAttrs bounds = op_attrs<ClampAttrs>(c);
        const T lo = static_cast<T>(bounds.lo), hi = static_cast<T>(bounds.hi);
        if (c.needs_grad(0)) c.accumulate(0, xt::where(x >= lo && x <= hi, c.grad(), T(0)));
    }
    static constexpr OpDef<T> def{"clamp", forward, backward};
};

template <class T>
struct Where {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        resize_broadcast(c, out, def.name);
        if (out.size() != 0) xt::noalias(out) = xt::where(xt::not_equal(c.input(0), T(0)), c.input(1), c.input(2));
    }
    static void backward(OpContext<T>& c) {
        const auto chosen = xt::not_equal(c.input(0), T(0));
        if (c.needs_grad(1)) c.accumulate_broadcast(1, xt::where(chosen, c.grad(), T(0)));
        if (c.needs_grad(2)) c.accumulate_broadcast(2, xt::where(chosen, T(0), c.grad()));
    }
    static constexpr OpDef<T> def{"where", forward, backward, reads_input(0)};
};

}  // namespace

template <class T> Var<T> add(Var<T> a, Var<T> b) { return record_binary<Add<T>>(a, b); }
template <class T> Var<T> sub(Var<T> a, Var<T> b) { return record_binary<Sub<T>>(a, b); }
template <class T> Var<T> mul(Var<T> a, Var<T> b) { return record_binary<Mul<T>>(a, b); }
template <class T> Var<T> div(Var<T> a, Var<T> b) { return record_binary<Div<T>>(a, b); }
template <class T> Var<T> add_scalar(Var<T> x, Scalar_t<T> s) { return detail::record<AddScalar<T>>({x}, scalar_attrs(s)); }
template <class T> Var<T> mul_scalar(Var<T> x, Scalar_t<T> s) { return detail::record<MulScalar<T>>({x}, scalar_attrs(s)); }
template <class T> Var<T> div_scalar(Var<T> x, Scalar_t<T> s) { return detail::record<DivScalar<T>>({x}, scalar_attrs(s)); }
template <class T> Var<T> rdiv_scalar(Scalar_t<T> s, Var<T> x) { return detail::record<RdivScalar<T>>({x}, scalar_attrs(s)); }
template <class T> Var<T> neg(Var<T> x) { return detail::record<Neg<T>>({x}); }
template <class T> Var<T> exp(Var<T> x) { return detail::record<Exp<T>>({x}); }
template <class T> Var<T> log(Var<T> x) { return detail::record<Log<T>>({x}); }
template <class T> Var<T> log1p(Var<T> x) { return detail::record<Log1p<T>>({x}); }
template <class T> Var<T> sqrt(Var<T> x) { return detail::record<Sqrt<T>>({x}); }
template <class T> Var<T> pow(Var<T> x, Scalar_t<T> p) { return detail::record<Pow<T>>({x}, scalar_attrs(p)); }
template <class T> Var<T> abs(Var<T> x) { return detail::record<Abs<T>>({x}); }
template <class T> Var<T> tanh(Var<T> x) { return detail::record<Tanh<T>>({x}); }
template <class T> Var<T> sigmoid(Var<T> x) { return detail::record<Sigmoid<T>>({x}); }
template <class T> Var<T> relu(Var<T> x) { return detail::record<Relu<T>>({x}); }

template <class T>
Var<T> clamp(Var<T> x, Scalar_t<T> lo, Scalar_t<T> hi) {
    if (!(lo <= hi))
        throw ArgumentError("clamp: lower bound " + std::to_string(lo) + " is above upper bound " + std::to_string(hi));
    return detail::record<Clamp<T>>({x}, OpAttrs::of(ClampAttrs{double(lo), double(hi)}));
}

template <class T>
Var<T> where(Var<T> cond, Var<T> a, Var<T> b) {
    Tape<T>& t = detail::tape_of("where", {cond, a, b});
    detail::broadcast_shapes("where", detail::broadcast_shapes("where", cond.shape(), a.shape()), b.shape());
    return detail::record<Where<T>>(t, {cond, a, b});
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
