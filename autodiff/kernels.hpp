#pragma once
/// \file
/// Elementwise kernels on contiguous buffers, for the ops' same-shape fast
/// paths. Transcendentals go through xsimd (vectorized exp and tanh); the
/// arithmetic ones are plain loops the compiler vectorizes. Keeping them out
/// of xtensor expressions matters at recurrent sizes: a (16, 64) tensor is
/// 1024 floats, and an expression's per-assignment bookkeeping (broadcast
/// shape, stride checks) costs as much as the arithmetic itself.

#include <cstddef>

namespace tapegrad::kernels {

/// y = σ(x) = 1/(1+e^−x), computed from e^−|x| so nothing overflows.
template <class T>
void sigmoid(const T* x, T* y, std::size_t n);
/// y = tanh(x).
template <class T>
void tanh(const T* x, T* y, std::size_t n);
/// y = eˣ (inf above the overflow threshold, 0 below the underflow one, NaN for NaN).
template <class T>
void exp(const T* x, T* y, std::size_t n);

/// dst[i] = f(i) when `assign`, else dst[i] += f(i).
template <class T, class F>
inline void store_or_add(T* __restrict dst, std::size_t n, bool assign, F f) {
    if (assign)
        for (std::size_t i = 0; i < n; ++i) dst[i] = f(i);
    else
        for (std::size_t i = 0; i < n; ++i) dst[i] += f(i);
}

}  // namespace tapegrad::kernels
