// Softmax family and losses. Softmax-like ops work on lines along one axis of
// a tensor seen as (outer, n, inner).

#include <cmath>
#include <cstring>
#include <string>

#include "ops.hpp"
#include "op_support.hpp"

namespace tapegrad {

using detail::Dims;

using detail::AxisGeometry;

namespace {

// softmax's and log_softmax's axis.
struct SoftmaxAttrs {
    std::size_t axis;
};
// Whether a mask (saved tensor 0) weights a loss's rows or elements.
struct MaskAttrs {
    bool masked;
};

template <class T, class S>
AxisGeometry line_geometry(const OpContext<T>& c, const S& shape) {
    return detail::axis_geometry(shape, op_attrs<SoftmaxAttrs>(c).axis);
}

// Calls f(base, stride) for every line along the axis: elements base + j·stride.
template <class F>
void for_each_line(const AxisGeometry& g, F f) {
    if (g.n == 0 || g.inner == 0) return;  // empty lines, or none: no loop over (2^40, 0)'s rows
    for (std::size_t o = 0; o < g.outer; ++o)
        for (std::size_t i = 0; i < g.inner; ++i) f(o * g.n * g.inner + i, g.inner);
}

// log Σ_j exp(x_j) along one line as m + log_s with m = max_j x_j. Kept apart
// because x_j − m is exact (Sterbenz) and small, so (x_j − m) − log_s keeps
// full precision even when |x| is large, where x_j − (m + log_s) would round
// at the magnitude of x.
template <class T>
struct LogSumExp {
    T m, log_s;
};
template <class T>
LogSumExp<T> logsumexp_line(const T* x, std::size_t n, std::size_t stride) {
    T m = -std::numeric_limits<T>::infinity();
    for (std::size_t j = 0; j < n; ++j) m = std::max(m, x[j * stride]);
    if (!std::isfinite(m)) return {m, T(0)};
    T s = 0;
    for (std::size_t j = 0; j < n; ++j) s += std::exp(x[j * stride] - m);
    return {m, std::log(s)};
}

template <class T>
struct Softmax {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        const Tensor<T>& x = c.input(0);
        c.fit(out, x.shape());
        const AxisGeometry g = line_geometry(c, x.shape());
        for_each_line(g, [&](std::size_t b, std::size_t s) {
            const LogSumExp<T> l = logsumexp_line(x.data() + b, g.n, s);
            for (std::size_t j = 0; j < g.n; ++j) out.data()[b + j * s] = std::exp((x.data()[b + j * s] - l.m) - l.log_s);
        });
    }
    // dx_j = y_j (g_j − Σ_k g_k y_k)
    static void backward(OpContext<T>& c) {
        if (!c.needs_grad(0)) return;
        T* gx = c.grad_buffer(0).data();
        const T* y = c.output().data();
        const T* g = c.grad().data();
        for_each_line(line_geometry(c, c.output_shape()), [&, len = line_geometry(c, c.output_shape()).n](std::size_t b, std::size_t s) {
            T dot = 0;
            for (std::size_t j = 0; j < len; ++j) dot += g[b + j * s] * y[b + j * s];
            for (std::size_t j = 0; j < len; ++j) gx[b + j * s] += y[b + j * s] * (g[b + j * s] - dot);
        });
    }
    static constexpr OpDef<T> def{"softmax", forward, backward};
};

template <class T>
struct LogSoftmax {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        const Tensor<T>& x = c.input(0);
        c.fit(out, x.shape());
        const AxisGeometry g = line_geometry(c, x.shape());
        for_each_line(g, [&](std::size_t b, std::size_t s) {
            const LogSumExp<T> l = logsumexp_line(x.data() + b, g.n, s);
            for (std::size_t j = 0; j < g.n; ++j) out.data()[b + j * s] = (x.data()[b + j * s] - l.m) - l.log_s;
        });
    }
    // dx_j = g_j − softmax_j · Σ_k g_k
    static void backward(OpContext<T>& c) {
        if (!c.needs_grad(0)) return;
        T* gx = c.grad_buffer(0).data();
        const T* y = c.output().data();
        const T* g = c.grad().data();
        const AxisGeometry geo = line_geometry(c, c.output_shape());
        for_each_line(geo, [&](std::size_t b, std::size_t s) {
            T total = 0;
            for (std::size_t j = 0; j < geo.n; ++j) total += g[b + j * s];
            for (std::size_t j = 0; j < geo.n; ++j) gx[b + j * s] += g[b + j * s] - std::exp(y[b + j * s]) * total;
        });
    }
    static constexpr OpDef<T> def{"log_softmax", forward, backward};
};

