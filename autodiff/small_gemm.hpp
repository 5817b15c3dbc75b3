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

/// C (m×n, row-major) = op(A)·op(B) + beta·C with libxsmm, when beta is 0
/// or 1, small kernels are enabled, libxsmm has a kernel for the layout
/// (not for A·Bᵀ, but see the tiles) and the product is
///   - small: m·n·k ≤ 2^18, where OpenBLAS too runs on one thread;
///   - thin, on one or two OpenBLAS threads: larger, but cut into small
///     products of at least 8 rows (A·B, A·Bᵀ with Bᵀ copied first; 32 rows
///     for A·Bᵀ on two threads) or, for Aᵀ·B, of 8 inner rows;
///   - medium, on one or two OpenBLAS threads where libxsmm's kernels are
///     AVX-512 and OpenBLAS's are not (`small_gemm_medium`): up to 2^29
///     multiply-adds, no operand above 2^22 elements, more than one row and
///     column (not A·Bᵀ: a Linear layer's forward product reads the tape's
///     transposed copy of its weight instead). On two threads C is computed
///     in pieces that this thread and a helper thread take in turn
///     (helper_thread.hpp).
/// Returns false, having done nothing, otherwise (small_gemm.cpp has the
/// measurements behind each bound).
bool small_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const float* a, const float* b, float beta,
                float* c);
bool small_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const double* a, const double* b, double beta,
                double* c);

/// Whether `small_gemm` would compute the untransposed product of this size
/// and beta whole, as a small or a medium one (libxsmm has a kernel for every
/// such one).
bool small_gemm_takes(std::size_t m, std::size_t n, std::size_t k, double beta);
/// Whether this build has libxsmm (CMake option TAPEGRAD_LIBXSMM).
bool small_gemm_built();
/// Whether libxsmm also takes medium products here: its kernels use AVX-512
/// and OpenBLAS's do not (`blas_kernel_avx512`).
bool small_gemm_medium();
/// Turns the small kernels on or off for the whole process (on by default):
/// the benchmark alternates both in one run, and a test compares them.
void set_small_gemm_enabled(bool on);
bool small_gemm_enabled();

}  // namespace tapegrad::detail
