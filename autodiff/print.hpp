#pragma once
/// \file
/// Printing tensors and handles as PyTorch does:
///
///     std::cout << tg::Tensor<float>{{1, 2.5}, {3, 4}};
///     tensor([[1.0000, 2.5000],
///             [3.0000, 4.0000]])
///
/// Columns are aligned; integers print as "1.", mixed magnitudes in scientific
/// notation; a tensor of more than `threshold` elements shows only the first
/// and last `edge_items` entries of each axis around "..." and its shape.
/// double and int64 tensors name their dtype. A `Var` prints its value and
/// where it came from: `tensor([...], grad_fn=tanh)` or `requires_grad=true`
/// (neither for a value no gradient flows into).

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>

#include "tensor.hpp"
#include "var.hpp"

namespace tapegrad {

struct PrintOptions {
    int precision = 4;             ///< digits after the decimal point
    std::size_t threshold = 1000;  ///< more elements than this are summarized
    std::size_t edge_items = 3;    ///< entries shown at each end of a summarized axis
    std::size_t line_width = 80;   ///< a 1-D row wraps beyond this
};

/// The text `operator<<` prints. T is float, double or std::int64_t.
template <class T>
std::string to_string(const Tensor<T>& x, const PrintOptions& options = {});
/// A handle's value with its origin; throws `StaleVarError` for a cleared tape.
template <class T>
std::string to_string(Var<T> x, const PrintOptions& options = {});

template <class T>
std::ostream& operator<<(std::ostream& out, Var<T> x);

}  // namespace tapegrad

// `Tensor<T>` and `Index` are xtensor types, so argument-dependent lookup
// searches namespace xt, not tapegrad, for their operator<<: the overloads
// live there to make `std::cout << t` work in any namespace. They are exact
// matches, so they also win over <xtensor/xio.hpp>'s if a user includes it.
namespace xt {
std::ostream& operator<<(std::ostream& out, const tapegrad::Tensor<float>& x);
std::ostream& operator<<(std::ostream& out, const tapegrad::Tensor<double>& x);
std::ostream& operator<<(std::ostream& out, const tapegrad::Index& x);
}  // namespace xt
