#include "float_mode.hpp"

#if defined(__x86_64__) || defined(__SSE2__)
#include <xmmintrin.h>
#define TAPEGRAD_HAVE_MXCSR 1
#endif

namespace tapegrad {

#ifdef TAPEGRAD_HAVE_MXCSR
namespace {
constexpr unsigned kFlushToZero = 0x8000;       // MXCSR.FTZ: denormal results become 0
constexpr unsigned kDenormalsAreZero = 0x0040;  // MXCSR.DAZ: denormal inputs read as 0
}  // namespace

bool set_flush_denormal(bool on) noexcept {
    const unsigned csr = _mm_getcsr();
    _mm_setcsr(on ? csr | kFlushToZero | kDenormalsAreZero : csr & ~(kFlushToZero | kDenormalsAreZero));
    return true;
}

bool flush_denormal() noexcept { return (_mm_getcsr() & (kFlushToZero | kDenormalsAreZero)) == (kFlushToZero | kDenormalsAreZero); }
#else
bool set_flush_denormal(bool) noexcept { return false; }
bool flush_denormal() noexcept { return false; }
#endif

}  // namespace tapegrad
