#if canImport(Glibc)
import Glibc

// Counts every heap allocation of the process by interposing the C allocator: the executable's own `malloc`,
// `calloc`, `realloc`, `posix_memalign`, `aligned_alloc` and `memalign` take precedence over glibc's and forward
// to glibc's internal entry points. Swift objects, arrays and strings are all allocated through these, so a
// zero delta across a region means nothing in it allocated.

@_silgen_name("__libc_malloc") private func libcMalloc(_ size: Int) -> UnsafeMutableRawPointer?
@_silgen_name("__libc_calloc") private func libcCalloc(_ count: Int, _ size: Int) -> UnsafeMutableRawPointer?
@_silgen_name("__libc_realloc") private func libcRealloc(_ pointer: UnsafeMutableRawPointer?, _ size: Int) -> UnsafeMutableRawPointer?
@_silgen_name("__libc_memalign") private func libcMemalign(_ alignment: Int, _ size: Int) -> UnsafeMutableRawPointer?

/// Heap allocations since process start (all threads; increments are not atomic, so concurrent allocations
/// may be undercounted — the allocation check runs with one BLAS thread).
nonisolated(unsafe) public var heapAllocationCount = 0

@_cdecl("malloc") public func countingMalloc(_ size: Int) -> UnsafeMutableRawPointer? {
    heapAllocationCount &+= 1
    return libcMalloc(size)
}

@_cdecl("calloc") public func countingCalloc(_ count: Int, _ size: Int) -> UnsafeMutableRawPointer? {
    heapAllocationCount &+= 1
    return libcCalloc(count, size)
}

@_cdecl("realloc") public func countingRealloc(_ pointer: UnsafeMutableRawPointer?, _ size: Int) -> UnsafeMutableRawPointer? {
    heapAllocationCount &+= 1
    return libcRealloc(pointer, size)
}

@_cdecl("memalign") public func countingMemalign(_ alignment: Int, _ size: Int) -> UnsafeMutableRawPointer? {
    heapAllocationCount &+= 1
    return libcMemalign(alignment, size)
}

@_cdecl("aligned_alloc") public func countingAlignedAlloc(_ alignment: Int, _ size: Int) -> UnsafeMutableRawPointer? {
    heapAllocationCount &+= 1
    return libcMemalign(alignment, size)
}

@_cdecl("posix_memalign") public func countingPosixMemalign(
    _ result: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ alignment: Int, _ size: Int
) -> Int32 {
    heapAllocationCount &+= 1
    guard let pointer = libcMemalign(alignment, size) else { return ENOMEM }
    result.pointee = pointer
    return 0
}
#endif
