/// `torch.nn.LayerNorm(normalized_shape = features)`: normalises each row of the last dimension, then applies
/// `weight` and `bias` [features] (absent when `elementwiseAffine` is false). Large inputs are split by rows over the
/// calling thread's `GEMMThreads` team. Any thread after loading.
public final class LayerNorm {
    public let features: Int
    public let eps: Float
    public let weight: Tensor?
    public let bias: Tensor?

    public init(_ weights: WeightScope, features: Int, eps: Float = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true) throws {
        self.features = features
        self.eps = eps
        weight = elementwiseAffine ? try weights.take("weight", shape: [features]) : nil
        self.bias = elementwiseAffine && bias ? try weights.take("bias", shape: [features]) : nil
    }

    /// Normalises `x` [..., features] into `y` (same shape; may be `x` itself).
    public func forward(_ x: TensorView, into y: TensorView) {
        precondition(x.shape.last == features && y.count == x.count, "LayerNorm(\(features)): input \(x.shape), output \(y.shape)")
        GEMMThreads.forEachPart(of: x.shape.rows, elements: x.count,
                                LayerNormRows(x: x.data, y: y.data, features: features, eps: eps, weight: weight?.data, bias: bias?.data))
    }

    /// Normalises `x` in place.
    public func forward(_ x: TensorView) { forward(x, into: x) }
}

/// `LayerNorm` of the rows of `x` into `y`, as `GEMMThreads.forEachPart` items.
private struct LayerNormRows: PartitionedWork {
    let x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>
    let features: Int, eps: Float
    let weight: UnsafeMutablePointer<Float>?, bias: UnsafeMutablePointer<Float>?

    func run(_ rows: Range<Int>) {
        let n = features
        for r in rows {
            let src = x + r * n, dst = y + r * n
            let (mean, invStd) = meanAndInverseStd(src, count: n, eps: eps)
            for j in 0 ..< n {
                var v = (src[j] - mean) * invStd
                if let weight { v *= weight[j] }
                if let bias { v += bias[j] }
                dst[j] = v
            }
        }
    }
}

/// Mean and 1/sqrt(biased variance + eps) of `count` floats (two passes, 8-lane float accumulation).
@inline(__always)
func meanAndInverseStd(_ x: UnsafePointer<Float>, count: Int, eps: Float) -> (Float, Float) {
    let mean = VectorMath.sum(x, count: count) / Float(count)
    let variance = VectorMath.sumOfSquaredDeviations(x, count: count, mean: mean) / Float(count)
    return (mean, 1 / (variance + eps).squareRoot())
}

/// `torch.nn.GroupNorm(num_groups, num_channels)`: for input [B, C, ...], normalises each group of
/// C / groups channels over those channels and all positions, then applies per-channel `weight`, `bias` [C].
/// Large inputs are split by groups over the calling thread's `GEMMThreads` team. Any thread after loading.
public final class GroupNorm {
    public let groups: Int
    public let channels: Int
    public let eps: Float
    public let weight: Tensor?
    public let bias: Tensor?

    public init(_ weights: WeightScope, groups: Int, channels: Int, eps: Float = 1e-5, affine: Bool = true) throws {
        precondition(groups > 0 && channels % groups == 0, "GroupNorm: \(channels) channels not divisible into \(groups) groups")
        self.groups = groups
        self.channels = channels
        self.eps = eps
        weight = affine ? try weights.take("weight", shape: [channels]) : nil
        bias = affine ? try weights.take("bias", shape: [channels]) : nil
    }

    /// Normalises `x` [B, C, ...] into `y` (same shape; may be `x`).
    public func forward(_ x: TensorView, into y: TensorView) {
        precondition(x.shape.rank >= 2 && x.shape[1] == channels && y.count == x.count, "GroupNorm(\(channels)): input \(x.shape)")
        let batch = x.shape[0]
        let spatial = x.count / (batch * channels)
        GEMMThreads.forEachPart(of: batch * groups, elements: x.count,
                                GroupNormGroups(x: x.data, y: y.data, groups: groups, channels: channels, spatial: spatial,
                                                eps: eps, weight: weight?.data, bias: bias?.data))
    }

