#pragma once
// Heap allocations of the whole process so far (alloc_counter.cpp interposes
// malloc and friends in the bench executable, as tests/test_alloc.cpp does).

namespace bench {

/// False in sanitizer builds, where nothing is counted (the sanitizer's own
/// malloc must stay in place).
bool counting_allocations();

/// Every allocation so far.
long heap_allocations();

/// Those of them made by OpenBLAS's own code (its threaded GEMM driver
/// allocates a work array per call when it runs on more than one thread).
/// Counted once locate_openblas() has found where OpenBLAS's code is loaded.
long openblas_heap_allocations();

/// Finds OpenBLAS's code in memory; returns false if it is not loaded.
bool locate_openblas();

}  // namespace bench
