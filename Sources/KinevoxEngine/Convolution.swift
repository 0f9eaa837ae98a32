import CKinevoxKernels

/// The im2col + GEMM convolution shared by `Conv1d` (height 1) and `Conv2d`, over [B, C, H, W] row-major.
/// Weight [outChannels, inChannels / groups, kh, kw] is used as the matrix [outChannels, inChannels / groups * kh * kw].
/// With bf16 weights, a 1-D convolution fills no im2col matrix: the GEMM's parts pack its columns from the input.
struct ConvolutionKernel {
    let inChannels: Int, outChannels: Int, groups: Int
    let kernel: (h: Int, w: Int), stride: (h: Int, w: Int), padding: (h: Int, w: Int), dilation: (h: Int, w: Int)
    let weight: Tensor
    let bias: Tensor?
    /// bf16 copy of `weight` when bound with `MatmulPrecision.bf16` (and the CPU supports it), else nil.
    var bf16Weight: BF16PackedRows? = nil

    func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        ((height + 2 * padding.h - dilation.h * (kernel.h - 1) - 1) / stride.h + 1,
         (width + 2 * padding.w - dilation.w * (kernel.w - 1) - 1) / stride.w + 1)
    }

    /// True when the input itself is the im2col matrix (1×1 kernel, unit stride, no padding).
    private var isPointwise: Bool {
        kernel == (1, 1) && stride == (1, 1) && padding == (0, 0)
    }

    /// True when bf16 products read the im2col matrix straight from an input of `height` rows (`BF16GEMM.convolve`):
    /// a 1-D convolution along the width.
    private func convolvesDirectly(height: Int) -> Bool {
        bf16Weight != nil && height == 1 && kernel.h == 1 && padding.h == 0
    }

    /// Floats of arena scratch `forward` needs for an input of `height` × `width`.
    func scratchCount(height: Int, width: Int) -> Int {
        let out = outputSize(height: height, width: width)
        return (isPointwise || convolvesDirectly(height: height) ? 0 : (inChannels / groups) * kernel.h * kernel.w * out.height * out.width)
            + (bf16Weight == nil ? 0 : BF16GEMM.multiplyScratchCount)
    }

    func forward(_ x: UnsafePointer<Float>, batch: Int, height: Int, width: Int, into y: UnsafeMutablePointer<Float>, arena: ScratchArena) {
        let out = outputSize(height: height, width: width)
        let outPlane = out.height * out.width, inPlane = height * width
        let cg = inChannels / groups, og = outChannels / groups
        let patch = cg * kernel.h * kernel.w
        let mark = arena.mark()
        let direct = convolvesDirectly(height: height)
        let columns = isPointwise || direct ? nil : arena.allocate(count: patch * outPlane)
        for b in 0 ..< batch {
            for g in 0 ..< groups {
                let xg = x + (b * inChannels + g * cg) * inPlane
                let yg = y + (b * outChannels + g * og) * outPlane
                if direct, let bf16Weight {
                    let input = kv_conv1d_input(x: xg, channels: cg, width: width, kernel: kernel.w, stride: stride.w,
                                                dilation: dilation.w, padding: padding.w)
                    BF16GEMM.convolve(bf16Weight, firstRow: g * og, rows: og, input: input, n: outPlane,
                                      bias: bias.map { UnsafePointer($0.data + g * og) }, c: yg, ldc: outPlane, arena: arena)
                    continue
                }
                let matrix: UnsafePointer<Float>
                if let columns {
                    fillColumns(columns, from: xg, channels: cg, height: height, width: width, out: out)
                    matrix = UnsafePointer(columns)
                } else {
                    matrix = xg
                }
                if let bf16Weight {
                    BF16GEMM.multiply(bf16Weight, firstRow: g * og, rows: og, b: matrix, n: outPlane, ldb: outPlane,
                                      bias: bias.map { UnsafePointer($0.data + g * og) }, c: yg, ldc: outPlane, arena: arena)
                    continue
                }
                if let bias {
                    for o in 0 ..< og { (yg + o * outPlane).update(repeating: bias.data[g * og + o], count: outPlane) }
                }
                BLAS.sgemm(m: og, n: outPlane, k: patch, a: weight.data + g * og * patch, lda: patch,
                           b: matrix, ldb: outPlane, beta: bias == nil ? 0 : 1, c: yg, ldc: outPlane)
            }
        }
        arena.release(to: mark)
    }

    /// im2col: row (c, i, j) of `columns` holds input channel c at offset (i, j) of the kernel for every output
    /// position, zero where the kernel reaches into the padding.
    private func fillColumns(_ columns: UnsafeMutablePointer<Float>, from x: UnsafePointer<Float>, channels: Int,
                             height: Int, width: Int, out: (height: Int, width: Int)) {
        let outPlane = out.height * out.width
        var row = columns
        for c in 0 ..< channels {
            let plane = x + c * height * width
            for i in 0 ..< kernel.h {
                for j in 0 ..< kernel.w {
                    let colOffset = j * dilation.w - padding.w
                    // Output columns whose input column lies inside [0, width).
                    let first = Swift.min(out.width, colOffset >= 0 ? 0 : (-colOffset + stride.w - 1) / stride.w)
                    let end = Swift.max(first, Swift.min(out.width, width - colOffset <= 0 ? 0 : (width - colOffset - 1) / stride.w + 1))
                    if stride == (1, 1) && colOffset == 0 && out.width == width {
                        // Whole input rows: the rows inside the plane are one contiguous run.
                        let rowOffset = i * dilation.h - padding.h
                        let top = Swift.min(out.height, Swift.max(0, -rowOffset))
                        let bottom = Swift.max(top, Swift.min(out.height, height - rowOffset))
                        row.update(repeating: 0, count: top * width)
                        (row + top * width).update(from: plane + (top + rowOffset) * width, count: (bottom - top) * width)
                        (row + bottom * width).update(repeating: 0, count: (out.height - bottom) * width)
                        row += outPlane
                        continue
                    }
                    for oh in 0 ..< out.height {
                        let dst = row + oh * out.width
                        let ih = oh * stride.h + i * dilation.h - padding.h
                        if ih < 0 || ih >= height {
                            dst.update(repeating: 0, count: out.width)
                            continue
                        }
                        let src = plane + ih * width + colOffset
                        // Element loops, not memcpy/memset calls: rows are short (mel bands) and many.
                        for ow in 0 ..< first { dst[ow] = 0 }
                        if stride.w == 1 {
                            for ow in first ..< end { dst[ow] = src[ow] }
                        } else {
                            for ow in first ..< end { dst[ow] = src[ow * stride.w] }
                        }
                        for ow in end ..< out.width { dst[ow] = 0 }
                    }
                    row += outPlane
                }
            }
        }
    }
}

