#pragma once
/// \file
/// The bodies of the vectorized kernels (kernels_simd.hpp). Included only by
/// the kernels_<arch>.cpp files, each compiled for its instruction set.

#include "kernels_simd.hpp"

namespace tapegrad::kernels::simd {

// Runs f(batch) over x in whole batches; the tail goes through one padded
// batch, so every element gets the same arithmetic wherever it sits.
template <class Arch, class T, class F>
void map_batches(const T* x, T* y, std::size_t n, F f) {
    using B = xsimd::batch<T, Arch>;
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

template <class Arch, class T>
void Sigmoid::operator()(Arch, const T* x, T* y, std::size_t n) const {
    using B = xsimd::batch<T, Arch>;
    map_batches<Arch>(x, y, n, [](const B& v) {
        const B e = xsimd::exp(-xsimd::abs(clamp_finite(v, T(1000))));
        const B r = B(T(1)) / (B(T(1)) + e);
        return keep_nan(v, xsimd::select(v >= B(T(0)), r, e * r));
    });
}

template <class Arch, class T>
void Tanh::operator()(Arch, const T* x, T* y, std::size_t n) const {
    using B = xsimd::batch<T, Arch>;
    map_batches<Arch>(x, y, n, [](const B& v) { return keep_nan(v, xsimd::tanh(clamp_finite(v, T(40)))); });
}

template <class Arch, class T>
void Exp::operator()(Arch, const T* x, T* y, std::size_t n) const {
    using B = xsimd::batch<T, Arch>;
    map_batches<Arch>(x, y, n, [](const B& v) { return keep_nan(v, xsimd::exp(clamp_finite(v, T(1000)))); });
}

}  // namespace tapegrad::kernels::simd
