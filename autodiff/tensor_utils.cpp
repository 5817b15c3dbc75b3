#include "tensor_utils.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "op_support.hpp"

namespace tapegrad {

namespace {

// A tensor of `shape`, its size checked and a failed allocation reported as
// a ShapeError naming `fn`.
template <class T>
Tensor<T> allocate(const char* fn, const Shape& shape) {
    shape_size(fn, shape);
    try {
        return Tensor<T>::from_shape(shape);
    } catch (const std::bad_alloc&) {
        throw ShapeError(std::string(fn) + ": out of memory allocating a tensor of shape " + shape_str(shape));
    } catch (const std::length_error&) {
        throw ShapeError(std::string(fn) + ": out of memory allocating a tensor of shape " + shape_str(shape));
    }
}

std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

}  // namespace

// ---- creation ------------------------------------------------------------------

namespace {
template <class T>
Tensor<T> filled(const char* fn, const Shape& shape, T value) {
    Tensor<T> out = allocate<T>(fn, shape);
    std::fill(out.begin(), out.end(), value);
    return out;
}
}  // namespace

template <class T>
Tensor<T> tensor(const std::vector<T>& values, const Shape& shape) {
    Tensor<T> out = allocate<T>("tensor", shape);
    if (out.size() != values.size())
        throw ShapeError("tensor: " + std::to_string(values.size()) + " values for shape " + shape_str(shape) + " of " +
                         std::to_string(out.size()) + " elements");
    std::copy(values.begin(), values.end(), out.begin());
    return out;
}

template <class T> Tensor<T> full(const Shape& shape, std::type_identity_t<T> value) { return filled<T>("full", shape, value); }
template <class T> Tensor<T> zeros(const Shape& shape) { return filled<T>("zeros", shape, T(0)); }
template <class T> Tensor<T> ones(const Shape& shape) { return filled<T>("ones", shape, T(1)); }

template <class T>
Tensor<T> arange(double start, double stop, double step) {
    if (!std::isfinite(start) || !std::isfinite(stop) || !std::isfinite(step) || step == 0)
        throw ArgumentError("arange: start " + number(start) + ", stop " + number(stop) + " and step " + number(step) +
                            " must be finite, with step != 0");
    const double count = std::max(0.0, std::ceil((stop - start) / step));
    if (!(count <= static_cast<double>(kMaxElements)))
        throw ShapeError("arange: " + number(count) + " elements are more than a tensor can hold");
    Tensor<T> out = allocate<T>("arange", Shape{static_cast<std::size_t>(count)});
    for (std::size_t i = 0; i < out.size(); ++i) out.data()[i] = static_cast<T>(start + static_cast<double>(i) * step);
    return out;
}

template <class T>
Tensor<T> linspace(double start, double stop, std::size_t n) {
    if (!std::isfinite(start) || !std::isfinite(stop))
        throw ArgumentError("linspace: start " + number(start) + " and stop " + number(stop) + " must be finite");
    Tensor<T> out = allocate<T>("linspace", Shape{n});
    const double step = n > 1 ? (stop - start) / static_cast<double>(n - 1) : 0.0;
    for (std::size_t i = 0; i < n; ++i) out.data()[i] = static_cast<T>(start + static_cast<double>(i) * step);
    if (n > 1) out.data()[n - 1] = static_cast<T>(stop);  // exactly stop, not start + (n−1)·step
    return out;
}

template <class T>
Tensor<T> rand(const Shape& shape, Generator& gen) {
    Tensor<T> out = allocate<T>("rand", shape);
    for (T& v : out) {
        v = static_cast<T>(gen.uniform());
        if (v == T(1)) v = std::nextafter(T(1), T(0));  // a double just below 1 can round up to 1.0f
    }
    return out;
}

template <class T>
Tensor<T> randn(const Shape& shape, Generator& gen) {
    Tensor<T> out = allocate<T>("randn", shape);
    for (T& v : out) v = static_cast<T>(gen.normal());
    return out;
}

Index randint(std::int64_t low, std::int64_t high, const Shape& shape, Generator& gen) {
    if (!(low < high))
        throw ArgumentError("randint: low " + std::to_string(low) + " must be below high " + std::to_string(high));
    // high − low fits in uint64 for any int64 pair with low < high.
    const std::uint64_t span = static_cast<std::uint64_t>(high) - static_cast<std::uint64_t>(low);
    Index out = allocate<std::int64_t>("randint", shape);
    for (std::int64_t& v : out) v = static_cast<std::int64_t>(static_cast<std::uint64_t>(low) + gen.below(span));
    return out;
}

// ---- conversion ----------------------------------------------------------------

template <class To, class From>
Tensor<To> cast(const Tensor<From>& x) {
    Tensor<To> out = allocate<To>("cast", Shape(x.shape().begin(), x.shape().end()));
    for (std::size_t i = 0; i < x.size(); ++i) {
        const From v = x.data()[i];
        if constexpr (std::is_integral_v<To> && !std::is_integral_v<From>) {
            // 2^63 is exactly representable; every whole value below it converts.
            if (!(std::nearbyint(v) == v && v >= From(-0x1p63) && v < From(0x1p63)))
                throw ArgumentError("cast: element " + std::to_string(i) + " of " + shape_str(x.shape()) + " (" +
                                    number(static_cast<double>(v)) + ") is not a whole number within int64's range");
        }
        out.data()[i] = static_cast<To>(v);
    }
    return out;
}

std::size_t count_equal(const Index& a, const Index& b) {
    if (a.shape() != b.shape())
        throw ShapeError("count_equal: shapes " + shape_str(a.shape()) + " and " + shape_str(b.shape()) + " differ");
    std::size_t n = 0;
    for (std::size_t i = 0; i < a.size(); ++i) n += a.data()[i] == b.data()[i];
    return n;
}

// ---- largest and smallest entries ------------------------------------------------

namespace {

// Whether a beats b for the maximum (kMax) or the minimum; NaN beats
// everything but NaN, so the first NaN wins, as in PyTorch.
template <bool kMax, class T>
bool better(T a, T b) {
    if (std::isnan(b)) return false;
    return std::isnan(a) || (kMax ? a > b : a < b);
}

template <bool kMax, class T>
std::int64_t arg_extremum(const char* fn, const Tensor<T>& x) {
    if (x.size() == 0) throw ArgumentError(std::string(fn) + ": the tensor of shape " + shape_str(x.shape()) + " is empty");
    std::size_t best = 0;
    for (std::size_t i = 1; i < x.size(); ++i)
        if (better<kMax>(x.data()[i], x.data()[best])) best = i;
    return static_cast<std::int64_t>(best);
}

struct Lines {
    std::size_t outer = 1, n = 1, inner = 1, axis = 0;
};

// The ops' axis rules and (outer, n, inner) geometry (op_support.hpp).
template <class T>
Lines lines_of(const char* fn, const Tensor<T>& x, std::int64_t axis) {
    const std::size_t a = detail::normalize_axis(fn, axis, x.dimension());
    const detail::AxisGeometry g = detail::axis_geometry(x.shape(), a);
    return {g.outer, g.n, g.inner, a};
}

// x's shape with the axis removed, kept at size 1, or set to `size`.
template <class T>
Shape reduced_shape(const Tensor<T>& x, std::size_t axis, bool keep, std::size_t size = 1) {
    Shape s(x.shape().begin(), x.shape().end());
    if (keep)
        s[axis] = size;
    else
        s.erase(s.begin() + static_cast<std::ptrdiff_t>(axis));
    return s;
}

template <bool kMax, class T>
Index arg_extremum(const char* fn, const Tensor<T>& x, std::int64_t axis, bool keepdims) {
    const Lines l = lines_of(fn, x, axis);
    Index out = allocate<std::int64_t>(fn, reduced_shape(x, l.axis, keepdims));
    if (out.size() != 0 && l.n == 0)
        throw ArgumentError(std::string(fn) + ": axis " + std::to_string(axis) + " of shape " + shape_str(x.shape()) + " is empty");
    for (std::size_t o = 0; o < l.outer && out.size() != 0; ++o)
        for (std::size_t i = 0; i < l.inner; ++i) {
            const T* line = x.data() + o * l.n * l.inner + i;
            std::size_t best = 0;
            for (std::size_t j = 1; j < l.n; ++j)
                if (better<kMax>(line[j * l.inner], line[best * l.inner])) best = j;
            out.data()[o * l.inner + i] = static_cast<std::int64_t>(best);
        }
    return out;
}

}  // namespace

template <class T> std::int64_t argmax(const Tensor<T>& x) { return arg_extremum<true>("argmax", x); }
template <class T> std::int64_t argmin(const Tensor<T>& x) { return arg_extremum<false>("argmin", x); }
template <class T> Index argmax(const Tensor<T>& x, std::int64_t axis, bool keepdims) {
    return arg_extremum<true>("argmax", x, axis, keepdims);
}
template <class T> Index argmin(const Tensor<T>& x, std::int64_t axis, bool keepdims) {
    return arg_extremum<false>("argmin", x, axis, keepdims);
}

template <class T>
TopK<T> topk(const Tensor<T>& x, std::size_t k, std::int64_t axis, bool largest) {
    const Lines l = lines_of("topk", x, axis);
    if (k > l.n)
        throw ArgumentError("topk: k = " + std::to_string(k) + " is more than the " + std::to_string(l.n) + " entries along axis " +
                            std::to_string(axis) + " of shape " + shape_str(x.shape()));
    const Shape shape = reduced_shape(x, l.axis, true, k);
    TopK<T> out{allocate<T>("topk", shape), allocate<std::int64_t>("topk", shape)};
    std::vector<std::size_t> order(l.n);
    for (std::size_t o = 0; o < l.outer; ++o)
        for (std::size_t i = 0; i < l.inner; ++i) {
            const T* line = x.data() + o * l.n * l.inner + i;
            std::iota(order.begin(), order.end(), std::size_t{0});
            // A stable sort keeps the lower position first among equal values.
            std::stable_sort(order.begin(), order.end(), [line, stride = l.inner, largest](std::size_t a, std::size_t b) {
                const T va = line[a * stride], vb = line[b * stride];
                return largest ? better<true>(va, vb) : better<false>(va, vb);
            });
            for (std::size_t j = 0; j < k; ++j) {
                const std::size_t at = (o * k + j) * l.inner + i;
                out.values.data()[at] = line[order[j] * l.inner];
                out.indices.data()[at] = static_cast<std::int64_t>(order[j]);
            }
        }
    return out;
}

#define TAPEGRAD_INSTANTIATE_FILLED(T)                                                   \
    template Tensor<T> tensor<T>(const std::vector<T>&, const Shape&);                   \
    template Tensor<T> zeros<T>(const Shape&);                                           \
    template Tensor<T> ones<T>(const Shape&);                                            \
    template Tensor<T> full<T>(const Shape&, std::type_identity_t<T>);
TAPEGRAD_INSTANTIATE_FILLED(float)
TAPEGRAD_INSTANTIATE_FILLED(double)
TAPEGRAD_INSTANTIATE_FILLED(std::int64_t)
#undef TAPEGRAD_INSTANTIATE_FILLED

#define TAPEGRAD_INSTANTIATE(T)                                                          \
    template Tensor<T> arange<T>(double, double, double);                                \
    template Tensor<T> linspace<T>(double, double, std::size_t);                         \
    template Tensor<T> rand<T>(const Shape&, Generator&);                                \
    template Tensor<T> randn<T>(const Shape&, Generator&);                               \
    template std::int64_t argmax(const Tensor<T>&);                                      \
    template std::int64_t argmin(const Tensor<T>&);                                      \
    template Index argmax(const Tensor<T>&, std::int64_t, bool);                         \
    template Index argmin(const Tensor<T>&, std::int64_t, bool);                         \
    template TopK<T> topk(const Tensor<T>&, std::size_t, std::int64_t, bool);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

template Tensor<float> cast<float>(const Tensor<float>&);
template Tensor<float> cast<float>(const Tensor<double>&);
template Tensor<float> cast<float>(const Index&);
template Tensor<double> cast<double>(const Tensor<float>&);
template Tensor<double> cast<double>(const Tensor<double>&);
template Tensor<double> cast<double>(const Index&);
template Index cast<std::int64_t>(const Tensor<float>&);
template Index cast<std::int64_t>(const Tensor<double>&);
template Index cast<std::int64_t>(const Index&);

}  // namespace tapegrad
