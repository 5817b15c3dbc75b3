#pragma once
/// \file
/// The library's one door to BLAS (OpenBLAS), so that no header needs cblas.h.

#include <cstddef>
#include <cstdint>

namespace tapegrad::detail {

/// C (m×n, row-major) = op(A)·op(B) + beta·C, op = transpose when `ta`/`tb`.
void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const float* a, const float* b, float beta, float* c);
void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const double* a, const double* b, double beta, double* c);
/// Floating-point operations (2·m·n·k per call) of every GEMM this thread
/// has run through `gemm`: the profiler reads it before and after an op.
std::uint64_t gemm_flops();
/// Writes this thread's OpenBLAS work buffer with one 512³ product (blas.cpp
/// says why). `gemm` does it before the thread's first OpenBLAS gemm; the
/// kernel benchmark calls it to measure OpenBLAS warm, as the library runs it.
void warm_blas();
/// The number of threads OpenBLAS runs a GEMM on.
int blas_threads();
/// Whether OpenBLAS's other threads may still be spinning: it ran a product
/// on several threads (from any thread of the process) within its thread
/// timeout, during which its idle threads poll for work instead of sleeping
/// (0.1 s by default; OPENBLAS_THREAD_TIMEOUT sets it). A medium product
/// then stays whole on the calling thread (small_gemm.cpp) rather than put
/// its second half on a core that such a thread occupies.
bool blas_threads_spinning();
/// Whether OpenBLAS runs an AVX-512 kernel here (its core: SkylakeX,
/// Cooperlake, SapphireRapids). Not on this project's AMD EPYC, where the
/// environment pins OPENBLAS_CORETYPE=Haswell (AVX2).
bool blas_kernel_avx512();

}  // namespace tapegrad::detail
