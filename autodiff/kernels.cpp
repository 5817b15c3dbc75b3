#include "kernels.hpp"

#include <xsimd/xsimd.hpp>

namespace tapegrad::kernels {

namespace {

// Runs f(batch) over x in whole batches; the tail goes through one padded
// batch, so every element gets the same arithmetic wherever it sits.
template <class T, class F>
void map_batches(const T* x, T* y, std::size_t n, F f) {
    using B = xsimd::batch<T>;
    std::size_t i = 0;
    for (; i + B::size <= n; i += B::size) f(B::load_unaligned(x + i)).store_unaligned(y + i);
    if (i == n) return;
    alignas(64) T buf[B::size] = {};
    for (std::size_t k = 0; i + k < n; ++k) buf[k] = x[i + k];
    f(B::load_aligned(buf)).store_aligned(buf);
    for (std::size_t k = 0; i + k < n; ++k) y[i + k] = buf[k];
}

}  // namespace

template <class T>
void sigmoid(const T* x, T* y, std::size_t n) {
    using B = xsimd::batch<T>;
    map_batches(x, y, n, [](const B& v) {
        const B e = xsimd::exp(-xsimd::abs(v));
        const B r = B(T(1)) / (B(T(1)) + e);
        return xsimd::select(v >= B(T(0)), r, e * r);
    });
}

template <class T>
void tanh(const T* x, T* y, std::size_t n) {
    using B = xsimd::batch<T>;
    map_batches(x, y, n, [](const B& v) { return xsimd::tanh(v); });
}

template void sigmoid<float>(const float*, float*, std::size_t);
template void sigmoid<double>(const double*, double*, std::size_t);
template void tanh<float>(const float*, float*, std::size_t);
template void tanh<double>(const double*, double*, std::size_t);

}  // namespace tapegrad::kernels
