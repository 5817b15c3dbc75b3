#pragma once
/// \file
/// The vectorized kernels, templated on the xsimd instruction set (`Arch`).
/// Internal: each kernels_<arch>.cpp compiles them for one
/// instruction set with that set's compiler flags, and kernels.cpp picks the
/// best one the CPU has at run time (`xsimd::dispatch`). So a library built
/// for any x86-64 still runs its transcendentals with AVX-512 where there is
/// AVX-512 — the build need not be tuned to the machine.

#include <cstddef>

#include <xsimd/xsimd.hpp>

namespace tapegrad::kernels::simd {

// Declarations only: the bodies (kernels_simd_impl.hpp) are compiled in
// the kernels_<arch>.cpp files alone, so no other file compiles code for an
// instruction set it was not built for, not even by inlining.
struct Sigmoid {  ///< y = σ(x): from e^−|x| (nothing overflows); float: ½ + ½·tanh(x/2) below |x| = 1.25, 2 ulp
    template <class Arch, class T>
    void operator()(Arch, const T* x, T* y, std::size_t n) const;
};
struct Tanh {  ///< float: Cephes' tanhf, 2 ulp; double: xsimd's tanh
    template <class Arch, class T>
    void operator()(Arch, const T* x, T* y, std::size_t n) const;
};
struct Exp {
    template <class Arch, class T>
    void operator()(Arch, const T* x, T* y, std::size_t n) const;
};

/// The instruction sets compiled, best first (xsimd::dispatch takes the first
/// the CPU supports): AVX-512 (F, CD, DQ, BW), AVX2 with FMA, and SSE2, which
/// every x86-64 has.
using Archs = xsimd::arch_list<xsimd::avx512bw, xsimd::fma3<xsimd::avx2>, xsimd::sse2>;

/// Declares (DECLARE = extern) or instantiates every kernel for one `Arch`.
#define TAPEGRAD_KERNELS_FOR(DECLARE, Arch)                                                                   \
    DECLARE template void Sigmoid::operator()<Arch, float>(Arch, const float*, float*, std::size_t) const;    \
    DECLARE template void Sigmoid::operator()<Arch, double>(Arch, const double*, double*, std::size_t) const; \
    DECLARE template void Tanh::operator()<Arch, float>(Arch, const float*, float*, std::size_t) const;       \
    DECLARE template void Tanh::operator()<Arch, double>(Arch, const double*, double*, std::size_t) const;    \
    DECLARE template void Exp::operator()<Arch, float>(Arch, const float*, float*, std::size_t) const;        \
    DECLARE template void Exp::operator()<Arch, double>(Arch, const double*, double*, std::size_t) const;

}  // namespace tapegrad::kernels::simd
