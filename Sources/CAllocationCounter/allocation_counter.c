// Counting replacements for the C allocator. An executable linking this target (with --export-dynamic, so that
// shared libraries such as the Swift runtime and OpenBLAS bind to these definitions) routes every allocation
// through here; each one bumps an atomic counter and forwards to glibc's own allocator entry points.
// In a sanitizer build (make test-sanitize, make fuzz) the sanitizer owns the allocator: replacing it would hide
// every allocation from ASan and TSan, and TSan would crash at start-up calling the replacement before its runtime
// is ready. There the count comes from the sanitizers' allocation hook instead.
#include "allocation_counter.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>

static atomic_ulong allocations;

unsigned long kv_heap_allocation_count(void) { return atomic_load_explicit(&allocations, memory_order_relaxed); }

static inline void count(void) { atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed); }

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define KV_SANITIZER_OWNS_MALLOC 1
#endif
#endif

#ifdef KV_SANITIZER_OWNS_MALLOC
// compiler-rt's sanitizer/allocator_interface.h: called on every allocation and free the sanitizer's allocator makes.
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));

static void counted_malloc(const volatile void *pointer, size_t size) {
    (void)pointer;
    (void)size;
    count();
}

static void ignored_free(const volatile void *pointer) { (void)pointer; }

__attribute__((constructor)) static void install_counting_hook(void) {
    __sanitizer_install_malloc_and_free_hooks(counted_malloc, ignored_free);
}
#else
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

void *malloc(size_t size) {
    count();
    return __libc_malloc(size);
}

void *calloc(size_t count_, size_t size) {
    count();
    return __libc_calloc(count_, size);
}

void *realloc(void *pointer, size_t size) {
    count();
    return __libc_realloc(pointer, size);
}

void *memalign(size_t alignment, size_t size) {
    count();
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    count();
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
    count();
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL) return ENOMEM;
    *result = pointer;
    return 0;
}
#endif
