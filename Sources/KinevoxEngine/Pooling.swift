/// Max pooling over [B, C, H, W] (`MaxPool1d` is the height-1 case), padding counted as -inf as in PyTorch,
/// floor output size.
struct MaxPoolWindow {
    let kernel: (h: Int, w: Int), stride: (h: Int, w: Int), padding: (h: Int, w: Int)

    func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        ((height + 2 * padding.h - kernel.h) / stride.h + 1, (width + 2 * padding.w - kernel.w) / stride.w + 1)
    }

    func forward(_ x: UnsafePointer<Float>, planes: Int, height: Int, width: Int, into y: UnsafeMutablePointer<Float>) {
        let out = outputSize(height: height, width: width)
        for p in 0 ..< planes {
            let src = x + p * height * width, dst = y + p * out.height * out.width
            for oh in 0 ..< out.height {
                let h0 = Swift.max(oh * stride.h - padding.h, 0), h1 = Swift.min(oh * stride.h - padding.h + kernel.h, height)
                for ow in 0 ..< out.width {
                    let w0 = Swift.max(ow * stride.w - padding.w, 0), w1 = Swift.min(ow * stride.w - padding.w + kernel.w, width)
                    var m = -Float.infinity
                    for h in h0 ..< h1 {
                        for w in w0 ..< w1 { m = Swift.max(m, src[h * width + w]) }
                    }
                    dst[oh * out.width + ow] = m
                }
            }
        }
    }
}

/// `torch.nn.MaxPool1d(kernel_size, stride, padding)`: [B, C, T] → [B, C, (T + 2·padding − kernel) / stride + 1].
/// No weights. Any thread.
public final class MaxPool1d {
    let window: MaxPoolWindow

    /// `stride` defaults to `kernelSize`, as in PyTorch.
    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0) {
        window = MaxPoolWindow(kernel: (1, kernelSize), stride: (1, stride ?? kernelSize), padding: (0, padding))
    }

    public func outputLength(_ length: Int) -> Int { window.outputSize(height: 1, width: length).width }

    /// Pools `x` [B, C, T] into `y` [B, C, outputLength(T)].
    public func forward(_ x: TensorView, into y: TensorView) {
        precondition(x.shape.rank == 3 && y.shape == Shape(x.shape[0], x.shape[1], outputLength(x.shape[2])), "MaxPool1d: \(x.shape) → \(y.shape)")
        window.forward(x.data, planes: x.shape[0] * x.shape[1], height: 1, width: x.shape[2], into: y.data)
    }

    public func forward(_ x: TensorView, arena: ScratchArena) -> TensorView {
        let y = arena.tensor(Shape(x.shape[0], x.shape[1], outputLength(x.shape[2])))
        forward(x, into: y)
        return y
    }
}

/// `torch.nn.MaxPool2d(kernel_size, stride, padding)` on [B, C, H, W]; sizes are (height, width). No weights. Any thread.
public final class MaxPool2d {
    let window: MaxPoolWindow

    /// `stride` defaults to `kernelSize`, as in PyTorch.
    public init(kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) {
        window = MaxPoolWindow(kernel: kernelSize, stride: stride ?? kernelSize, padding: padding)
    }

    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) { window.outputSize(height: height, width: width) }

    /// Pools `x` [B, C, H, W] into `y` [B, C, H_out, W_out].
    public func forward(_ x: TensorView, into y: TensorView) {
        let out = outputSize(height: x.shape[2], width: x.shape[3])
        precondition(x.shape.rank == 4 && y.shape == Shape(x.shape[0], x.shape[1], out.height, out.width), "MaxPool2d: \(x.shape) → \(y.shape)")
        window.forward(x.data, planes: x.shape[0] * x.shape[1], height: x.shape[2], width: x.shape[3], into: y.data)
    }

    public func forward(_ x: TensorView, arena: ScratchArena) -> TensorView {
        let out = outputSize(height: x.shape[2], width: x.shape[3])
        let y = arena.tensor(Shape(x.shape[0], x.shape[1], out.height, out.width))
        forward(x, into: y)
        return y
    }
}
