/// Element-wise activation functions (PyTorch `nn.GELU()` (erf form), `nn.GELU(approximate="tanh")`,
/// `nn.ReLU`, `nn.LeakyReLU(slope)`, `nn.SiLU`), applied in place. Any thread.
public enum Activation: Equatable {
    case gelu
    case geluTanh
    case relu
    case leakyReLU(negativeSlope: Float)
    case silu

    /// Applies the function to every element of `x` in place.
    public func apply(_ x: TensorView) { apply(x.data, count: x.count) }

    /// Applies the function to `count` floats at `x` in place.
    public func apply(_ x: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .gelu:
            // Split over the calling thread's GEMM team when large: the WavLM front end's feature maps (millions of
            // floats) would otherwise run on one core. Whole 16-float blocks per part.
            GEMMThreads.forEachPart(of: (count + GEMMJob.block - 1) / GEMMJob.block, elements: count, GELUBlocks(x: x, count: count))
        case .geluTanh:
            for i in 0 ..< count {
                let v = x[i]
                let u = 0.797_884_561 * (v + 0.044_715 * v * v * v)
                x[i] = v - v / (1 + VectorMath.exp(2 * u))  // 0.5·v·(1 + tanh u) with tanh u = 1 − 2 / (1 + e^{2u})
            }
        case .relu:
            for i in 0 ..< count { x[i] = Swift.max(x[i], 0) }
        case let .leakyReLU(slope):
            for i in 0 ..< count { let v = x[i]; x[i] = v >= 0 ? v : v * slope }
        case .silu:
            for i in 0 ..< count { let v = x[i]; x[i] = v / (1 + VectorMath.exp(-v)) }
        }
    }
}

/// GELU over `count` floats at `x`, as items of 16-float blocks (the last one partial) for `GEMMThreads.forEachPart`.
private struct GELUBlocks: PartitionedWork {
    let x: UnsafeMutablePointer<Float>
    let count: Int

    func run(_ blocks: Range<Int>) {
        let start = blocks.lowerBound * GEMMJob.block
        VectorMath.gelu(x + start, count: Swift.min(count, blocks.upperBound * GEMMJob.block) - start)
    }
}

/// Numerically stable softmax over the last dimension of `x`, in place (each row: subtract its max,
/// exponentiate, divide by the sum). A row that is entirely -inf becomes all zeros. Any thread.
public func softmax(_ x: TensorView) {
    softmaxRows(x.data, rows: x.shape.rows, columns: x.shape.last)
}

/// Softmax of `rows` contiguous rows of `columns` floats at `x`, in place.
public func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
    for r in 0 ..< rows {
        let row = x + r * columns
        let m = VectorMath.maximum(row, count: columns)
        if m == -.infinity {
            row.update(repeating: 0, count: columns)
            continue
        }
        VectorMath.expShifted(row, count: columns, shift: m)
        let inverse = 1 / VectorMath.sum(row, count: columns)
        for j in 0 ..< columns { row[j] *= inverse }
    }
}
