#include "blas.hpp"

#include <cblas.h>

#include <atomic>
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "small_gemm.hpp"

namespace tapegrad::detail {

namespace {

thread_local std::uint64_t flops_run = 0;
thread_local bool openblas_warm = false;

// When OpenBLAS last ran a product on several threads, in steady_clock
// nanoseconds. OpenBLAS 0.3.21 runs a gemm on one thread up to 2^18
// multiply-adds (SMP_THRESHOLD_MIN · GEMM_MULTITHREAD_THRESHOLD) and a gemv
// up to a matrix of 9216 elements (2304 · GEMM_MULTITHREAD_THRESHOLD).
std::atomic<std::int64_t> threaded_at_ns{std::numeric_limits<std::int64_t>::min() / 2};

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void note_openblas_product(std::uint64_t work, std::uint64_t threaded_above) {
    if (work > threaded_above && blas_threads() > 1) threaded_at_ns.store(now_ns(), std::memory_order_relaxed);
}

// OpenBLAS's idle threads poll for 2^timeout time-stamp counter ticks
// (OPENBLAS_THREAD_TIMEOUT or GOTO_THREAD_TIMEOUT, clamped to 4..30; 28 by
// default) before they sleep; counted here at 2 GHz, a lower bound for the
// counter of the machines this runs on, so the wait is not underestimated.
std::int64_t openblas_spin_ns() {
    int exponent = 28;
    for (const char* name : {"OPENBLAS_THREAD_TIMEOUT", "GOTO_THREAD_TIMEOUT"}) {
        const char* value = std::getenv(name);
        if (value == nullptr) continue;
        const long given = std::strtol(value, nullptr, 10);
        if (given > 0) exponent = int(std::clamp(given, 4L, 30L));
        break;
    }
    return std::int64_t((std::uint64_t(1) << exponent) / 2);
}

// A product with one row (m = 1) or one column (n = 1) is a matrix-vector
// product: OpenBLAS's gemv reads the matrix once, where its gemm first packs
// all of it into its buffer (24 % of the instructions of the char LM's
// sampling loop, one token at a time). Row-major; the vector operand and the
// result are contiguous either way (their other dimension is 1). Not for
// k = 0, where gemv returns without scaling c by beta and gemm does not.
template <class T, class Gemv>
bool vector_product(Gemv gemv, bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const T* a, const T* b, T beta, T* c) {
    if (k == 0 || (m != 1 && n != 1)) return false;
    note_openblas_product(std::uint64_t(k) * (m == 1 ? n : m), 9216);
    if (m == 1) {  // c (n) = op(B)ᵀ·a, B stored k×n, or n×k when tb
        gemv(CblasRowMajor, tb ? CblasNoTrans : CblasTrans, int(tb ? n : k), int(tb ? k : n), T(1), b, int(tb ? k : n), a, 1, beta, c, 1);
    } else {  // c (m) = op(A)·b, A stored m×k, or k×m when ta
        gemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, int(ta ? k : m), int(ta ? m : k), T(1), a, int(ta ? m : k), b, 1, beta, c, 1);
    }
    return true;
}

// The body of both gemm overloads: libxsmm for small, thin and (where its
// kernels are wider) medium products (small_gemm.hpp), gemv for one row or
// column, and OpenBLAS's gemm, warmed up, for the rest.
template <class T, class Gemm, class Gemv>
void product(Gemm gemm_fn, Gemv gemv, bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const T* a, const T* b, T beta,
             T* c) {
    flops_run += 2 * std::uint64_t(m) * n * k;
    if (small_gemm(ta, tb, m, n, k, a, b, beta, c)) return;
    if (vector_product(gemv, ta, tb, m, n, k, a, b, beta, c)) return;  // gemv packs nothing: no warm-up needed
    if (!openblas_warm) warm_blas();
    note_openblas_product(std::uint64_t(m) * n * k, std::uint64_t(1) << 18);
    gemm_fn(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k), T(1), a,
            int(ta ? m : k), b, int(tb ? k : n), beta, c, int(n));
}

}  // namespace

// OpenBLAS packs the operands of a product into a buffer of its own that it
// maps once and does not fault in. A small product writes only part of it but
// touches pages behind that part, which then stay unmapped: on this project's
// AMD EPYC a 16×256×64 product ran at 12.5 GFLOP/s for the life of the
// process, and at 27 once a larger product had written those pages, or with
// the buffer mapped by MAP_POPULATE; on two threads a 64×1024×256 product ran
// at 7 instead of 55 (docs/performance.md). So the first gemm a thread asks
// of OpenBLAS is preceded by one 512³ product, about 10 ms once, which writes
// them (256³ was not enough for every shape). Not counted in gemm_flops.
void warm_blas() {
    openblas_warm = true;
    constexpr int n = 512;
    std::vector<float> scratch(3 * n * n, 0.0f);
    float* const a = scratch.data();
    note_openblas_product(std::uint64_t(n) * n * n, std::uint64_t(1) << 18);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, a + n * n, n, 0.0f, a + 2 * n * n, n);
}

std::uint64_t gemm_flops() { return flops_run; }

void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const float* a, const float* b, float beta, float* c) {
    product(cblas_sgemm, cblas_sgemv, ta, tb, m, n, k, a, b, beta, c);
}

void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const double* a, const double* b, double beta, double* c) {
    product(cblas_dgemm, cblas_dgemv, ta, tb, m, n, k, a, b, beta, c);
}

int blas_threads() { return openblas_get_num_threads(); }

bool blas_threads_spinning() {
    static const std::int64_t spin_ns = openblas_spin_ns();
    return now_ns() - threaded_at_ns.load(std::memory_order_relaxed) < spin_ns;
}

bool blas_kernel_avx512() {
    const char* name = openblas_get_corename();
    if (name == nullptr) return false;
    std::string core(name);
    for (char& ch : core) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    return core.find("skylakex") != std::string::npos || core.find("cooperlake") != std::string::npos ||
           core.find("sapphirerapids") != std::string::npos;
}

}  // namespace tapegrad::detail
