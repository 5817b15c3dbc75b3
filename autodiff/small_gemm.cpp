#include "small_gemm.hpp"

#include <atomic>
#include <cstdint>

#ifdef TAPEGRAD_HAVE_LIBXSMM
#include <libxsmm.h>
#endif

namespace tapegrad::detail {

namespace {

std::atomic<bool> enabled{true};

#ifdef TAPEGRAD_HAVE_LIBXSMM
// OpenBLAS runs a product below 2^18 multiply-adds on one thread
// (SMP_THRESHOLD_MIN · GEMM_MULTITHREAD_THRESHOLD), so handing such a product
// to a single-threaded libxsmm kernel never takes a thread away. Above it the
// measured gain ends too (docs/performance.md).
constexpr std::uint64_t max_multiply_adds = std::uint64_t(1) << 18;

bool wanted(std::size_t m, std::size_t n, std::size_t k, double beta) {
    // Each factor ≤ 2^18 before the product, so m·n·k cannot wrap.
    if (m == 0 || n == 0 || k == 0 || m > max_multiply_adds || n > max_multiply_adds || k > max_multiply_adds) return false;
    return std::uint64_t(m) * n * k <= max_multiply_adds && (beta == 0 || beta == 1) && enabled.load(std::memory_order_relaxed);
}

// libxsmm is column-major. A row-major C = op(A)·op(B) is, read column-major,
// Cᵀ = op(B)ᵀ·op(A)ᵀ: the same products with the operands swapped, each
// keeping its own transpose flag. libxsmm 1.17 compiles kernels for an
// untransposed first operand only, so a row-major A·Bᵀ (the forward product
// of a Linear layer) finds no kernel and stays with OpenBLAS.
template <class T, class Dispatch>
bool run(Dispatch dispatch, bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const T* a, const T* b, T beta, T* c) {
    const int flags = (tb ? LIBXSMM_GEMM_FLAG_TRANS_A : 0) | (ta ? LIBXSMM_GEMM_FLAG_TRANS_B : 0);
    const auto lda = libxsmm_blasint(tb ? k : n), ldb = libxsmm_blasint(ta ? m : k), ldc = libxsmm_blasint(n);
    const T one = 1;
    // The dispatch is a lookup in libxsmm's kernel registry (a kernel is
    // compiled once per shape and process); null when it has no kernel.
    const auto kernel = dispatch(libxsmm_blasint(n), libxsmm_blasint(m), libxsmm_blasint(k), &lda, &ldb, &ldc, &one, &beta, &flags,
                                 nullptr);
    if (!kernel) return false;
    kernel(b, a, c);
    return true;
}
#endif

}  // namespace

#ifdef TAPEGRAD_HAVE_LIBXSMM
bool small_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const float* a, const float* b, float beta,
                float* c) {
    return wanted(m, n, k, beta) && run(libxsmm_smmdispatch, ta, tb, m, n, k, a, b, beta, c);
}
bool small_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const double* a, const double* b, double beta,
                double* c) {
    return wanted(m, n, k, beta) && run(libxsmm_dmmdispatch, ta, tb, m, n, k, a, b, beta, c);
}
bool small_gemm_takes(std::size_t m, std::size_t n, std::size_t k, double beta) { return wanted(m, n, k, beta); }
bool small_gemm_built() { return true; }
#else
bool small_gemm_takes(std::size_t, std::size_t, std::size_t, double) { return false; }
bool small_gemm(bool, bool, std::size_t, std::size_t, std::size_t, const float*, const float*, float, float*) { return false; }
bool small_gemm(bool, bool, std::size_t, std::size_t, std::size_t, const double*, const double*, double, double*) { return false; }
bool small_gemm_built() { return false; }
#endif

void set_small_gemm_enabled(bool on) { enabled.store(on, std::memory_order_relaxed); }
bool small_gemm_enabled() { return enabled.load(std::memory_order_relaxed); }

}  // namespace tapegrad::detail