template <class T>
struct MseLoss {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        const Tensor<T>& p = c.input(0);
        const Tensor<T>& y = c.input(1);
        c.fit(out, Dims{});
        double s = 0;  // accumulated in double: a float loss over many elements drifts
        for (std::size_t i = 0; i < p.size(); ++i) {
            const double d = double(p.data()[i]) - double(y.data()[i]);
            s += d * d;
        }
        out.data()[0] = static_cast<T>(s / double(p.size()));
    }
    static void backward(OpContext<T>& c) {
        const Tensor<T>& p = c.input(0);
        const Tensor<T>& y = c.input(1);
        const T k = T(2) * c.grad().data()[0] / static_cast<T>(p.size());
        if (c.needs_grad(0)) c.accumulate(0, k * (p - y));
        if (c.needs_grad(1)) c.accumulate(1, k * (y - p));
    }
    static constexpr OpDef<T> def{"mse_loss", forward, backward};
};

// MaskAttrs; the targets are the node's indices.
template <class T>
struct CrossEntropy {
    static double total_weight(const OpContext<T>& c, std::size_t rows) {
        if (!op_attrs<MaskAttrs>(c).masked) return double(rows);
        double w = 0;
        const Tensor<T>& m = c.saved(0);
        for (std::size_t r = 0; r < rows; ++r) w += m.data()[r];
        return w;
    }
    static T weight(const OpContext<T>& c, std::size_t r) { return op_attrs<MaskAttrs>(c).masked ? c.saved(0).data()[r] : T(1); }

    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        const Tensor<T>& x = c.input(0);
        const std::size_t rows = x.shape()[0], classes = x.shape()[1];
        const auto target = c.indices();
        double s = 0;
        for (std::size_t r = 0; r < rows; ++r) {
            const T w = weight(c, r);
            if (w == T(0)) continue;
            const T* line = x.data() + r * classes;
            const LogSumExp<T> l = logsumexp_line(line, classes, 1);
            s += double(w) * (double(l.log_s) - double(line[target[r]] - l.m));
        }
        c.fit(out, Dims{});
        out.data()[0] = static_cast<T>(s / total_weight(c, rows));
    }
    // dx[r,c] = g · w_r / W · (softmax(x_r)_c − [c = target_r])
    static void backward(OpContext<T>& c) {
        if (!c.needs_grad(0)) return;
        const Tensor<T>& x = c.input(0);
        T* gx = c.grad_buffer(0).data();
        const std::size_t rows = x.shape()[0], classes = x.shape()[1];
        const auto target = c.indices();
        const T scale = c.grad().data()[0] / static_cast<T>(total_weight(c, rows));
        for (std::size_t r = 0; r < rows; ++r) {
            const T w = weight(c, r) * scale;
            if (w == T(0)) continue;
            const T* line = x.data() + r * classes;
            const LogSumExp<T> l = logsumexp_line(line, classes, 1);
            T* gl = gx + r * classes;
            for (std::size_t c = 0; c < classes; ++c) gl[c] += w * std::exp((line[c] - l.m) - l.log_s);
            gl[target[r]] -= w;
        }
    }
    static constexpr OpDef<T> def{"cross_entropy", forward, backward};
};

