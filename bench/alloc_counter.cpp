// Counts every heap allocation of the process: malloc, calloc, realloc,
// memalign, aligned_alloc and posix_memalign are defined here, in the
// executable, so that they interpose on glibc's for the executable and every
// shared library (libstdc++'s operator new, LibTorch's CPU allocator,
// OpenBLAS), and forward to glibc's __libc_* entry points. No malloc hooks.
// An allocation whose caller lies in OpenBLAS's code is also counted apart.
// The count costs one or two relaxed atomic increments per allocation.
// Sanitizers interpose malloc themselves: in a sanitizer build (CMake defines
// TAPEGRAD_BENCH_NO_ALLOC_COUNTER) nothing is interposed and nothing counted.

#include <link.h>
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "alloc_counter.hpp"

namespace {

std::atomic<long> g_allocations{0}, g_openblas_allocations{0};
std::atomic<std::uintptr_t> g_openblas_lo{0}, g_openblas_hi{0};

}  // namespace

#ifndef TAPEGRAD_BENCH_NO_ALLOC_COUNTER

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);
}

namespace {

inline void count(void* caller) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    const auto a = reinterpret_cast<std::uintptr_t>(caller);
    if (a >= g_openblas_lo.load(std::memory_order_relaxed) && a < g_openblas_hi.load(std::memory_order_relaxed))
        g_openblas_allocations.fetch_add(1, std::memory_order_relaxed);
}

void* counted_memalign(size_t a, size_t n, void* caller) {
    count(caller);
    return __libc_memalign(a, n);
}

}  // namespace

extern "C" {
void* malloc(size_t n) {
    count(__builtin_return_address(0));
    return __libc_malloc(n);
}
void* calloc(size_t n, size_t m) {
    count(__builtin_return_address(0));
    return __libc_calloc(n, m);
}
void* realloc(void* p, size_t n) {
    count(__builtin_return_address(0));
    return __libc_realloc(p, n);
}
void* memalign(size_t a, size_t n) { return counted_memalign(a, n, __builtin_return_address(0)); }
void* aligned_alloc(size_t a, size_t n) { return counted_memalign(a, n, __builtin_return_address(0)); }
int posix_memalign(void** out, size_t a, size_t n) {
    void* p = counted_memalign(a, n, __builtin_return_address(0));
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
void free(void* p) { __libc_free(p); }
}

#endif  // TAPEGRAD_BENCH_NO_ALLOC_COUNTER

namespace bench {

bool counting_allocations() {
#ifdef TAPEGRAD_BENCH_NO_ALLOC_COUNTER
    return false;
#else
    return true;
#endif
}

long heap_allocations() { return g_allocations.load(std::memory_order_relaxed); }
long openblas_heap_allocations() { return g_openblas_allocations.load(std::memory_order_relaxed); }

bool locate_openblas() {
    struct Range {
        std::uintptr_t lo = 0, hi = 0;
    } range;
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* data) {
            if (!info->dlpi_name || !std::strstr(info->dlpi_name, "libopenblas")) return 0;
            auto* r = static_cast<Range*>(data);
            for (int i = 0; i < info->dlpi_phnum; ++i) {
                const auto& ph = info->dlpi_phdr[i];
                if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
                const std::uintptr_t lo = info->dlpi_addr + ph.p_vaddr, hi = lo + ph.p_memsz;
                r->lo = r->lo ? std::min(r->lo, lo) : lo;
                r->hi = std::max(r->hi, hi);
            }
            return 1;
        },
        &range);
    g_openblas_lo.store(range.lo);
    g_openblas_hi.store(range.hi);
    return range.hi > range.lo;
}

}  // namespace bench
