#include "blis_side.hpp"

#ifdef TAPEGRAD_BENCH_WITH_BLIS
#include <blis.h>
#endif

namespace bench {

#ifdef TAPEGRAD_BENCH_WITH_BLIS
bool blis_built() { return true; }

void blis_sgemm(bool ta, bool tb, int m, int n, int k, const float* a, const float* b, float beta, float* c) {
    static const bool one_thread = [] {
        bli_thread_set_num_threads(1);
        return true;
    }();
    (void)one_thread;
    float one = 1.0f;
    // Row-major: a row stride of the leading dimension and a column stride of 1.
    bli_sgemm(ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, m, n, k, &one, const_cast<float*>(a),
              ta ? m : k, 1, const_cast<float*>(b), tb ? k : n, 1, &beta, c, n, 1);
}
#else
bool blis_built() { return false; }
void blis_sgemm(bool, bool, int, int, int, const float*, const float*, float, float*) {}
#endif

}  // namespace bench