// MaskAttrs.
// loss_i = max(x,0) − x·z + log(1 + e^−|x|), the stable form of
// −z·log σ(x) − (1−z)·log(1−σ(x)).
template <class T>
struct BceWithLogits {
    // max(x,0) − x·z written as x·(1−z) for x ≥ 0 and −x·z for x < 0, with a
    // zero coefficient giving 0 even at x = ±inf (the limit; inf·0 is NaN):
    // (+inf, 0) and (−inf, 1) lose inf, (+inf, 1) and (−inf, 0) lose 0.
    static double element_loss(double x, double z) {
        const double c = x >= 0 ? 1.0 - z : -z;
        const double linear = c == 0 ? 0.0 : x * c;
        return linear + std::log1p(std::exp(-std::abs(x)));
    }
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        const Tensor<T>& x = c.input(0);
        const Tensor<T>& z = c.input(1);
        const T* m = op_attrs<MaskAttrs>(c).masked ? c.saved(0).data() : nullptr;
        double s = 0, w = 0;
        for (std::size_t i = 0; i < x.size(); ++i) {
            const double wi = m ? double(m[i]) : 1.0;
            w += wi;
            if (wi == 0) continue;
            s += wi * element_loss(x.data()[i], z.data()[i]);
        }
        c.fit(out, Dims{});
        out.data()[0] = static_cast<T>(s / w);
    }
    // dx = (σ(x) − z)·w/W·g, dz = −x·w/W·g
    static void backward(OpContext<T>& c) {
        const Tensor<T>& x = c.input(0);
        const Tensor<T>& z = c.input(1);
        const T* m = op_attrs<MaskAttrs>(c).masked ? c.saved(0).data() : nullptr;
        double w = 0;
        for (std::size_t i = 0; i < x.size(); ++i) w += m ? double(m[i]) : 1.0;
        const T scale = static_cast<T>(double(c.grad().data()[0]) / w);
        T* gx = c.needs_grad(0) ? c.grad_buffer(0).data() : nullptr;
        T* gz = c.needs_grad(1) ? c.grad_buffer(1).data() : nullptr;
        for (std::size_t i = 0; i < x.size(); ++i) {
            const T k = scale * (m ? m[i] : T(1));
            if (k == T(0)) continue;  // a masked-out element: 0, even for x = ±inf
            const T xi = x.data()[i];
            const T e = std::exp(-std::abs(xi));
            const T sig = xi >= 0 ? T(1) / (T(1) + e) : e / (T(1) + e);
            if (gx) gx[i] += k * (sig - z.data()[i]);
            if (gz) gz[i] -= k * xi;
        }
    }
    static constexpr OpDef<T> def{"binary_cross_entropy_with_logits", forward, backward};
};

template <class T>
struct Detach {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        const Tensor<T>& x = c.input(0);
        c.fit(out, x.shape());
        if (x.size() != 0) std::memcpy(out.data(), x.data(), x.size() * sizeof(T));
    }
    static void backward(OpContext<T>&) {}  // never runs: a detached node needs no gradient
    static constexpr OpDef<T> def{"detach", forward, backward};
};

// Sums a loss mask's weights, refusing any weight that is negative, infinite
// or NaN (it would silently flip or poison the loss) and a total that is not
// a positive finite number.
template <class T>
double checked_mask_weight(const char* op, const Tensor<T>& mask) {
    double w = 0;
    for (std::size_t i = 0; i < mask.size(); ++i) {
        const T m = mask.data()[i];
        if (!(std::isfinite(m) && m >= T(0)))
            throw ArgumentError(std::string(op) + ": mask weight " + std::to_string(double(m)) + " at element " +
                                std::to_string(i) + " is not a finite number >= 0");
        w += double(m);
    }
    if (!(w > 0) || !std::isfinite(w))
        throw ArgumentError(std::string(op) + ": the mask's weights sum to " + std::to_string(w) +
                            ", not a finite number above 0");
    return w;
}

template <class Op, class T>
Var<T> along_axis(Var<T> x, std::int64_t axis) {
    Tape<T>& t = detail::tape_of(Op::def.name, {x});
    const SoftmaxAttrs a{detail::normalize_axis(Op::def.name, axis, x.dim())};
    return detail::record<Op>(t, {x}, OpAttrs::of(a));
}

}  // namespace

template <class T> Var<T> softmax(Var<T> x, std::int64_t axis) { return along_axis<Softmax<T>>(x, axis); }
template <class T> Var<T> log_softmax(Var<T> x, std::int64_t axis) { return along_axis<LogSoftmax<T>>(x, axis); }

template <class T>
Var<T> mse_loss(Var<T> pred, Var<T> target) {
    Tape<T>& t = detail::tape_of("mse_loss", {pred, target});
    if (!detail::shapes_equal(pred.shape(), target.shape()))
        throw ShapeError("mse_loss: prediction of shape " + shape_str(pred.shape()) + " and target of shape " +
                         shape_str(target.shape()) + " differ");
    if (pred.size() == 0) throw ArgumentError("mse_loss: empty prediction of shape " + shape_str(pred.shape()));
    return detail::record<MseLoss<T>>(t, {pred, target});
}

