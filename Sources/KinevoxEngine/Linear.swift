/// `torch.nn.Linear`: `y = x Wᵀ + b` over the last dimension. State dict: `weight` [out, in], `bias` [out].
/// Read-only after loading: any thread may call `forward` (each with its own arena).
public final class Linear {
    public let inFeatures: Int
    public let outFeatures: Int
    /// [outFeatures, inFeatures]
    public let weight: Tensor
    /// [outFeatures], nil when built with `bias: false`.
    public let bias: Tensor?
    /// bf16 panels of the weight when bound with `MatmulPrecision.bf16` (and the CPU supports it), else nil.
    public let bf16Weight: BF16PackedColumns?

    /// Binds `weight` (and `bias`) from `weights`.
    public init(_ weights: WeightScope, inFeatures: Int, outFeatures: Int, bias: Bool = true) throws {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = try weights.take("weight", shape: [outFeatures, inFeatures])
        self.bias = bias ? try weights.take("bias", shape: [outFeatures]) : nil
        bf16Weight = BF16PackedColumns.ifRequested(by: weights, weight: weight, outFeatures: outFeatures, inFeatures: inFeatures)
    }

    /// Writes `x Wᵀ + b` into `y`. `x` is [..., inFeatures], `y` has the same rows and `outFeatures` columns;
    /// `y` must not overlap `x`.
    public func forward(_ x: TensorView, into y: TensorView) {
        precondition(x.shape.last == inFeatures, "Linear(\(inFeatures)→\(outFeatures)): input \(x.shape)")
        let rows = x.shape.rows
        precondition(y.count == rows * outFeatures, "Linear: output \(y.shape) for \(rows) rows of \(outFeatures)")
        if let bf16Weight {
            BF16GEMM.affine(x.data, rows: rows, ldx: inFeatures, weight: bf16Weight, bias: bias?.data, y: y.data, ldy: outFeatures)
            return
        }
        Linear.affine(x.data, rows: rows, inFeatures: inFeatures, ldx: inFeatures,
                      weight: weight.data, bias: bias?.data, outFeatures: outFeatures, y: y.data, ldy: outFeatures)
    }

    /// `x Wᵀ + b` in a new view from `arena` (shape of `x` with the last dimension set to `outFeatures`).
    public func forward(_ x: TensorView, arena: ScratchArena) -> TensorView {
        let y = arena.tensor(x.shape.replacingLast(outFeatures))
        forward(x, into: y)
        return y
    }

    /// `y[r] = W x[r] + b` for `rows` rows with row strides `ldx`, `ldy` (W row-major [outFeatures, inFeatures]).
    static func affine(
        _ x: UnsafePointer<Float>, rows: Int, inFeatures: Int, ldx: Int,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outFeatures: Int,
        y: UnsafeMutablePointer<Float>, ldy: Int
    ) {
        if let bias {
            for r in 0 ..< rows { (y + r * ldy).update(from: bias, count: outFeatures) }
        }
        BLAS.sgemm(transposeB: true, m: rows, n: outFeatures, k: inFeatures, a: x, lda: ldx, b: weight, ldb: inFeatures,
                   beta: bias == nil ? 0 : 1, c: y, ldc: ldy)
    }
}
