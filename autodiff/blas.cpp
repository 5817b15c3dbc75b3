#include "blas.hpp"

#include <cblas.h>

namespace tapegrad::detail {

namespace {
thread_local std::uint64_t flops_run = 0;
}  // namespace

std::uint64_t gemm_flops() { return flops_run; }

void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const float* a, const float* b, float beta, float* c) {
    flops_run += 2 * std::uint64_t(m) * n * k;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k), 1.0f, a,
                int(ta ? m : k), b, int(tb ? k : n), beta, c, int(n));
}

void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const double* a, const double* b, double beta, double* c) {
    flops_run += 2 * std::uint64_t(m) * n * k;
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k), 1.0, a,
                int(ta ? m : k), b, int(tb ? k : n), beta, c, int(n));
}

int blas_threads() { return openblas_get_num_threads(); }

}  // namespace tapegrad::detail
