// The vectorized kernels for xsimd::avx512bw, compiled with that instruction set's
// flags (CMakeLists.txt); kernels.cpp calls them only on a CPU that has it.

#include "kernels_simd_impl.hpp"

namespace tapegrad::kernels::simd {

TAPEGRAD_KERNELS_FOR(, xsimd::avx512bw)

}  // namespace tapegrad::kernels::simd