/// `torch.nn.Conv1d` (zero padding): input [B, inChannels, T], output [B, outChannels, T_out] with
/// T_out = (T + 2·padding − dilation·(kernelSize − 1) − 1) / stride + 1. State dict: `weight`
/// [outChannels, inChannels / groups, kernelSize], `bias` [outChannels]. Computed as im2col + one GEMM per group.
/// Any thread after loading (scratch from the caller's arena).
public final class Conv1d {
    var kernel: ConvolutionKernel
    public var inChannels: Int { kernel.inChannels }
    public var outChannels: Int { kernel.outChannels }
    public var weight: Tensor { kernel.weight }
    public var bias: Tensor? { kernel.bias }

    public init(_ weights: WeightScope, inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1,
                padding: Int = 0, dilation: Int = 1, groups: Int = 1, bias: Bool = true) throws {
        precondition(groups > 0 && inChannels % groups == 0 && outChannels % groups == 0, "Conv1d: channels not divisible by groups")
        kernel = ConvolutionKernel(
            inChannels: inChannels, outChannels: outChannels, groups: groups,
            kernel: (1, kernelSize), stride: (1, stride), padding: (0, padding), dilation: (1, dilation),
            weight: try weights.take("weight", shape: [outChannels, inChannels / groups, kernelSize]),
            bias: bias ? try weights.take("bias", shape: [outChannels]) : nil)
        kernel.bf16Weight = BF16PackedRows.ifRequested(by: weights, weight: kernel.weight, rows: outChannels,
                                                       columns: inChannels / groups * kernelSize)
    }

