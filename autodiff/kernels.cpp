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

// xsimd's exp (inside its tanh too) converts round(x·log2 e) to an integer
// before it checks the range: for NaN or |x| beyond ~1e18 that conversion is
// undefined behaviour (UBSan: float-cast-overflow). So inputs are brought into
// [-bound, bound] first, where the results at the ends are already exact
// (e^±1000 is inf/0, tanh(±40) is ±1 in float and double), and NaN inputs are
// passed through afterwards.
template <class B>
B clamp_finite(const B& v, typename B::value_type bound) {
    using T = typename B::value_type;
    return xsimd::select(xsimd::abs(v) <= B(bound), v, xsimd::select(v > B(T(0)), B(bound), B(-bound)));
}

template <class B>
B keep_nan(const B& v, const B& result) {
    return xsimd::select(v == v, result, v);
}

}  // namespace

template <class T>
void sigmoid(const T* x, T* y, std::size_t n) {
    using B = xsimd::batch<T>;
    map_batches(x, y, n, [](const B& v) {
        const B e = xsimd::exp(-xsimd::abs(clamp_finite(v, T(1000))));
        const B r = B(T(1)) / (B(T(1)) + e);
        return keep_nan(v, xsimd::select(v >= B(T(0)), r, e * r));
    });
}

template <class T>
void tanh(const T* x, T* y, std::size_t n) {
    using B = xsimd::batch<T>;
    map_batches(x, y, n, [](const B& v) { return keep_nan(v, xsimd::tanh(clamp_finite(v, T(40)))); });
}

template <class T>
void exp(const T* x, T* y, std::size_t n) {
    using B = xsimd::batch<T>;
    map_batches(x, y, n, [](const B& v) { return keep_nan(v, xsimd::exp(clamp_finite(v, T(1000)))); });
}

template void sigmoid<float>(const float*, float*, std::size_t);
template void sigmoid<double>(const double*, double*, std::size_t);
template void tanh<float>(const float*, float*, std::size_t);
template void tanh<double>(const double*, double*, std::size_t);
template void exp<float>(const float*, float*, std::size_t);
template void exp<double>(const double*, double*, std::size_t);

}  // namespace tapegrad::kernels
