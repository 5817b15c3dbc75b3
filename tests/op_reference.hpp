#pragma once
// Reference forwards of the ops, in double, written as plain loops over
// multi-indices: no xtensor expression, no BLAS, nothing shared with the
// library's own code, so that the op table (op_table.hpp) checks each op's
// forward against an independent computation.

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include <tapegrad/tapegrad.hpp>

namespace ref {

using Tens = tapegrad::Tensor<double>;
using Shape = std::vector<std::size_t>;
using Axes = std::vector<std::int64_t>;

Shape shape_of(const Tens& x);
Tens make(const Shape& s, double fill = 0);

// ---- elementwise, with NumPy broadcasting ----------------------------------
Tens map(const Tens& x, const std::function<double(double)>& f);
Tens zip(const Tens& a, const Tens& b, const std::function<double(double, double)>& f);
Tens where(const Tens& cond, const Tens& a, const Tens& b);

// ---- linear algebra --------------------------------------------------------
Tens matmul(const Tens& a, const Tens& b);
Tens linear(const Tens& x, const Tens& w, const std::optional<Tens>& b = std::nullopt);
Tens permute(const Tens& x, const Axes& axes);

// ---- shape -------------------------------------------------------------------
Tens reshape(const Tens& x, const Shape& s);
Tens narrow(const Tens& x, std::int64_t axis, std::size_t start, std::size_t length);
Tens select(const Tens& x, std::int64_t axis, std::size_t index);
Tens concat(const std::vector<Tens>& xs, std::int64_t axis);
Tens stack(const std::vector<Tens>& xs, std::int64_t axis);
Tens index_select(const Tens& x, std::int64_t axis, const std::vector<std::int64_t>& index);
Tens gather(const Tens& x, std::int64_t axis, const tapegrad::Index& index);

// ---- reductions (axis nullopt: all elements, to a 0-d value) ----------------
enum class Reduce { sum, mean, max, min, logsumexp };
Tens reduce(const Tens& x, Reduce how, std::optional<std::int64_t> axis = std::nullopt, bool keepdims = false);
Tens softmax(const Tens& x, std::int64_t axis, bool log);

// ---- losses ------------------------------------------------------------------
Tens mse(const Tens& pred, const Tens& target);
Tens cross_entropy(const Tens& logits, const tapegrad::Index& targets, const std::optional<Tens>& mask = std::nullopt);
Tens bce_with_logits(const Tens& logits, const Tens& targets, const std::optional<Tens>& mask = std::nullopt);

}  // namespace ref
