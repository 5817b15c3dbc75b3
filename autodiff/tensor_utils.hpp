#pragma once
/// \file
/// Everyday work with plain tensors, outside the tape: creating them, picking
/// the largest entries, sampling, converting between float, double and
/// `Index`. None of these records anything; the `Var` overloads read the
/// handle's value.
///
/// Shapes are `tg::Shape{2, 3}`; axes may be negative (counted from the end).
/// Shapes too large for a tensor and failed allocations throw `ShapeError`,
/// bad arguments `ArgumentError`, each naming the function.

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "random.hpp"
#include "tensor.hpp"
#include "var.hpp"

namespace tapegrad {

// ---- creation ------------------------------------------------------------------

/// A tensor holding `values` in row-major order, of shape `shape` (default:
/// 1-D, as many as there are values): `tg::tensor<std::int64_t>({3, 1, 4})`
/// is an `Index`. `ShapeError` if the shape's size is not the values' count.
/// T is float, double or std::int64_t, here and for zeros, ones and full.
template <class T> Tensor<T> tensor(const std::vector<T>& values, const Shape& shape);
template <class T> Tensor<T> tensor(const std::vector<T>& values) { return tensor(values, Shape{values.size()}); }
/// All zeros, all ones, all `value`, of `shape` (`{}`: a 0-d scalar).
template <class T = float> Tensor<T> zeros(const Shape& shape);
template <class T = float> Tensor<T> ones(const Shape& shape);
template <class T = float> Tensor<T> full(const Shape& shape, std::type_identity_t<T> value);
/// start, start + step, ... below `stop` (above it for step < 0), 1-D:
/// ceil((stop − start)/step) elements, as numpy and PyTorch. `ArgumentError`
/// for step = 0 or a non-finite bound.
template <class T = float> Tensor<T> arange(double start, double stop, double step = 1);
/// 0, 1, ..., n − 1.
template <class T = float> Tensor<T> arange(double stop) { return arange<T>(0, stop, 1); }
/// n evenly spaced values from start to stop, both included (n = 1: start).
template <class T = float> Tensor<T> linspace(double start, double stop, std::size_t n);
/// Uniform in [0, 1), drawn from `gen` in row-major order.
template <class T = float> Tensor<T> rand(const Shape& shape, Generator& gen);
/// Standard normal, drawn from `gen` in row-major order.
template <class T = float> Tensor<T> randn(const Shape& shape, Generator& gen);
/// Uniform integers in [low, high); `ArgumentError` unless low < high.
Index randint(std::int64_t low, std::int64_t high, const Shape& shape, Generator& gen);

// ---- conversion ----------------------------------------------------------------

/// The same elements as another type: float, double or std::int64_t (Index)
/// each way. To Index, every element must be a whole number within int64's
/// range (`ArgumentError` naming the first that is not); to float, values
/// round to the nearest float.
template <class To, class From> Tensor<To> cast(const Tensor<From>& x);

// ---- largest and smallest entries ------------------------------------------------

/// How many positions of `a` and `b` hold equal indices (predictions against
/// targets: `count_equal(tg::argmax(logits, 1), targets)`). `ShapeError`
/// unless the shapes are equal.
std::size_t count_equal(const Index& a, const Index& b);

/// The flat (row-major) position of the largest / smallest element; the first
/// one on ties; NaN counts as the largest (and smallest), as in PyTorch.
/// `ArgumentError` for an empty tensor.
template <class T> std::int64_t argmax(const Tensor<T>& x);
template <class T> std::int64_t argmin(const Tensor<T>& x);
/// The position along `axis` for every other index: (N, C), axis 1 → (N), or
/// (N, 1) with keepdims. `ArgumentError` for an empty axis.
template <class T> Index argmax(const Tensor<T>& x, std::int64_t axis, bool keepdims = false);
template <class T> Index argmin(const Tensor<T>& x, std::int64_t axis, bool keepdims = false);
template <class T> std::int64_t argmax(Var<T> x) { return argmax(x.value()); }
template <class T> std::int64_t argmin(Var<T> x) { return argmin(x.value()); }
template <class T> Index argmax(Var<T> x, std::int64_t axis, bool keepdims = false) { return argmax(x.value(), axis, keepdims); }
template <class T> Index argmin(Var<T> x, std::int64_t axis, bool keepdims = false) { return argmin(x.value(), axis, keepdims); }

/// The k largest (or smallest) entries along `axis` and their positions, in
/// order (largest first; ties keep the lower position first). (N, C), k,
/// axis 1 → values and indices of shape (N, k). `ArgumentError` if k exceeds
/// the axis' size.
template <class T>
struct TopK {
    Tensor<T> values;
    Index indices;
};
template <class T> TopK<T> topk(const Tensor<T>& x, std::size_t k, std::int64_t axis = -1, bool largest = true);
template <class T> TopK<T> topk(Var<T> x, std::size_t k, std::int64_t axis = -1, bool largest = true) {
    return topk(x.value(), k, axis, largest);
}

// ---- sampling --------------------------------------------------------------------

/// Draws `num_samples` category indices from each row of `weights`, (C) →
/// (num_samples) or (N, C) → (N, num_samples), with probability proportional
/// to the weights (they need not sum to 1). Without replacement, a category
/// is drawn at most once per row (then num_samples ≤ the number of nonzero
/// weights). `ArgumentError` for a negative, NaN or infinite weight or a row
/// summing to 0.
template <class T>
Index multinomial(const Tensor<T>& weights, std::size_t num_samples, Generator& gen, bool replacement = true);
/// One category per row of `logits` from softmax(logits / temperature):
/// (C) → 0-d, (N, C) → (N). temperature → 0 sharpens towards the argmax
/// (exactly 0 is the argmax itself, greedy decoding); large temperatures
/// flatten towards uniform. `ArgumentError` for a negative or NaN temperature.
template <class T>
Index sample_logits(const Tensor<T>& logits, Generator& gen, double temperature = 1.0);
template <class T>
Index sample_logits(Var<T> logits, Generator& gen, double temperature = 1.0) {
    return sample_logits(logits.value(), gen, temperature);
}

}  // namespace tapegrad
