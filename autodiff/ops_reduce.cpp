// Reductions over all elements or one axis. A tensor is seen as
// (outer, n, inner) around the reduced axis; a full reduction is the case
// outer = inner = 1, n = size.

#include <cmath>
#include <limits>
#include <string>

#include "ops.hpp"
#include "op_support.hpp"

namespace tapegrad {

using detail::Dims;

using detail::AxisGeometry;

namespace {

// The reduced axis, or all elements (to a 0-d value).
struct ReduceAttrs {
    bool all;
    std::size_t axis;
    bool keepdims;
};

// Takes the input's shape, not its value: backwards need only the shape, and
// a dropped value's size() is 0 (its storage went back to the pool).
template <class T, class S>
AxisGeometry geometry(const OpContext<T>& c, const S& xshape) {
    const ReduceAttrs a = op_attrs<ReduceAttrs>(c);
    if (a.all) return AxisGeometry{1, shape_size(xshape), 1};
    return detail::axis_geometry(xshape, a.axis);
}

template <class T>
void resize_reduced(const OpContext<T>& c, const Tensor<T>& x, Tensor<T>& out) {
    const ReduceAttrs a = op_attrs<ReduceAttrs>(c);
    if (a.all) {
        c.fit(out, Dims{});
        return;
    }
    Dims s = detail::to_shape(x.shape());
    if (a.keepdims)
        s[a.axis] = 1;
    else
        s.erase(s.begin() + static_cast<std::ptrdiff_t>(a.axis));
    c.fit(out, s);
}

// out[o,i] = scale · Σ_j x[o,j,i]
template <class T>
void sum_lines(const Tensor<T>& x, const AxisGeometry& g, T scale, T* out) {
    if (g.outer == 0 || g.inner == 0) return;  // an empty output: no loop over (2^40, 0)'s rows
    if (g.n == 0) {                            // empty lines: 0 · scale (NaN for a mean)
        for (std::size_t i = 0, e = g.outer * g.inner; i < e; ++i) out[i] = T(0) * scale;
        return;
    }
    const T* xd = x.data();
    for (std::size_t o = 0; o < g.outer; ++o) {
        T* od = out + o * g.inner;
        for (std::size_t i = 0; i < g.inner; ++i) od[i] = T(0);
        for (std::size_t j = 0; j < g.n; ++j) {
            const T* row = xd + (o * g.n + j) * g.inner;
            for (std::size_t i = 0; i < g.inner; ++i) od[i] += row[i];
        }
        for (std::size_t i = 0; i < g.inner; ++i) od[i] *= scale;
    }
}

// gx[o,j,i] += scale · g[o,i]
template <class T>
void spread_lines(T* gx, const AxisGeometry& g, T scale, const T* grad) {
    if (g.outer == 0 || g.n == 0 || g.inner == 0) return;  // an empty input: nothing to spread into
    for (std::size_t o = 0; o < g.outer; ++o)
        for (std::size_t j = 0; j < g.n; ++j) {
            T* row = gx + (o * g.n + j) * g.inner;
            const T* gd = grad + o * g.inner;
            for (std::size_t i = 0; i < g.inner; ++i) row[i] += scale * gd[i];
        }
}

template <class T>
T mean_scale(const AxisGeometry& g) {
    return g.n == 0 ? std::numeric_limits<T>::quiet_NaN() : T(1) / static_cast<T>(g.n);
}

template <class T>
struct Sum {
    static constexpr bool kNeedsElements = false;
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        const Tensor<T>& x = c.input(0);
        resize_reduced(c, x, out);
        sum_lines(x, geometry(c, x.shape()), T(1), out.data());
    }
    static void backward(OpContext<T>& c) {
        if (!c.needs_grad(0)) return;
        Tensor<T>& gx = c.grad_buffer(0);
        spread_lines(gx.data(), geometry(c, c.input_shape(0)), T(1), c.grad().data());
    }
    static constexpr OpDef<T> def{"sum", forward, backward};
};

template <class T>
struct Mean {
    static constexpr bool kNeedsElements = false;
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        const Tensor<T>& x = c.input(0);
        resize_reduced(c, x, out);
        const AxisGeometry g = geometry(c, x.shape());
        sum_lines(x, g, mean_scale<T>(g), out.data());
    }
    static void backward(OpContext<T>& c) {
        if (!c.needs_grad(0)) return;
        Tensor<T>& gx = c.grad_buffer(0);
        const AxisGeometry g = geometry(c, c.input_shape(0));
        spread_lines(gx.data(), g, mean_scale<T>(g), c.grad().data());
    }
    static constexpr OpDef<T> def{"mean", forward, backward};
};

