#pragma once
// BLIS's sgemm, for bench_small_gemm's comparison only (never in the library):
// in its own translation unit, so that blis.h and OpenBLAS's cblas.h never meet.

namespace bench {
/// Whether bench_small_gemm was built with BLIS (Debian's libblis-dev).
bool blis_built();
/// C (m×n, row-major) = op(A)·op(B) + beta·C by BLIS's typed API on one thread.
void blis_sgemm(bool ta, bool tb, int m, int n, int k, const float* a, const float* b, float beta, float* c);
}  // namespace bench
