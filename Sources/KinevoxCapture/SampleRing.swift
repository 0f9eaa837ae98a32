import Synchronization

/// A lock-free single-producer / single-consumer ring buffer of 16-bit PCM samples.
///
/// Exactly one thread (the capture thread) may call `write`, and exactly one other thread (the
/// consumer, e.g. the VAD loop) may call `read`; `count`, `freeSpace` and `droppedSamples` may be read
/// from any thread. Positions are monotonically increasing sample counters published with
/// acquire/release atomics, so neither side ever blocks or takes a lock.
public final class SampleRing: @unchecked Sendable {
    /// Number of samples the ring can hold (a power of two).
    public let capacity: Int
    private let mask: Int
    private let storage: UnsafeMutablePointer<Int16>
    /// Total samples ever written (advanced by the producer only).
    private let writePosition = Atomic<Int>(0)
    /// Total samples ever read (advanced by the consumer only).
    private let readPosition = Atomic<Int>(0)
    private let dropped = Atomic<Int>(0)

    /// Creates a ring that holds at least `minimumCapacity` samples (rounded up to a power of two).
    public init(minimumCapacity: Int) {
        var size = 2
        while size < minimumCapacity { size <<= 1 }
        capacity = size
        mask = size - 1
        storage = .allocate(capacity: size)
        storage.initialize(repeating: 0, count: size)
    }

    deinit { storage.deallocate() }

    /// Samples written and not yet read.
    public var count: Int {
        let tail = readPosition.load(ordering: .acquiring)
        return writePosition.load(ordering: .acquiring) - tail
    }

    /// Free space in samples, as seen by the producer.
    public var freeSpace: Int { capacity - count }

    /// Samples the producer could not store because the consumer fell behind (never reset).
    public var droppedSamples: Int { dropped.load(ordering: .relaxed) }

    /// Producer only. Copies as many of `samples` as fit and returns how many were stored; the rest
    /// are counted in `droppedSamples`.
    @discardableResult
    public func write(_ samples: UnsafeBufferPointer<Int16>) -> Int {
        let head = writePosition.load(ordering: .relaxed)
        let tail = readPosition.load(ordering: .acquiring)
        let n = min(samples.count, capacity - (head - tail))
        if n > 0, let source = samples.baseAddress {
            let start = head & mask
            let first = min(n, capacity - start)
            (storage + start).update(from: source, count: first)
            storage.update(from: source + first, count: n - first)
        }
        writePosition.store(head + n, ordering: .releasing)
        if n < samples.count { dropped.add(samples.count - n, ordering: .relaxed) }
        return n
    }

    /// Consumer only. Moves up to `buffer.count` samples into `buffer` and returns how many.
    public func read(into buffer: UnsafeMutableBufferPointer<Int16>) -> Int {
        let tail = readPosition.load(ordering: .relaxed)
        let head = writePosition.load(ordering: .acquiring)
        let n = min(buffer.count, head - tail)
        if n > 0, let target = buffer.baseAddress {
            let start = tail & mask
            let first = min(n, capacity - start)
            target.update(from: storage + start, count: first)
            (target + first).update(from: storage, count: n - first)
        }
        readPosition.store(tail + n, ordering: .releasing)
        return n
    }
}
