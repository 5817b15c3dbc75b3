#pragma once
/// \file
/// The primitive ops. Each takes handles, records one node on their tape and
/// returns its handle. All operands of one call must come from the same tape
/// (`TapeMismatchError`) and its current epoch (`StaleVarError`). A shape that
/// does not fit throws `ShapeError` naming the op and every operand's shape; an
/// axis or index out of range throws `ArgumentError`. A throwing op records
/// nothing.
///
/// Broadcasting follows numpy: shapes are aligned on their last axis, and a
/// size-1 (or missing) axis stretches to the other operand's size. In backward,
/// each operand's gradient is summed back to that operand's own shape.
///
/// Axes may be negative (counted from the end), as in numpy and PyTorch.
///
/// All ops are templates over the scalar type, instantiated for float and double.

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <type_traits>
#include <span>
#include <vector>

#include "tape.hpp"

namespace tapegrad {

/// A scalar argument of type T that does not take part in deduction, so that
/// `pow(x, 2.0)` works for a `Var<float>` x.
template <class T>
using Scalar_t = std::type_identity_t<T>;

/// An optional weight tensor that does not take part in deduction, so a plain
/// tensor or `std::nullopt` can be passed.
template <class T>
using Mask_t = std::type_identity_t<std::optional<Tensor<T>>>;

// ---- elementwise, binary, broadcasting ------------------------------------

/// a + b, broadcast. Backward: g summed to each shape.
template <class T> Var<T> add(Var<T> a, Var<T> b);
/// a − b, broadcast.
template <class T> Var<T> sub(Var<T> a, Var<T> b);
/// a ⊙ b, broadcast. Backward: g⊙b to a, g⊙a to b.
template <class T> Var<T> mul(Var<T> a, Var<T> b);
/// a / b, broadcast. Backward: g/b to a, −g⊙a/b² to b.
template <class T> Var<T> div(Var<T> a, Var<T> b);

// ---- elementwise with a scalar --------------------------------------------

/// x + s.
template <class T> Var<T> add_scalar(Var<T> x, Scalar_t<T> s);
/// x · s.
template <class T> Var<T> mul_scalar(Var<T> x, Scalar_t<T> s);
/// x / s (s ≠ 0 is not checked: division follows IEEE rules).
template <class T> Var<T> div_scalar(Var<T> x, Scalar_t<T> s);
/// s / x.
template <class T> Var<T> rdiv_scalar(Scalar_t<T> s, Var<T> x);

// ---- elementwise, unary ----------------------------------------------------

/// −x.
template <class T> Var<T> neg(Var<T> x);
/// eˣ. Backward reads the output.
template <class T> Var<T> exp(Var<T> x);
/// ln x (NaN/−inf for x ≤ 0, as IEEE says).
template <class T> Var<T> log(Var<T> x);
/// ln(1 + x), accurate for |x| ≪ 1 (where 1 + x rounds to 1). Backward: g / (1 + x).
template <class T> Var<T> log1p(Var<T> x);
/// √x. Backward: g / (2√x), reading the output.
template <class T> Var<T> sqrt(Var<T> x);
/// xᵖ for a scalar exponent p. Backward: g·(p·xᵖ⁻¹), as PyTorch: exactly 0 for
/// p = 0 (also at x = 0), 1 for p = 1, ±inf at x = 0 for p < 1.
template <class T> Var<T> pow(Var<T> x, Scalar_t<T> p);
/// |x|. Backward: g·sign(x), 0 at x = 0.
template <class T> Var<T> abs(Var<T> x);
/// tanh x. Backward: g·(1 − y²), reading the output.
template <class T> Var<T> tanh(Var<T> x);
/// 1 / (1 + e⁻ˣ), computed without overflow for any |x|. Backward: g·y·(1 − y).
template <class T> Var<T> sigmoid(Var<T> x);
/// max(x, 0). Backward: g where x > 0.
template <class T> Var<T> relu(Var<T> x);
/// min(max(x, lo), hi); `ArgumentError` if lo > hi. Backward: g where lo ≤ x ≤ hi.
template <class T> Var<T> clamp(Var<T> x, Scalar_t<T> lo, Scalar_t<T> hi);
// ---- comparisons (masks) -----------------------------------------------------

/// Elementwise a = b, a ≠ b, a < b, a ≤ b, a > b, a ≥ b, broadcast, as 1 or 0
/// (IEEE: NaN compares false, and unequal to everything). The mask is a
/// constant: no gradient flows through it; use it with `where` or `mul`.
/// Each also compares with a scalar: `gt(x, 0.0)`.
template <class T> Var<T> eq(Var<T> a, Var<T> b);
template <class T> Var<T> ne(Var<T> a, Var<T> b);
template <class T> Var<T> lt(Var<T> a, Var<T> b);
template <class T> Var<T> le(Var<T> a, Var<T> b);
template <class T> Var<T> gt(Var<T> a, Var<T> b);
template <class T> Var<T> ge(Var<T> a, Var<T> b);
template <class T> Var<T> eq(Var<T> a, Scalar_t<T> s);
template <class T> Var<T> ne(Var<T> a, Scalar_t<T> s);
template <class T> Var<T> lt(Var<T> a, Scalar_t<T> s);
template <class T> Var<T> le(Var<T> a, Scalar_t<T> s);
template <class T> Var<T> gt(Var<T> a, Scalar_t<T> s);
template <class T> Var<T> ge(Var<T> a, Scalar_t<T> s);

/// Elementwise `cond ≠ 0 ? a : b`, all three broadcast together. `cond` gets
/// no gradient; a and b get g where selected, summed to their shapes.
template <class T> Var<T> where(Var<T> cond, Var<T> a, Var<T> b);

// ---- linear algebra --------------------------------------------------------

/// Matrix product. Shapes: (M,K)@(K,N) → (M,N); batched (B,M,K)@(B,K,N) →
/// (B,M,N); (B,M,K)@(K,N) → (B,M,N) and (M,K)@(B,K,N) → (B,M,N) share the 2-D
/// operand across the batch. BLAS (OpenBLAS) sgemm/dgemm; backward accumulates
/// straight into the operands' gradients (beta = 1).
template <class T> Var<T> matmul(Var<T> a, Var<T> b);
/// x·wᵀ (+ b), PyTorch's F.linear: x (..., I), w (O, I), b (O) → (..., O).
/// b may also have the full output shape (..., O), as in torch.addmm: then it
/// is the GEMM's starting value (beta = 1), which is how a recurrent cell adds
/// its precomputed input projection without a separate add.
/// Leading axes of x fold into the rows of one GEMM; backward accumulates into
/// the gradients with beta = 1 and sums a 1-D b's gradient over the rows.
template <class T> Var<T> linear(Var<T> x, Var<T> w);
template <class T> Var<T> linear(Var<T> x, Var<T> w, Var<T> b);
/// Swaps the last two axes; rank < 2 throws `ArgumentError`.
template <class T> Var<T> transpose(Var<T> x);
/// Reorders axes: output axis k is input axis `axes[k]` (a permutation of 0..rank−1).
template <class T> Var<T> permute(Var<T> x, const std::vector<std::int64_t>& axes);

// ---- shape -------------------------------------------------------------------

/// Same elements, new shape; one entry may be −1 (inferred). `ShapeError` if the
/// element counts differ or −1 cannot be inferred; `ArgumentError` for two −1
/// or another negative size.
template <class T> Var<T> reshape(Var<T> x, const std::vector<std::int64_t>& shape);
/// Elements [start, start+length) along `axis`; the axis keeps its rank.
/// Backward adds into one shared gradient buffer of x (O(size of the slice)).
template <class T> Var<T> narrow(Var<T> x, std::int64_t axis, std::int64_t start, std::int64_t length);
/// Elements [start, end) along `axis`; negative bounds count from the end. Bounds
/// outside the axis, or start > end, throw `ArgumentError` (they are not clamped).
template <class T> Var<T> slice(Var<T> x, std::int64_t axis, std::int64_t start, std::int64_t end);
/// Index `index` (negative counts from the end) along `axis`, which is removed:
/// (T,B,F), axis 0 → (B,F).
/// Like narrow, backward writes into x's shared gradient buffer.
template <class T> Var<T> select(Var<T> x, std::int64_t axis, std::int64_t index);
/// Consecutive pieces of the given sizes along `axis`; sizes that do not sum to
/// the axis' size throw `ShapeError`.
template <class T> std::vector<Var<T>> split(Var<T> x, const std::vector<std::int64_t>& sizes, std::int64_t axis);
/// `n` equal pieces along `axis`; a size not divisible by n throws `ShapeError`.
template <class T> std::vector<Var<T>> chunk(Var<T> x, std::int64_t n, std::int64_t axis);
/// Joins along an existing axis; all other axes must agree.
template <class T> Var<T> concat(std::span<const Var<T>> xs, std::int64_t axis);
/// Joins equal shapes along a new axis inserted at `axis` (−rank−1 ≤ axis ≤ rank).
template <class T> Var<T> stack(std::span<const Var<T>> xs, std::int64_t axis);
/// The same from a vector, or a braced list (`concat({a, b}, axis)`, no allocation).
template <class T> Var<T> concat(const std::vector<Var<T>>& xs, std::int64_t axis) { return concat(std::span<const Var<T>>(xs), axis); }
template <class T> Var<T> stack(const std::vector<Var<T>>& xs, std::int64_t axis) { return stack(std::span<const Var<T>>(xs), axis); }
template <class T> Var<T> concat(std::initializer_list<Var<T>> xs, std::int64_t axis) {
    return concat(std::span<const Var<T>>(xs.begin(), xs.size()), axis);
}
template <class T> Var<T> stack(std::initializer_list<Var<T>> xs, std::int64_t axis) {
    return stack(std::span<const Var<T>>(xs.begin(), xs.size()), axis);
}
/// Picks `index` entries along `axis` (repeats allowed): (N,F), axis 0, k indices
/// → (k,F). Indices must lie in [0, size) (`ArgumentError`). Backward scatters and adds.
template <class T> Var<T> index_select(Var<T> x, std::int64_t axis, const std::vector<std::int64_t>& index);
/// PyTorch's gather: `index` has x's rank, output has index's shape, and
/// out[..i..] = x[..i.. with axis replaced by index[..i..]]. Along the other axes
/// index may not be larger than x (`ShapeError`, as for a rank mismatch); index
/// values must lie in [0, size of axis) (`ArgumentError`). Backward scatters and adds.
template <class T> Var<T> gather(Var<T> x, std::int64_t axis, const Index& index);

// ---- reductions --------------------------------------------------------------

/// Sum of all elements → 0-d.
template <class T> Var<T> sum(Var<T> x);
/// Sum over one axis; keepdims leaves it with size 1.
template <class T> Var<T> sum(Var<T> x, std::int64_t axis, bool keepdims = false);
/// Mean of all elements → 0-d.
template <class T> Var<T> mean(Var<T> x);
/// Mean over one axis.
template <class T> Var<T> mean(Var<T> x, std::int64_t axis, bool keepdims = false);
/// Maximum of all elements → 0-d. Backward: g to the first maximal element.
template <class T> Var<T> max(Var<T> x);
/// Maximum over one axis. Backward: g to the first maximal element of each line.
template <class T> Var<T> max(Var<T> x, std::int64_t axis, bool keepdims = false);

/// Minimum of all elements → 0-d; over one axis. Backward: g to the first
/// minimal element (of each line). NaN propagates, as for max.
template <class T> Var<T> min(Var<T> x);
template <class T> Var<T> min(Var<T> x, std::int64_t axis, bool keepdims = false);
/// log Σ exp x over all elements → 0-d, or over one axis; computed as
/// m + log Σ exp(x − m) with m the maximum, so large values do not overflow.
/// An empty reduction gives −inf. Backward: g·exp(x − y) (the softmax); 0 for
/// a line of only −inf.
template <class T> Var<T> logsumexp(Var<T> x);
template <class T> Var<T> logsumexp(Var<T> x, std::int64_t axis, bool keepdims = false);

// ---- neural ----------------------------------------------------------------

/// Softmax along `axis` (max-subtracted, so large logits do not overflow).
template <class T> Var<T> softmax(Var<T> x, std::int64_t axis = -1);
/// log(softmax(x)) along `axis`, computed as x − logsumexp(x), stable.
template <class T> Var<T> log_softmax(Var<T> x, std::int64_t axis = -1);
/// mean((pred − target)²) → 0-d; pred and target must have the same shape.
/// Both receive gradients.
template <class T> Var<T> mse_loss(Var<T> pred, Var<T> target);
/// Cross-entropy of logits (N,C) against class indices (N) in [0, C) → 0-d,
/// the mean over the batch. With a mask (N), row n is weighted by mask[n] and
/// the mean is over sum(mask). Weights must be finite and >= 0, summing to a
/// finite number above 0; otherwise ArgumentError names the first bad element.
template <class T> Var<T> cross_entropy(Var<T> logits, const Index& targets, const Mask_t<T>& mask = std::nullopt);
/// Binary cross-entropy of logits against targets in [0,1] of the same shape,
/// log-sum-exp stable, mean over elements (or over sum(mask), mask of the same
/// shape and weights as for cross_entropy). Both logits and targets receive
/// gradients. At infinite logits the loss is its limit: inf for a confidently
/// wrong logit (+inf against 0, −inf against 1), 0 for a right one (PyTorch
/// gives NaN there); the logits' gradient σ(x) − z stays finite.
template <class T> Var<T> binary_cross_entropy_with_logits(Var<T> logits, Var<T> targets, const Mask_t<T>& mask = std::nullopt);

// ---- graph -------------------------------------------------------------------

/// The same value as a constant: gradients stop here.
template <class T> Var<T> detach(Var<T> x);

// ---- operators -------------------------------------------------------------

template <class S>
concept Scalar = std::is_arithmetic_v<S>;

template <class T> Var<T> operator+(Var<T> a, Var<T> b) { return add(a, b); }
template <class T> Var<T> operator-(Var<T> a, Var<T> b) { return sub(a, b); }
template <class T> Var<T> operator*(Var<T> a, Var<T> b) { return mul(a, b); }
template <class T> Var<T> operator/(Var<T> a, Var<T> b) { return div(a, b); }
template <class T> Var<T> operator-(Var<T> x) { return neg(x); }
template <class T, Scalar S> Var<T> operator+(Var<T> x, S s) { return add_scalar(x, static_cast<T>(s)); }
template <class T, Scalar S> Var<T> operator+(S s, Var<T> x) { return add_scalar(x, static_cast<T>(s)); }
template <class T, Scalar S> Var<T> operator-(Var<T> x, S s) { return add_scalar(x, -static_cast<T>(s)); }
template <class T, Scalar S> Var<T> operator-(S s, Var<T> x) { return add_scalar(neg(x), static_cast<T>(s)); }
template <class T, Scalar S> Var<T> operator*(Var<T> x, S s) { return mul_scalar(x, static_cast<T>(s)); }
template <class T, Scalar S> Var<T> operator*(S s, Var<T> x) { return mul_scalar(x, static_cast<T>(s)); }
template <class T, Scalar S> Var<T> operator/(Var<T> x, S s) { return div_scalar(x, static_cast<T>(s)); }
template <class T, Scalar S> Var<T> operator/(S s, Var<T> x) { return rdiv_scalar(static_cast<T>(s), x); }

}  // namespace tapegrad
