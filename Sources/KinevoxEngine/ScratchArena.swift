/// Per-inference scratch memory: one float32 buffer handed out as views by bumping an offset, with
/// stack-like `mark()` / `release(to:)` so a layer can return its temporaries, and `reset()` between
/// inferences.
///
/// Planning: the buffer starts at the capacity given to `init` (or `reserve`). A request that does not fit is
/// served from a separate overflow block and counted in `systemAllocationCount`; at the next `reset()` the
/// overflow blocks are freed and the main buffer is regrown once to the high-water mark. So one warm-up
/// inference at the largest size a model will see plans the memory, and every later inference of that size or
/// smaller allocates nothing (`systemAllocationCount` stays constant — the benchmark prints it).
///
/// Views do not retain the arena: keep the arena alive (e.g. as a property of the model that owns it) for as long
/// as its views are used. Not thread-safe: one arena per inference thread (layers themselves are read-only and
/// can be shared).
public final class ScratchArena {
    private var buffer: UnsafeMutablePointer<Float>
    /// Floats in the main buffer.
    public private(set) var capacity: Int
    private var offset = 0
    /// Largest number of floats in use at once since creation.
    public private(set) var highWater = 0
    private var overflowBlocks: [UnsafeMutablePointer<Float>] = []
    /// Number of times the arena asked the system for memory (creation included); constant after warm-up.
    public private(set) var systemAllocationCount = 0

    /// Alignment of every handed-out view, in floats (64 bytes).
    private static let alignment = 16

    /// An arena whose main buffer holds `capacity` floats (0 lets the first inference plan it).
    public init(capacity: Int = 0) {
        self.capacity = capacity
        buffer = ScratchArena.allocateBlock(capacity)
        systemAllocationCount = 1
    }

    deinit {
        for block in overflowBlocks { UnsafeMutableRawPointer(block).deallocate() }
        UnsafeMutableRawPointer(buffer).deallocate()
    }

    private static func allocateBlock(_ count: Int) -> UnsafeMutablePointer<Float> {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(count, 1) * 4, alignment: 64)
        return raw.bindMemory(to: Float.self, capacity: Swift.max(count, 1))
    }

    /// Uninitialised memory for `count` floats, valid until `reset()` or a `release(to:)` below it.
    public func allocate(count: Int) -> UnsafeMutablePointer<Float> {
        let rounded = (count + ScratchArena.alignment - 1) / ScratchArena.alignment * ScratchArena.alignment
        let start = offset
        offset += rounded
        highWater = Swift.max(highWater, offset)
        if offset <= capacity { return buffer + start }
        let block = ScratchArena.allocateBlock(rounded)
        overflowBlocks.append(block)
        systemAllocationCount += 1
        return block
    }

    /// An uninitialised view of `shape`.
    public func tensor(_ shape: Shape) -> TensorView {
        TensorView(data: allocate(count: shape.count), shape: shape)
    }

    /// A zero-filled view of `shape`.
    public func zeros(_ shape: Shape) -> TensorView {
        let view = tensor(shape)
        view.fill(0)
        return view
    }

    /// `x` with its last two dimensions swapped (`transposeLastTwo`) into a new view of this arena.
    public func transposed(_ x: TensorView) -> TensorView {
        let s = x.shape
        let swapped: Shape
        switch s.rank {  // no array: a heap allocation per call otherwise
        case 2: swapped = Shape(s[1], s[0])
        case 3: swapped = Shape(s[0], s[2], s[1])
        case 4: swapped = Shape(s[0], s[1], s[3], s[2])
        default: preconditionFailure("transpose of \(s)")
        }
        let y = tensor(swapped)
        x.transposeLastTwo(into: y)
        return y
    }

    /// The current top of the arena, to return to with `release(to:)`.
    public func mark() -> Int { offset }

    /// Gives back everything allocated since `mark` (views taken after it become invalid).
    public func release(to mark: Int) {
        precondition(mark <= offset, "release to a mark above the current top")
        offset = mark
    }

    /// Gives back everything; regrows the main buffer to the high-water mark if a request overflowed it.
    public func reset() {
        offset = 0
        if !overflowBlocks.isEmpty {
            for block in overflowBlocks { UnsafeMutableRawPointer(block).deallocate() }
            overflowBlocks.removeAll(keepingCapacity: true)
        }
        if highWater > capacity { reserve(highWater) }
    }

    /// Grows the main buffer to at least `count` floats (only while nothing is allocated). The new buffer is
    /// written once (zeros) so that its pages are mapped now, not by the next inference.
    public func reserve(_ count: Int) {
        precondition(offset == 0, "reserve while views are in use")
        guard count > capacity else { return }
        UnsafeMutableRawPointer(buffer).deallocate()
        buffer = ScratchArena.allocateBlock(count)
        buffer.update(repeating: 0, count: count)
        capacity = count
        systemAllocationCount += 1
    }
}
