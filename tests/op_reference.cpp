#include "op_reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace ref {

namespace {

std::size_t count(const Shape& s) {
    std::size_t n = 1;
    for (const std::size_t d : s) n *= d;
    return n;
}

// Row-major multi-index of flat position i.
std::vector<std::size_t> unravel(std::size_t i, const Shape& s) {
    std::vector<std::size_t> idx(s.size());
    for (std::size_t d = s.size(); d-- > 0;) {
        idx[d] = i % s[d];
        i /= s[d];
    }
    return idx;
}

std::size_t ravel(const std::vector<std::size_t>& idx, const Shape& s) {
    std::size_t i = 0;
    for (std::size_t d = 0; d < s.size(); ++d) i = i * s[d] + idx[d];
    return i;
}

std::size_t axis_of(std::int64_t axis, std::size_t rank) {
    return std::size_t(axis < 0 ? axis + std::int64_t(rank) : axis);
}

// Broadcast shape of a and b (NumPy rules; the tests pass compatible shapes).
Shape broadcast(const Shape& a, const Shape& b) {
    Shape out(std::max(a.size(), b.size()));
    for (std::size_t k = 0; k < out.size(); ++k) {
        const std::size_t da = k < out.size() - a.size() ? 1 : a[k - (out.size() - a.size())];
        const std::size_t db = k < out.size() - b.size() ? 1 : b[k - (out.size() - b.size())];
        out[k] = da == 1 ? db : da;
    }
    return out;
}

// The element of x (shape s) that an output index of a broadcast result reads.
double at_broadcast(const Tens& x, const Shape& s, const std::vector<std::size_t>& out_idx) {
    std::vector<std::size_t> idx(s.size());
    const std::size_t lead = out_idx.size() - s.size();
    for (std::size_t d = 0; d < s.size(); ++d) idx[d] = s[d] == 1 ? 0 : out_idx[lead + d];
    return x.data()[ravel(idx, s)];
}

}  // namespace

Shape shape_of(const Tens& x) { return Shape(x.shape().begin(), x.shape().end()); }

Tens make(const Shape& s, double fill) {
    Tens t = Tens::from_shape(s);
    std::fill(t.data(), t.data() + t.size(), fill);
    return t;
}

Tens map(const Tens& x, const std::function<double(double)>& f) {
    Tens out = ref::make(shape_of(x));
    for (std::size_t i = 0; i < x.size(); ++i) out.data()[i] = f(x.data()[i]);
    return out;
}

Tens zip(const Tens& a, const Tens& b, const std::function<double(double, double)>& f) {
    const Shape sa = shape_of(a), sb = shape_of(b), s = broadcast(sa, sb);
    Tens out = ref::make(s);
    for (std::size_t i = 0; i < out.size(); ++i) {
        const auto idx = unravel(i, s);
        out.data()[i] = f(at_broadcast(a, sa, idx), at_broadcast(b, sb, idx));
    }
    return out;
}

Tens where(const Tens& cond, const Tens& a, const Tens& b) {
    const Shape sc = shape_of(cond), sa = shape_of(a), sb = shape_of(b), s = broadcast(sc, broadcast(sa, sb));
    Tens out = ref::make(s);
    for (std::size_t i = 0; i < out.size(); ++i) {
        const auto idx = unravel(i, s);
        out.data()[i] = at_broadcast(cond, sc, idx) != 0 ? at_broadcast(a, sa, idx) : at_broadcast(b, sb, idx);
    }
    return out;
}

Tens matmul(const Tens& a, const Tens& b) {
    const Shape sa = shape_of(a), sb = shape_of(b);
    const std::size_t M = sa[sa.size() - 2], K = sa.back(), N = sb.back();
    const std::size_t batch = sa.size() == 3 ? sa[0] : sb.size() == 3 ? sb[0] : 1;
    Shape s = batch > 1 || sa.size() == 3 || sb.size() == 3 ? Shape{batch, M, N} : Shape{M, N};
    Tens out = ref::make(s);
    for (std::size_t q = 0; q < batch; ++q)
        for (std::size_t i = 0; i < M; ++i)
            for (std::size_t j = 0; j < N; ++j) {
                double acc = 0;
                for (std::size_t k = 0; k < K; ++k) {
                    const double x = a.data()[(sa.size() == 3 ? q * M * K : 0) + i * K + k];
                    const double y = b.data()[(sb.size() == 3 ? q * K * N : 0) + k * N + j];
                    acc += x * y;
                }
                out.data()[(q * M + i) * N + j] = acc;
            }
    return out;
}

