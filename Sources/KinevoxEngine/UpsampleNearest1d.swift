/// `torch.nn.Upsample(scale_factor = s, mode = "nearest")` on [B, C, T]: output [B, C, T·s] with
/// `y[t] = x[t / s]`. No weights. Any thread.
public final class UpsampleNearest1d {
    public let scaleFactor: Int

    public init(scaleFactor: Int) {
        precondition(scaleFactor >= 1, "UpsampleNearest1d: scale factor \(scaleFactor)")
        self.scaleFactor = scaleFactor
    }

    /// Upsamples `x` [B, C, T] into `y` [B, C, T·scaleFactor].
    public func forward(_ x: TensorView, into y: TensorView) {
        precondition(x.shape.rank == 3 && y.shape == Shape(x.shape[0], x.shape[1], x.shape[2] * scaleFactor), "UpsampleNearest1d: \(x.shape) → \(y.shape)")
        let length = x.shape[2], s = scaleFactor
        for p in 0 ..< x.shape[0] * x.shape[1] {
            let src = x.data + p * length, dst = y.data + p * length * s
            for t in 0 ..< length {
                let v = src[t]
                for k in 0 ..< s { dst[t * s + k] = v }
            }
        }
    }

    public func forward(_ x: TensorView, arena: ScratchArena) -> TensorView {
        let y = arena.tensor(Shape(x.shape[0], x.shape[1], x.shape[2] * scaleFactor))
        forward(x, into: y)
        return y
    }
}