template <class T>
Var<T> cross_entropy(Var<T> logits, const Index& targets, const Mask_t<T>& mask) {
    Tape<T>& t = detail::tape_of("cross_entropy", {logits});
    if (logits.dim() != 2)
        throw ShapeError("cross_entropy: logits must be (N, C), got " + shape_str(logits.shape()) +
                         "; reshape (T, B, C) logits to (T*B, C)");
    const std::size_t rows = logits.shape()[0], classes = logits.shape()[1];
    if (targets.dimension() != 1 || targets.size() != rows)
        throw ShapeError("cross_entropy: targets of shape " + shape_str(targets.shape()) + " do not match logits " +
                         shape_str(logits.shape()) + " (expected (" + std::to_string(rows) + ",))");
    if (rows == 0 || classes == 0) throw ArgumentError("cross_entropy: empty logits of shape " + shape_str(logits.shape()));
    for (std::size_t r = 0; r < rows; ++r)
        if (targets.data()[r] < 0 || targets.data()[r] >= static_cast<std::int64_t>(classes))
            throw ArgumentError("cross_entropy: target " + std::to_string(targets.data()[r]) + " at row " + std::to_string(r) +
                                " is outside [0, " + std::to_string(classes) + ")");
    if (mask) {
        if (mask->dimension() != 1 || mask->size() != rows)
            throw ShapeError("cross_entropy: mask of shape " + shape_str(mask->shape()) + " does not match logits " +
                             shape_str(logits.shape()) + " (expected (" + std::to_string(rows) + ",))");
        checked_mask_weight("cross_entropy", *mask);
    }
    detail::Recording<T> r(t, CrossEntropy<T>::def, {logits}, OpAttrs::of(MaskAttrs{mask.has_value()}));
    std::copy(targets.data(), targets.data() + rows, r.add_indices(rows));
    if (mask) {
        Tensor<T>& m = r.add_saved();
        detail::resize_to(m, mask->shape());
        std::memcpy(m.data(), mask->data(), rows * sizeof(T));
    }
    return r.finish();
}

template <class T>
Var<T> binary_cross_entropy_with_logits(Var<T> logits, Var<T> targets, const Mask_t<T>& mask) {
    Tape<T>& t = detail::tape_of("binary_cross_entropy_with_logits", {logits, targets});
    if (!detail::shapes_equal(logits.shape(), targets.shape()))
        throw ShapeError("binary_cross_entropy_with_logits: logits of shape " + shape_str(logits.shape()) +
                         " and targets of shape " + shape_str(targets.shape()) + " differ");
    if (logits.size() == 0) throw ArgumentError("binary_cross_entropy_with_logits: empty logits");
    if (mask) {
        if (!detail::shapes_equal(mask->shape(), logits.shape()))
            throw ShapeError("binary_cross_entropy_with_logits: mask of shape " + shape_str(mask->shape()) +
                             " and logits of shape " + shape_str(logits.shape()) + " differ");
        checked_mask_weight("binary_cross_entropy_with_logits", *mask);
    }
    detail::Recording<T> r(t, BceWithLogits<T>::def, {logits, targets}, OpAttrs::of(MaskAttrs{mask.has_value()}));
    if (mask) {
        Tensor<T>& m = r.add_saved();
        detail::resize_to(m, mask->shape());
        std::memcpy(m.data(), mask->data(), mask->size() * sizeof(T));
    }
    return r.finish();
}

template <class T>
Var<T> detach(Var<T> x) {
    Tape<T>& t = detail::tape_of("detach", {x});
    detail::Recording<T> r(t, Detach<T>::def, {x});
    r.stop_gradient();
    return r.finish();
}

#define TAPEGRAD_INSTANTIATE(T)                                                                         \
    template Var<T> softmax(Var<T>, std::int64_t);                                                      \
    template Var<T> log_softmax(Var<T>, std::int64_t);                                                  \
    template Var<T> mse_loss(Var<T>, Var<T>);                                                           \
    template Var<T> cross_entropy(Var<T>, const Index&, const Mask_t<T>&);               \
    template Var<T> binary_cross_entropy_with_logits(Var<T>, Var<T>, const Mask_t<T>&); \
    template Var<T> detach(Var<T>);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)

}  // namespace tapegrad
