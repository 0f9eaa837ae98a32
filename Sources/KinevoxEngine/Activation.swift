import Foundation

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
            for i in 0 ..< count { let v = x[i]; x[i] = 0.5 * v * (1 + erff(v * 0.70710678118654752)) }
        case .geluTanh:
            for i in 0 ..< count {
                let v = x[i]
                x[i] = 0.5 * v * (1 + tanhf(0.79788456080286536 * (v + 0.044715 * v * v * v)))
            }
        case .relu:
            for i in 0 ..< count { x[i] = Swift.max(x[i], 0) }
        case let .leakyReLU(slope):
            for i in 0 ..< count { let v = x[i]; x[i] = v >= 0 ? v : v * slope }
        case .silu:
            for i in 0 ..< count { let v = x[i]; x[i] = v / (1 + expf(-v)) }
        }
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
        var m = -Float.infinity
        for j in 0 ..< columns { m = Swift.max(m, row[j]) }
        if m == -.infinity {
            row.update(repeating: 0, count: columns)
            continue
        }
        var sum: Float = 0
        for j in 0 ..< columns {
            let e = expf(row[j] - m)
            row[j] = e
            sum += e
        }
        let inv = 1 / sum
        for j in 0 ..< columns { row[j] *= inv }
    }
}