Tens linear(const Tens& x, const Tens& w, const std::optional<Tens>& b) {
    Shape s = shape_of(x);
    const std::size_t I = s.back(), O = w.shape()[0], rows = count(s) / std::max<std::size_t>(I, 1);
    s.back() = O;
    Tens out = ref::make(s);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t o = 0; o < O; ++o) {
            double acc = 0;
            for (std::size_t i = 0; i < I; ++i) acc += x.data()[r * I + i] * w.data()[o * I + i];
            if (b) acc += b->dimension() == 1 ? b->data()[o] : b->data()[r * O + o];
            out.data()[r * O + o] = acc;
        }
    return out;
}

Tens permute(const Tens& x, const Axes& axes) {
    const Shape sx = shape_of(x);
    Shape s(axes.size());
    for (std::size_t k = 0; k < axes.size(); ++k) s[k] = sx[std::size_t(axes[k])];
    Tens out = ref::make(s);
    for (std::size_t i = 0; i < out.size(); ++i) {
        const auto idx = unravel(i, s);
        std::vector<std::size_t> from(sx.size());
        for (std::size_t k = 0; k < axes.size(); ++k) from[std::size_t(axes[k])] = idx[k];
        out.data()[i] = x.data()[ravel(from, sx)];
    }
    return out;
}

Tens reshape(const Tens& x, const Shape& s) {
    Tens out = ref::make(s);
    std::copy(x.data(), x.data() + x.size(), out.data());
    return out;
}

Tens narrow(const Tens& x, std::int64_t axis, std::size_t start, std::size_t length) {
    const Shape sx = shape_of(x);
    const std::size_t a = axis_of(axis, sx.size());
    Shape s = sx;
    s[a] = length;
    Tens out = ref::make(s);
    for (std::size_t i = 0; i < out.size(); ++i) {
        auto idx = unravel(i, s);
        idx[a] += start;
        out.data()[i] = x.data()[ravel(idx, sx)];
    }
    return out;
}

Tens select(const Tens& x, std::int64_t axis, std::size_t index) {
    const Shape sx = shape_of(x);
    const std::size_t a = axis_of(axis, sx.size());
    Tens n = ref::narrow(x, std::int64_t(a), index, 1);
    Shape s = sx;
    s.erase(s.begin() + std::ptrdiff_t(a));
    return ref::reshape(n, s);
}

Tens concat(const std::vector<Tens>& xs, std::int64_t axis) {
    Shape s = shape_of(xs[0]);
    const std::size_t a = axis_of(axis, s.size());
    s[a] = 0;
    for (const Tens& x : xs) s[a] += x.shape()[a];
    Tens out = ref::make(s);
    std::size_t offset = 0;
    for (const Tens& x : xs) {
        const Shape sx = shape_of(x);
        for (std::size_t i = 0; i < x.size(); ++i) {
            auto idx = unravel(i, sx);
            idx[a] += offset;
            out.data()[ravel(idx, s)] = x.data()[i];
        }
        offset += sx[a];
    }
    return out;
}

Tens stack(const std::vector<Tens>& xs, std::int64_t axis) {
    Shape s = shape_of(xs[0]);
    const std::size_t a = axis_of(axis, s.size() + 1);
    s.insert(s.begin() + std::ptrdiff_t(a), 1);
    std::vector<Tens> expanded;
    for (const Tens& x : xs) expanded.push_back(ref::reshape(x, s));
    return ref::concat(expanded, std::int64_t(a));
}

Tens index_select(const Tens& x, std::int64_t axis, const std::vector<std::int64_t>& index) {
    const std::size_t a = axis_of(axis, x.dimension());
    std::vector<Tens> picked;
    for (const std::int64_t k : index) picked.push_back(ref::narrow(x, std::int64_t(a), std::size_t(k), 1));
    if (picked.empty()) {
        Shape s = shape_of(x);
        s[a] = 0;
        return ref::make(s);
    }
    return ref::concat(picked, std::int64_t(a));
}

