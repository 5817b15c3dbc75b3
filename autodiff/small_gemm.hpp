#pragma once
/// \file
/// Small matrix products by libxsmm's just-in-time compiled kernels, behind
/// `detail::gemm` (autodiff/blas.cpp). A recurrent step of a small model runs
/// products of 16 rows by a few hundred columns, where OpenBLAS, tuned for
/// large shapes, reaches a third of what a kernel compiled for the exact shape
/// does (docs/performance.md). Without libxsmm in the build every call
/// returns false and OpenBLAS does all products.

#include <cstddef>

namespace tapegrad::detail {

/// C (m×n, row-major) = op(A)·op(B) + beta·C with libxsmm, when the product
/// is small (m·n·k ≤ 2^18, where OpenBLAS too runs on one thread), beta is 0
/// or 1, libxsmm has a kernel for the layout, and small kernels are enabled.
/// Returns false, having done nothing, otherwise.
bool small_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const float* a, const float* b, float beta,
                float* c);
bool small_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const double* a, const double* b, double beta,
                double* c);

/// Whether `small_gemm` would compute the untransposed product of this size
/// and beta (libxsmm has a kernel for every such one).
bool small_gemm_takes(std::size_t m, std::size_t n, std::size_t k, double beta);
/// Whether this build has libxsmm (CMake option TAPEGRAD_LIBXSMM).
bool small_gemm_built();
/// Turns the small kernels on or off for the whole process (on by default):
/// the benchmark alternates both in one run, and a test compares them.
void set_small_gemm_enabled(bool on);
bool small_gemm_enabled();

}  // namespace tapegrad::detail
