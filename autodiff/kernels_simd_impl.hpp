#pragma once
/// \file
/// The bodies of the vectorized kernels (kernels_simd.hpp). Included only by
/// the kernels_<arch>.cpp files, each compiled for its instruction set.

#include <cstdint>
#include <type_traits>

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

// a·b + c in one rounding. xsimd 8.1 has no AVX-512 fma kernel: its generic
// one is a·b + c, which the library's -ffp-contract=off keeps as two
// instructions and two roundings (twice the latency of the polynomials
// below), so AVX-512 calls the instruction itself. SSE2 has no FMA: a·b + c.
// (c − a·b is fmadd(−a, b, c): the negation is exact.)
template <class B>
B fmadd(const B& a, const B& b, const B& c) {
    if constexpr (std::is_base_of_v<xsimd::avx512f, typename B::arch_type>)
        return B(_mm512_fmadd_ps(a, b, c));
    else
        return xsimd::fma(a, b, c);
}

// e^−a for float batches with a in [0, 104] (beyond, e^−a is below half the
// smallest denormal). xsimd's float exp costs about 40 instructions a batch,
// most of them range checks that a known range makes unnecessary: this is
// Cephes' expf (round(−a·log2 e) = n, r = −a − n·ln 2 in two parts, a degree-5
// polynomial; about 1 ulp) with 2^n built in the exponent bits. 2^(n+64)
// stays normal for n down to −150; the ·2^−64 after it is exact for normal
// results and rounds the denormal ones, as e^−a itself would be rounded.
template <class B>
B exp_neg_float(const B& a) {
    using I = xsimd::batch<std::int32_t, typename B::arch_type>;
    const B x = -a;
    const B n = xsimd::nearbyint(x * B(1.44269504088896341f));
    B r = fmadd(-n, B(0.693359375f), x);
    r = fmadd(-n, B(-2.12194440e-4f), r);
    B p = B(1.9875691500e-4f);
    p = fmadd(p, r, B(1.3981999507e-3f));
    p = fmadd(p, r, B(8.3334519073e-3f));
    p = fmadd(p, r, B(4.1665795894e-2f));
    p = fmadd(p, r, B(1.6666665459e-1f));
    p = fmadd(p, r, B(5.0000001201e-1f));
    const B y = fmadd(p, r * r, r) + B(1.0f);  // Cephes' order: the 1 last
    const I biased = (xsimd::nearbyint_as_int(n) + I(127 + 64)) << 23;  // n is integral: exact
    return y * xsimd::bitwise_cast<B>(biased) * B(0x1p-64f);
}

// |v| brought into [0, 104] for exp_neg_float: inf to 104, NaN to 0 (NaN is
// passed through by keep_nan afterwards; converting it to int would not be).
template <class B>
B exp_neg_argument(const B& v, typename B::value_type scale) {
    using T = typename B::value_type;
    const B a = xsimd::abs(v) * B(scale);
    return xsimd::select(a <= B(T(104)), a, xsimd::select(v == v, B(T(104)), B(T(0))));
}

// Float: Cephes' tanhf. Below |x| = 0.625 an odd polynomial (1 − e^−2|x|
// would lose digits to cancellation there), above it (1 − e)/(1 + e) with
// e = e^−2|x| ≤ 0.29, which never overflows. Double stays on xsimd's tanh,
// which the PyTorch parity tests hold to 1e-10.
template <class B>
B tanh_polynomial(const B& v) {  // |v| < 0.625: odd, so for either sign
    const B z = v * v;
    B p = B(-5.70498872745e-3f);
    p = fmadd(p, z, B(2.06390887954e-2f));
    p = fmadd(p, z, B(-5.37397155531e-2f));
    p = fmadd(p, z, B(1.33314422036e-1f));
    p = fmadd(p, z, B(-3.33332819422e-1f));
    return fmadd(p * z, v, v);
}

template <class B>
B tanh_float(const B& v) {
    const B a = xsimd::abs(v);
    const B small = tanh_polynomial(a);
    const auto is_small = a < B(0.625f);
    // A recurrent cell's pre-activations are mostly small: whole batches of
    // them skip the exp and the division (as xsimd's tanh does). Each lane
    // takes the formula for its own value either way.
    if (xsimd::all(is_small)) return xsimd::copysign(small, v);
    const B e = exp_neg_float(exp_neg_argument(v, 2.0f));
    const B large = (B(1.0f) - e) / (B(1.0f) + e);
    return xsimd::copysign(xsimd::select(is_small, small, large), v);  // odd, and tanh(−0) = −0
}

// Float: σ(x) = ½ + ½·tanh(x/2) for |x| < 1.25 (no exp, no division; σ ≥
// 0.22 there, so the sum loses no digits), else from e^−|x| as for double.
// Each lane's formula depends on its own value only, so an element gets the
// same bits wherever it sits; whole batches of small values skip the exp.
template <class B>
B sigmoid_float(const B& v) {
    const B small = fmadd(B(0.5f), tanh_polynomial(v * B(0.5f)), B(0.5f));
    const auto is_small = xsimd::abs(v) < B(1.25f);
    if (xsimd::all(is_small)) return small;
    const B e = exp_neg_float(exp_neg_argument(v, 1.0f));
    const B large = xsimd::select(v >= B(0.0f), B(1.0f), e) / (B(1.0f) + e);  // 1/(1+e) or e/(1+e): one rounding
    return xsimd::select(is_small, small, large);
}

template <class Arch, class T>
void Sigmoid::operator()(Arch, const T* x, T* y, std::size_t n) const {
    using B = xsimd::batch<T, Arch>;
    map_batches<Arch>(x, y, n, [](const B& v) {
        if constexpr (std::is_same_v<T, float>) {
            return keep_nan(v, sigmoid_float(v));
        } else {
            const B e = xsimd::exp(-xsimd::abs(clamp_finite(v, T(1000))));
            const B r = B(T(1)) / (B(T(1)) + e);
            return keep_nan(v, xsimd::select(v >= B(T(0)), r, e * r));
        }
    });
}

template <class Arch, class T>
void Tanh::operator()(Arch, const T* x, T* y, std::size_t n) const {
    using B = xsimd::batch<T, Arch>;
    if constexpr (std::is_same_v<T, float>)
        map_batches<Arch>(x, y, n, [](const B& v) { return keep_nan(v, tanh_float(v)); });
    else
        map_batches<Arch>(x, y, n, [](const B& v) { return keep_nan(v, xsimd::tanh(clamp_finite(v, T(40)))); });
}

template <class Arch, class T>
void Exp::operator()(Arch, const T* x, T* y, std::size_t n) const {
    using B = xsimd::batch<T, Arch>;
    map_batches<Arch>(x, y, n, [](const B& v) { return keep_nan(v, xsimd::exp(clamp_finite(v, T(1000)))); });
}

}  // namespace tapegrad::kernels::simd
