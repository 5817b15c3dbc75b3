#pragma once
// OpenBLAS sgemm throughput, measured in the same run as the models, as the
// practical limit the models' GFLOP/s are compared with.

namespace bench {
/// Median GFLOP/s of cblas_sgemm (row-major, C = A·B, A M×K, B K×N) over
/// `samples` samples, each long enough (≥ ~20 ms of repeated calls) to time,
/// with OpenBLAS on `threads` threads.
double sgemm_gflops(int M, int N, int K, int threads, int samples = 7);

/// One cblas_sgemm call of that shape on `threads` threads: OpenBLAS's work
/// buffers are then touched, so that RSS measured afterwards holds them.
void sgemm_touch(int M, int N, int K, int threads);
}  // namespace bench
