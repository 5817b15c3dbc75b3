#pragma once
// Heap allocations of the whole process so far (alloc_counter.cpp interposes
// malloc and friends in the bench executable, as tests/test_alloc.cpp does).

namespace bench {
long heap_allocations();
}