    /// Output length for an input of `length` frames.
    public func outputLength(_ length: Int) -> Int { kernel.outputSize(height: 1, width: length).width }

    /// Convolves `x` [B, inChannels, T] into `y` [B, outChannels, outputLength(T)] (no overlap with `x`).
    public func forward(_ x: TensorView, into y: TensorView, arena: ScratchArena) {
        precondition(x.shape.rank == 3 && x.shape[1] == inChannels, "Conv1d(\(inChannels)→\(outChannels)): input \(x.shape)")
        precondition(y.shape == Shape(x.shape[0], outChannels, outputLength(x.shape[2])), "Conv1d: output \(y.shape)")
        kernel.forward(x.data, batch: x.shape[0], height: 1, width: x.shape[2], into: y.data, arena: arena)
    }

    /// Convolves `x` into a new view from `arena`.
    public func forward(_ x: TensorView, arena: ScratchArena) -> TensorView {
        let y = arena.tensor(Shape(x.shape[0], outChannels, outputLength(x.shape[2])))
        forward(x, into: y, arena: arena)
        return y
    }
}

/// `torch.nn.Conv2d` (zero padding): input [B, inChannels, H, W], output [B, outChannels, H_out, W_out].
/// State dict: `weight` [outChannels, inChannels / groups, kh, kw], `bias` [outChannels]. im2col + GEMM per group.
/// Any thread after loading (scratch from the caller's arena).
public final class Conv2d {
    var kernel: ConvolutionKernel
    public var inChannels: Int { kernel.inChannels }
    public var outChannels: Int { kernel.outChannels }
    public var weight: Tensor { kernel.weight }
    public var bias: Tensor? { kernel.bias }

    /// Sizes are (height, width) pairs as in PyTorch.
    public init(_ weights: WeightScope, inChannels: Int, outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = true) throws {
        precondition(groups > 0 && inChannels % groups == 0 && outChannels % groups == 0, "Conv2d: channels not divisible by groups")
        kernel = ConvolutionKernel(
            inChannels: inChannels, outChannels: outChannels, groups: groups,
            kernel: kernelSize, stride: stride, padding: padding, dilation: dilation,
            weight: try weights.take("weight", shape: [outChannels, inChannels / groups, kernelSize.0, kernelSize.1]),
            bias: bias ? try weights.take("bias", shape: [outChannels]) : nil)
        kernel.bf16Weight = BF16PackedRows.ifRequested(by: weights, weight: kernel.weight, rows: outChannels,
                                                       columns: inChannels / groups * kernelSize.0 * kernelSize.1)
    }

    /// Output (height, width) for an input of `height` × `width`.
    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        kernel.outputSize(height: height, width: width)
    }

    /// Convolves `x` [B, inChannels, H, W] into `y` [B, outChannels, H_out, W_out] (no overlap with `x`).
    public func forward(_ x: TensorView, into y: TensorView, arena: ScratchArena) {
        precondition(x.shape.rank == 4 && x.shape[1] == inChannels, "Conv2d(\(inChannels)→\(outChannels)): input \(x.shape)")
        let out = outputSize(height: x.shape[2], width: x.shape[3])
        precondition(y.shape == Shape(x.shape[0], outChannels, out.height, out.width), "Conv2d: output \(y.shape)")
        kernel.forward(x.data, batch: x.shape[0], height: x.shape[2], width: x.shape[3], into: y.data, arena: arena)
    }

    /// Convolves `x` into a new view from `arena`.
    public func forward(_ x: TensorView, arena: ScratchArena) -> TensorView {
        let out = outputSize(height: x.shape[2], width: x.shape[3])
        let y = arena.tensor(Shape(x.shape[0], outChannels, out.height, out.width))
        forward(x, into: y, arena: arena)
        return y
    }
}