    /// Normalises `x` in place.
    public func forward(_ x: TensorView) { forward(x, into: x) }
}

/// `GroupNorm` of `x` [B, C, spatial] into `y`, one `GEMMThreads.forEachPart` item per (batch item, group).
private struct GroupNormGroups: PartitionedWork {
    let x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>
    let groups: Int, channels: Int, spatial: Int, eps: Float
    let weight: UnsafeMutablePointer<Float>?, bias: UnsafeMutablePointer<Float>?

    func run(_ batchGroups: Range<Int>) {
        let perGroup = channels / groups
        for batchGroup in batchGroups {
            let b = batchGroup / groups, g = batchGroup % groups
            let offset = (b * channels + g * perGroup) * spatial
            let (mean, invStd) = meanAndInverseStd(x + offset, count: perGroup * spatial, eps: eps)
            for c in 0 ..< perGroup {
                let channel = g * perGroup + c
                let scale = invStd * (weight?[channel] ?? 1)
                let shift = (bias?[channel] ?? 0) - mean * scale
                let src = x + offset + c * spatial, dst = y + offset + c * spatial
                for i in 0 ..< spatial { dst[i] = src[i] * scale + shift }
            }
        }
    }
}

/// `torch.nn.BatchNorm1d` / `BatchNorm2d` in eval mode: per-channel `(x - running_mean) / sqrt(running_var + eps)
/// * weight + bias` for input [B, C, ...] (or [B, C]), folded at load into one scale and shift per channel.
/// State dict: `weight`, `bias`, `running_mean`, `running_var` [C], and `num_batches_tracked` (ignored).
/// Any thread after loading.
public final class BatchNorm {
    public let channels: Int
    /// Per-channel multiplier `weight / sqrt(running_var + eps)`.
    public let scale: Tensor
    /// Per-channel offset `bias - running_mean * scale`.
    public let shift: Tensor

    public init(_ weights: WeightScope, channels: Int, eps: Float = 1e-5, affine: Bool = true) throws {
        self.channels = channels
        let mean = try weights.take("running_mean", shape: [channels])
        let variance = try weights.take("running_var", shape: [channels])
        let w = affine ? try weights.take("weight", shape: [channels]) : nil
        let b = affine ? try weights.take("bias", shape: [channels]) : nil
        weights.ignore("num_batches_tracked")
        scale = Tensor(shape: [channels])
        shift = Tensor(shape: [channels])
        for c in 0 ..< channels {
            let s = (w?.data[c] ?? 1) / (variance.data[c] + eps).squareRoot()
            scale.data[c] = s
            shift.data[c] = (b?.data[c] ?? 0) - mean.data[c] * s
        }
    }

    /// Normalises `x` [B, C, ...] into `y` (same shape; may be `x`).
    public func forward(_ x: TensorView, into y: TensorView) {
        precondition(x.shape.rank >= 2 && x.shape[1] == channels && y.count == x.count, "BatchNorm(\(channels)): input \(x.shape)")
        let batch = x.shape[0]
        let spatial = x.count / (batch * channels)
        for b in 0 ..< batch {
            for c in 0 ..< channels {
                let s = scale.data[c], t = shift.data[c]
                let src = x.data + (b * channels + c) * spatial, dst = y.data + (b * channels + c) * spatial
                for i in 0 ..< spatial { dst[i] = src[i] * s + t }
            }
        }
    }

    /// Normalises `x` in place.
    public func forward(_ x: TensorView) { forward(x, into: x) }
}

/// `torch.nn.BatchNorm1d` (same state dict and eval behaviour as `BatchNorm`).
public typealias BatchNorm1d = BatchNorm
/// `torch.nn.BatchNorm2d` (same state dict and eval behaviour as `BatchNorm`).
public typealias BatchNorm2d = BatchNorm
