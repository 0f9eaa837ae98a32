#ifndef KINEVOX_ALLOCATION_COUNTER_H
#define KINEVOX_ALLOCATION_COUNTER_H

/// Heap allocations (malloc, calloc, realloc, memalign, aligned_alloc, posix_memalign) made by any thread of the
/// process since it started. Counted by allocation_counter.c, which replaces those functions in the executable
/// that links it (used by kinevox-engine-bench to show that inference allocates nothing after warm-up).
unsigned long kv_heap_allocation_count(void);

#endif