// NaN propagates: a line containing NaN has maximum (and minimum) NaN, as in
// PyTorch.
template <bool kMax, class T>
bool beats(T v, T best) {
    return (kMax ? v > best : v < best) || (std::isnan(v) && !std::isnan(best));
}

// max and min: the same loops with the comparison turned around.
template <class T, bool kMax>
struct Extremum {
    static constexpr bool kNeedsElements = true;  // the max of nothing is undefined
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        const Tensor<T>& x = c.input(0);
        resize_reduced(c, x, out);
        const AxisGeometry g = geometry(c, x.shape());
        if (out.size() == 0) return;  // no loop over the rows of an empty output
        const T* xd = x.data();
        T* od = out.data();
        for (std::size_t o = 0; o < g.outer; ++o)
            for (std::size_t i = 0; i < g.inner; ++i) {
                T best = xd[o * g.n * g.inner + i];
                for (std::size_t j = 1; j < g.n; ++j) {
                    const T v = xd[(o * g.n + j) * g.inner + i];
                    if (beats<kMax>(v, best)) best = v;
                }
                od[o * g.inner + i] = best;
            }
    }
    // The whole gradient of a line goes to its first extremal element.
    static void backward(OpContext<T>& c) {
        if (!c.needs_grad(0)) return;
        const Tensor<T>& x = c.input(0);
        const Tensor<T>& y = c.output();
        T* gx = c.grad_buffer(0).data();
        const AxisGeometry g = geometry(c, x.shape());
        if (y.size() == 0) return;
        const T* xd = x.data();
        for (std::size_t o = 0; o < g.outer; ++o)
            for (std::size_t i = 0; i < g.inner; ++i) {
                const T m = y.data()[o * g.inner + i];
                for (std::size_t j = 0; j < g.n; ++j) {
                    const std::size_t at = (o * g.n + j) * g.inner + i;
                    if (xd[at] == m || (std::isnan(m) && std::isnan(xd[at]))) {
                        gx[at] += c.grad().data()[o * g.inner + i];
                        break;
                    }
                }
            }
    }
    static constexpr OpDef<T> def{kMax ? "max" : "min", forward, backward};
};
template <class T> using Max = Extremum<T, true>;
template <class T> using Min = Extremum<T, false>;

// log Σ exp x over a line, shifted by the line's maximum m so that nothing
// overflows: m + log Σ exp(x − m). A line whose maximum is ±inf or NaN has
// that value as its result (the shift would give inf − inf); an empty line
// gives −inf, the log of an empty sum.
template <class T>
T logsumexp_of_line(const T* x, std::size_t n, std::size_t stride) {
    T m = -std::numeric_limits<T>::infinity();
    for (std::size_t j = 0; j < n; ++j)
        if (beats<true>(x[j * stride], m)) m = x[j * stride];
    if (!std::isfinite(m)) return m;
    T s = T(0);
    for (std::size_t j = 0; j < n; ++j) s += std::exp(x[j * stride] - m);
    return m + std::log(s);
}

