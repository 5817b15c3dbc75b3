#include "kernels.hpp"

#include "kernels_simd.hpp"

namespace tapegrad::kernels {

namespace simd {
// Compiled in kernels_<arch>.cpp, each with its own instruction set.
TAPEGRAD_KERNELS_FOR(extern, xsimd::avx512bw)
TAPEGRAD_KERNELS_FOR(extern, xsimd::fma3<xsimd::avx2>)
TAPEGRAD_KERNELS_FOR(extern, xsimd::sse2)
}  // namespace simd

// Each dispatcher reads the CPU's instruction sets once, at its first call.
template <class T>
void sigmoid(const T* x, T* y, std::size_t n) {
    static auto f = xsimd::dispatch<simd::Archs>(simd::Sigmoid{});
    f(x, y, n);
}

template <class T>
void tanh(const T* x, T* y, std::size_t n) {
    static auto f = xsimd::dispatch<simd::Archs>(simd::Tanh{});
    f(x, y, n);
}

template <class T>
void exp(const T* x, T* y, std::size_t n) {
    static auto f = xsimd::dispatch<simd::Archs>(simd::Exp{});
    f(x, y, n);
}

template void sigmoid<float>(const float*, float*, std::size_t);
template void sigmoid<double>(const double*, double*, std::size_t);
template void tanh<float>(const float*, float*, std::size_t);
template void tanh<double>(const double*, double*, std::size_t);
template void exp<float>(const float*, float*, std::size_t);
template void exp<double>(const double*, double*, std::size_t);

}  // namespace tapegrad::kernels
