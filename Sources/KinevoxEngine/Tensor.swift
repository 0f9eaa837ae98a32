/// The dimensions of a tensor of rank 0 through 4, stored inline so that building or passing one never
/// allocates (inference code creates shapes freely). Any thread.
public struct Shape: Equatable, CustomStringConvertible {
    /// Number of dimensions (0...4).
    public let rank: Int
    private var dims: (Int, Int, Int, Int)

    public init() { rank = 0; dims = (1, 1, 1, 1) }
    public init(_ d0: Int) { rank = 1; dims = (d0, 1, 1, 1) }
    public init(_ d0: Int, _ d1: Int) { rank = 2; dims = (d0, d1, 1, 1) }
    public init(_ d0: Int, _ d1: Int, _ d2: Int) { rank = 3; dims = (d0, d1, d2, 1) }
    public init(_ d0: Int, _ d1: Int, _ d2: Int, _ d3: Int) { rank = 4; dims = (d0, d1, d2, d3) }

    /// A shape from an array of at most 4 dimensions; nil when the array has more.
    public init?(_ array: [Int]) {
        switch array.count {
        case 0: self.init()
        case 1: self.init(array[0])
        case 2: self.init(array[0], array[1])
        case 3: self.init(array[0], array[1], array[2])
        case 4: self.init(array[0], array[1], array[2], array[3])
        default: return nil
        }
    }

    /// Dimension `i` (0-based, `0 ..< rank`).
    public subscript(i: Int) -> Int {
        precondition(i >= 0 && i < rank, "dimension \(i) out of range for rank \(rank)")
        switch i {
        case 0: return dims.0
        case 1: return dims.1
        case 2: return dims.2
        default: return dims.3
        }
    }

    /// Product of all dimensions (1 for rank 0).
    public var count: Int { dims.0 * dims.1 * dims.2 * dims.3 }

    /// The last dimension (1 for rank 0).
    public var last: Int { rank == 0 ? 1 : self[rank - 1] }

    /// Product of all dimensions but the last: the number of rows when the last dimension is a feature axis.
    public var rows: Int { rank == 0 ? 1 : count / Swift.max(last, 1) }

    /// This shape with its last dimension replaced.
    public func replacingLast(_ value: Int) -> Shape {
        var copy = self
        switch rank {
        case 1: copy.dims.0 = value
        case 2: copy.dims.1 = value
        case 3: copy.dims.2 = value
        case 4: copy.dims.3 = value
        default: break
        }
        return copy
    }

    /// The dimensions as an array (allocates; for messages and tests).
    public var array: [Int] { (0 ..< rank).map { self[$0] } }

    public var description: String { "[" + array.map(String.init).joined(separator: ", ") + "]" }

    public static func == (a: Shape, b: Shape) -> Bool {
        a.rank == b.rank && a.dims.0 == b.dims.0 && a.dims.1 == b.dims.1 && a.dims.2 == b.dims.2 && a.dims.3 == b.dims.3
    }
}

/// A non-owning float32 row-major view: a pointer and a shape. Views come from a `Tensor` (weights, long-lived
/// buffers) or a `ScratchArena` (per-inference scratch) and are valid only while their owner keeps the memory
/// (for arena views: until the arena's `reset()` or a `release(to:)` below the view). Creating and passing
/// views never allocates. A view may be used from any thread that owns the memory behind it.
public struct TensorView {
    /// First element.
    public let data: UnsafeMutablePointer<Float>
    /// Dimensions, row-major (last dimension contiguous).
    public let shape: Shape

    public init(data: UnsafeMutablePointer<Float>, shape: Shape) {
        self.data = data
        self.shape = shape
    }

    /// Number of elements.
    public var count: Int { shape.count }

    /// The same memory seen with another shape of equal element count.
    public func reshaped(_ newShape: Shape) -> TensorView {
        precondition(newShape.count == count, "cannot reshape \(shape) to \(newShape)")
        return TensorView(data: data, shape: newShape)
    }

    /// Sub-tensor `index` along the first dimension (rank drops by one).
    public subscript(index: Int) -> TensorView {
        precondition(shape.rank >= 1 && index >= 0 && index < shape[0], "index \(index) out of range for \(shape)")
        let inner: Shape
        switch shape.rank {
        case 1: inner = Shape()
        case 2: inner = Shape(shape[1])
        case 3: inner = Shape(shape[1], shape[2])
        default: inner = Shape(shape[1], shape[2], shape[3])
        }
        return TensorView(data: data + index * inner.count, shape: inner)
    }

    /// The elements as a mutable buffer.
    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: data, count: count) }

    /// Copies all elements of `source` (same element count) into this view.
    public func copy(from source: TensorView) {
        precondition(source.count == count, "copy from \(source.shape) into \(shape)")
        if source.data != data { data.update(from: source.data, count: count) }
    }

    /// Sets every element to `value`.
    public func fill(_ value: Float) { data.update(repeating: value, count: count) }


    /// The elements as a new array (allocates; for tests and results leaving the engine).
    public func toArray() -> [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }
}

/// An owning float32 row-major tensor of any rank: model weights and long-lived buffers. Its memory is
/// allocated once at creation and freed with the object. Immutable after loading when used as a weight,
/// so several threads may read it at once.
public final class Tensor {
    /// Dimensions, row-major.
    public let shape: [Int]
    /// First element (64-byte aligned).
    public let data: UnsafeMutablePointer<Float>
    /// Number of elements.
    public let count: Int

    /// A zero-filled tensor.
    public init(shape: [Int]) {
        self.shape = shape
        count = shape.reduce(1, *)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(count, 1) * 4, alignment: 64)
        data = raw.bindMemory(to: Float.self, capacity: Swift.max(count, 1))
        data.initialize(repeating: 0, count: Swift.max(count, 1))
    }

    /// A tensor holding `values` (whose count must equal the shape's element count).
    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "\(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    deinit { UnsafeMutableRawPointer(data).deallocate() }

    /// A view of the whole tensor (rank at most 4).
    public var view: TensorView {
        guard let s = Shape(shape) else { preconditionFailure("tensor of rank \(shape.count) has no view (max rank 4)") }
        return TensorView(data: data, shape: s)
    }

    /// The elements as a new array.
    public func toArray() -> [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }
}