template <class T>
struct LogSumExpReduce {
    static constexpr bool kNeedsElements = false;
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        const Tensor<T>& x = c.input(0);
        resize_reduced(c, x, out);
        const AxisGeometry g = geometry(c, x.shape());
        if (out.size() == 0) return;
        for (std::size_t o = 0; o < g.outer; ++o)
            for (std::size_t i = 0; i < g.inner; ++i)
                out.data()[o * g.inner + i] = logsumexp_of_line(x.data() + o * g.n * g.inner + i, g.n, g.inner);
    }
    // d/dx_j = exp(x_j − y), the softmax of the line. A line of only −inf
    // (y = −inf) is constant: its gradient is 0 rather than exp(NaN).
    static void backward(OpContext<T>& c) {
        if (!c.needs_grad(0)) return;
        const Tensor<T>& x = c.input(0);
        const Tensor<T>& y = c.output();
        T* gx = c.grad_buffer(0).data();
        const AxisGeometry g = geometry(c, x.shape());
        if (y.size() == 0 || x.size() == 0) return;
        for (std::size_t o = 0; o < g.outer; ++o)
            for (std::size_t i = 0; i < g.inner; ++i) {
                const T yl = y.data()[o * g.inner + i], gl = c.grad().data()[o * g.inner + i];
                if (yl == -std::numeric_limits<T>::infinity()) continue;
                for (std::size_t j = 0; j < g.n; ++j) {
                    const std::size_t at = (o * g.n + j) * g.inner + i;
                    gx[at] += gl * std::exp(x.data()[at] - yl);
                }
            }
    }
    static constexpr OpDef<T> def{"logsumexp", forward, backward, reads_input(0) | kReadsOutput};
};

template <class Op, class T>
Var<T> reduce_all(Var<T> x) {
    Tape<T>& t = detail::tape_of(Op::def.name, {x});
    if (Op::kNeedsElements && x.size() == 0)
        throw ArgumentError(std::string(Op::def.name) + ": cannot reduce an empty tensor of shape " + shape_str(x.shape()));
    return detail::record<Op>(t, {x}, OpAttrs::of(ReduceAttrs{true, 0, false}));
}

template <class Op, class T>
Var<T> reduce_axis(Var<T> x, std::int64_t axis, bool keepdims) {
    Tape<T>& t = detail::tape_of(Op::def.name, {x});
    const std::size_t a = detail::normalize_axis(Op::def.name, axis, x.dim());
    if (Op::kNeedsElements && x.shape()[a] == 0)
        throw ArgumentError(std::string(Op::def.name) + ": axis " + std::to_string(axis) + " of shape " + shape_str(x.shape()) + " is empty");
    return detail::record<Op>(t, {x}, OpAttrs::of(ReduceAttrs{false, a, keepdims}));
}

}  // namespace

template <class T> Var<T> sum(Var<T> x) { return reduce_all<Sum<T>>(x); }
template <class T> Var<T> sum(Var<T> x, std::int64_t axis, bool keepdims) { return reduce_axis<Sum<T>>(x, axis, keepdims); }
template <class T> Var<T> mean(Var<T> x) { return reduce_all<Mean<T>>(x); }
template <class T> Var<T> mean(Var<T> x, std::int64_t axis, bool keepdims) { return reduce_axis<Mean<T>>(x, axis, keepdims); }
template <class T> Var<T> max(Var<T> x) { return reduce_all<Max<T>>(x); }
template <class T> Var<T> max(Var<T> x, std::int64_t axis, bool keepdims) { return reduce_axis<Max<T>>(x, axis, keepdims); }
template <class T> Var<T> min(Var<T> x) { return reduce_all<Min<T>>(x); }
template <class T> Var<T> min(Var<T> x, std::int64_t axis, bool keepdims) { return reduce_axis<Min<T>>(x, axis, keepdims); }
template <class T> Var<T> logsumexp(Var<T> x) { return reduce_all<LogSumExpReduce<T>>(x); }
template <class T> Var<T> logsumexp(Var<T> x, std::int64_t axis, bool keepdims) { return reduce_axis<LogSumExpReduce<T>>(x, axis, keepdims); }

#define TAPEGRAD_INSTANTIATE(T)                                 \
    template Var<T> sum(Var<T>);                                \
    template Var<T> sum(Var<T>, std::int64_t, bool);            \
    template Var<T> mean(Var<T>);                               \
    template Var<T> mean(Var<T>, std::int64_t, bool);           \
    template Var<T> max(Var<T>);                                \
    template Var<T> max(Var<T>, std::int64_t, bool);            \
    template Var<T> min(Var<T>);                                \
    template Var<T> min(Var<T>, std::int64_t, bool);            \
    template Var<T> logsumexp(Var<T>);                          \
    template Var<T> logsumexp(Var<T>, std::int64_t, bool);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)

}  // namespace tapegrad
