// Counts every heap allocation of the process: malloc, calloc, realloc,
// memalign, aligned_alloc and posix_memalign are defined here, in the
// executable, so that they interpose on glibc's for the executable and every
// shared library (libstdc++'s operator new, LibTorch's CPU allocator,
// OpenBLAS), and forward to glibc's __libc_* entry points. No malloc hooks.
// The count costs one relaxed atomic increment per allocation.

#include <malloc.h>

#include <atomic>
#include <cerrno>
#include <cstddef>

#include "alloc_counter.hpp"

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);
}

namespace {
std::atomic<long> g_allocations{0};
}

extern "C" {
void* malloc(size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_malloc(n);
}
void* calloc(size_t n, size_t m) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_calloc(n, m);
}
void* realloc(void* p, size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_realloc(p, n);
}
void* memalign(size_t a, size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_memalign(a, n);
}
void* aligned_alloc(size_t a, size_t n) { return memalign(a, n); }
int posix_memalign(void** out, size_t a, size_t n) {
    void* p = memalign(a, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
void free(void* p) { __libc_free(p); }
}

namespace bench {
long heap_allocations() { return g_allocations.load(std::memory_order_relaxed); }
}  // namespace bench