Tens gather(const Tens& x, std::int64_t axis, const tapegrad::Index& index) {
    const Shape sx = shape_of(x), s(index.shape().begin(), index.shape().end());
    const std::size_t a = axis_of(axis, sx.size());
    Tens out = ref::make(s);
    for (std::size_t i = 0; i < out.size(); ++i) {
        auto idx = unravel(i, s);
        idx[a] = std::size_t(index.data()[i]);
        out.data()[i] = x.data()[ravel(idx, sx)];
    }
    return out;
}

Tens reduce(const Tens& x, Reduce how, std::optional<std::int64_t> axis, bool keepdims) {
    const Shape sx = shape_of(x);
    // All elements: one line over a flattened x.
    if (!axis) return ref::reduce(ref::reshape(x, {x.size()}), how, 0, false);
    const std::size_t a = axis_of(*axis, sx.size()), len = sx[a];
    Shape s = sx;
    s[a] = 1;
    Tens out = ref::make(s);
    for (std::size_t i = 0; i < out.size(); ++i) {
        auto idx = unravel(i, s);
        std::vector<double> line;
        for (std::size_t k = 0; k < len; ++k) {
            idx[a] = k;
            line.push_back(x.data()[ravel(idx, sx)]);
        }
        double r = 0;
        if (how == Reduce::sum || how == Reduce::mean) {
            for (const double v : line) r += v;
            if (how == Reduce::mean) r /= double(len);
        } else if (how == Reduce::max || how == Reduce::min) {
            r = line.at(0);
            for (const double v : line) r = how == Reduce::max ? std::max(r, v) : std::min(r, v);
        } else {  // logsumexp, stable
            const double m = line.empty() ? -INFINITY : *std::max_element(line.begin(), line.end());
            for (const double v : line) r += std::exp(v - m);
            r = std::isinf(m) && m < 0 ? m : m + std::log(r);
        }
        out.data()[i] = r;
    }
    if (!keepdims) s.erase(s.begin() + std::ptrdiff_t(a));
    return ref::reshape(out, s);
}

Tens softmax(const Tens& x, std::int64_t axis, bool log) {
    const Shape sx = shape_of(x);
    const std::size_t a = axis_of(axis, sx.size());
    const Tens lse = ref::reduce(x, Reduce::logsumexp, std::int64_t(a), true);
    Shape sl = shape_of(lse);
    Tens out = ref::make(sx);
    for (std::size_t i = 0; i < x.size(); ++i) {
        auto idx = unravel(i, sx);
        idx[a] = 0;
        const double y = x.data()[i] - lse.data()[ravel(idx, sl)];
        out.data()[i] = log ? y : std::exp(y);
    }
    return out;
}

Tens mse(const Tens& pred, const Tens& target) {
    double s = 0;
    for (std::size_t i = 0; i < pred.size(); ++i) s += (pred.data()[i] - target.data()[i]) * (pred.data()[i] - target.data()[i]);
    return ref::make({}, s / double(pred.size()));
}

Tens cross_entropy(const Tens& logits, const tapegrad::Index& targets, const std::optional<Tens>& mask) {
    const Tens logp = ref::softmax(logits, 1, true);
    const std::size_t C = logits.shape()[1];
    double s = 0, weight = 0;
    for (std::size_t n = 0; n < targets.size(); ++n) {
        const double w = mask ? mask->data()[n] : 1.0;
        s -= w * logp.data()[n * C + std::size_t(targets.data()[n])];
        weight += w;
    }
    return ref::make({}, s / weight);
}

Tens bce_with_logits(const Tens& logits, const Tens& targets, const std::optional<Tens>& mask) {
    double s = 0, weight = 0;
    for (std::size_t i = 0; i < logits.size(); ++i) {
        const double x = logits.data()[i], z = targets.data()[i], w = mask ? mask->data()[i] : 1.0;
        // −z·log σ(x) − (1−z)·log(1−σ(x)) = max(x, 0) − x·z + log(1 + e^−|x|)
        s += w * (std::max(x, 0.0) - x * z + std::log1p(std::exp(-std::abs(x))));
        weight += w;
    }
    return ref::make({}, s / weight);
}

}  // namespace ref
