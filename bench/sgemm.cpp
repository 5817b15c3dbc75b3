#include "sgemm.hpp"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <vector>

namespace bench {

double sgemm_gflops(int M, int N, int K, int threads, int samples) {
    openblas_set_num_threads(threads);
    std::vector<float> a(std::size_t(M) * K), b(std::size_t(K) * N), c(std::size_t(M) * N);
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = float(i % 17) * 0.01f - 0.08f;
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = float(i % 13) * 0.01f - 0.06f;
    const double flop = 2.0 * M * N * K;
    auto call = [&] { cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f, c.data(), N); };
    // Calls per sample so that one sample lasts ≥ ~20 ms (at ≥ 1 call).
    call();
    auto t0 = std::chrono::steady_clock::now();
    call();
    const double one = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const int reps = std::max(1, int(0.02 / std::max(one, 1e-7)));
    std::vector<double> rates;
    for (int s = 0; s < samples; ++s) {
        t0 = std::chrono::steady_clock::now();
        for (int r = 0; r < reps; ++r) call();
        const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        rates.push_back(flop * reps / sec / 1e9);
    }
    std::sort(rates.begin(), rates.end());
    return rates[rates.size() / 2];
}

void sgemm_touch(int M, int N, int K, int threads) {
    openblas_set_num_threads(threads);
    std::vector<float> a(std::size_t(M) * K, 0.5f), b(std::size_t(K) * N, 0.25f), c(std::size_t(M) * N);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f, c.data(), N);
}

}  // namespace bench
