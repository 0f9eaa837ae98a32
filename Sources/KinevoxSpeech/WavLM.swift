// Port of transformers' WavLMModel (models/wavlm/modeling_wavlm.py), inference only, batch 1.
// Tensor names are the WavLMModel state_dict keys (converted by Training/kinevox_train/frontends/convert_wavlm.py,
// which also folds the positional convolution's weight norm).
import Foundation
import KinevoxEngine

/// The `frontend` config of a WavLM model file (keys as written by `convert_wavlm`).
public struct WavLMConfig: Codable, Equatable, Sendable {
    public var convDim: [Int]
    public var convKernel: [Int]
    public var convStride: [Int]
    public var convBias: Bool
    /// "group": one GroupNorm after the first conv (Base); "layer": LayerNorm after every conv (Large).
    public var featExtractNorm: String
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var intermediateSize: Int
    public var numConvPosEmbeddings: Int
    public var numConvPosEmbeddingGroups: Int
    public var numBuckets: Int
    public var maxBucketDistance: Int
    /// Pre-norm ("stable layer norm", Large) instead of post-norm (Base) layers.
    public var doStableLayerNorm: Bool
    public var layerNormEps: Float
    /// Normalise the waveform to zero mean, unit variance first (the checkpoint's preprocessing; Large).
    public var normalizeWaveform: Bool

    enum CodingKeys: String, CodingKey {
        case convDim = "conv_dim", convKernel = "conv_kernel", convStride = "conv_stride", convBias = "conv_bias"
        case featExtractNorm = "feat_extract_norm", hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", intermediateSize = "intermediate_size"
        case numConvPosEmbeddings = "num_conv_pos_embeddings", numConvPosEmbeddingGroups = "num_conv_pos_embedding_groups"
        case numBuckets = "num_buckets", maxBucketDistance = "max_bucket_distance"
        case doStableLayerNorm = "do_stable_layer_norm", layerNormEps = "layer_norm_eps"
        case normalizeWaveform = "normalize_waveform"
    }

    public init(convDim: [Int], convKernel: [Int], convStride: [Int], convBias: Bool, featExtractNorm: String,
                hiddenSize: Int, numHiddenLayers: Int, numAttentionHeads: Int, intermediateSize: Int,
                numConvPosEmbeddings: Int, numConvPosEmbeddingGroups: Int, numBuckets: Int, maxBucketDistance: Int,
                doStableLayerNorm: Bool, layerNormEps: Float = 1e-5, normalizeWaveform: Bool = false) {
        self.convDim = convDim; self.convKernel = convKernel; self.convStride = convStride; self.convBias = convBias
        self.featExtractNorm = featExtractNorm; self.hiddenSize = hiddenSize; self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads; self.intermediateSize = intermediateSize
        self.numConvPosEmbeddings = numConvPosEmbeddings; self.numConvPosEmbeddingGroups = numConvPosEmbeddingGroups
        self.numBuckets = numBuckets; self.maxBucketDistance = maxBucketDistance
        self.doStableLayerNorm = doStableLayerNorm; self.layerNormEps = layerNormEps; self.normalizeWaveform = normalizeWaveform
    }

    /// WavLM Base / Base+ (94.7 M parameters, 768-d output every 20 ms).
    public static let base = WavLMConfig(
        convDim: Array(repeating: 512, count: 7), convKernel: [10, 3, 3, 3, 3, 2, 2], convStride: [5, 2, 2, 2, 2, 2, 2],
        convBias: false, featExtractNorm: "group", hiddenSize: 768, numHiddenLayers: 12, numAttentionHeads: 12,
        intermediateSize: 3072, numConvPosEmbeddings: 128, numConvPosEmbeddingGroups: 16, numBuckets: 320,
        maxBucketDistance: 800, doStableLayerNorm: false)

    /// Checks list lengths and divisibility; `path` names the file in the error.
    func validate(path: String) throws {
        let fail = { (reason: String) in SpeechModelError.invalidConfig(section: "frontend", reason: reason, path: path) }
        guard !convDim.isEmpty, convDim.count == convKernel.count, convDim.count == convStride.count else {
            throw fail("conv_dim, conv_kernel and conv_stride must be non-empty and equally long")
        }
        guard featExtractNorm == "group" || featExtractNorm == "layer" else { throw fail("feat_extract_norm must be 'group' or 'layer'") }
        guard hiddenSize % numAttentionHeads == 0, hiddenSize % numConvPosEmbeddingGroups == 0 else {
            throw fail("hidden_size must divide by num_attention_heads and num_conv_pos_embedding_groups")
        }
        guard numBuckets >= 4, maxBucketDistance > numBuckets / 4 else { throw fail("num_buckets / max_bucket_distance out of range") }
    }

    /// Input samples per output frame.
    public var hopSamples: Int { convStride.reduce(1, *) }
}

/// One conv block of the feature encoder: Conv1d → (GroupNorm | LayerNorm over channels | nothing) → GELU.
/// State dict: `conv.*`, `layer_norm.*`. Any thread after loading.
final class WavLMConvLayer {
    enum Norm { case group(GroupNorm), layer(LayerNorm), none }
    let conv: Conv1d
    let norm: Norm

    init(_ weights: WeightScope, config: WavLMConfig, index: Int) throws {
        let inChannels = index == 0 ? 1 : config.convDim[index - 1], out = config.convDim[index]
        conv = try Conv1d(weights.scope("conv"), inChannels: inChannels, outChannels: out, kernelSize: config.convKernel[index],
                          stride: config.convStride[index], bias: config.convBias)
        if config.featExtractNorm == "layer" {
            norm = .layer(try LayerNorm(weights.scope("layer_norm"), features: out))
        } else if index == 0 {
            norm = .group(try GroupNorm(weights.scope("layer_norm"), groups: out, channels: out))
        } else {
            norm = .none
        }
    }

    /// [1, C_in, T] → [1, C_out, T'] from `arena`.
    func forward(_ x: TensorView, arena: ScratchArena) -> TensorView {
        let y = conv.forward(x, arena: arena)
        switch norm {
        case let .group(groupNorm): groupNorm.forward(y)
        case let .layer(layerNorm):
            let channelsLast = arena.transposed(y[0])
            layerNorm.forward(channelsLast)
            channelsLast.transposeLastTwo(into: y[0])
        case .none: break
        }
        Activation.gelu.apply(y)
        return y
    }
}

/// `WavLMPositionalConvEmbedding`: grouped Conv1d over time with "same" padding (last frame dropped for an
/// even kernel), then GELU. State dict: `conv.weight` (weight norm folded), `conv.bias`.
final class WavLMPositionalConvEmbedding {
    let conv: Conv1d
    let kernelSize: Int

    init(_ weights: WeightScope, config: WavLMConfig) throws {
        kernelSize = config.numConvPosEmbeddings
        conv = try Conv1d(weights.scope("conv"), inChannels: config.hiddenSize, outChannels: config.hiddenSize,
                          kernelSize: kernelSize, padding: kernelSize / 2, groups: config.numConvPosEmbeddingGroups)
    }

    /// Adds the positional embedding of `x` [T, H] to `x` in place.
    func addPositions(to x: TensorView, arena: ScratchArena) {
        let mark = arena.mark()
        let t = x.shape[0], h = x.shape[1]
        let channelsFirst = arena.transposed(x).reshaped(Shape(1, h, t))
        let y = conv.forward(channelsFirst, arena: arena)
        let produced = y.shape[2]
        Activation.gelu.apply(y)
        for c in 0 ..< h {
            let row = y.data + c * produced
            for i in 0 ..< t { x.data[i * h + c] += row[i] }
        }
        arena.release(to: mark)
    }
}

/// `WavLMAttention`: multi-head self-attention with WavLM's gated relative position bias.
/// State dict: `q_proj`, `k_proj`, `v_proj`, `out_proj`, `gru_rel_pos_const` [1, H, 1, 1],
/// `gru_rel_pos_linear` (head_dim → 8), and in the first layer only `rel_attn_embed.weight` [buckets, H].
final class WavLMAttention {
    let heads: Int, headDim: Int
    let qProj: Linear, kProj: Linear, vProj: Linear, outProj: Linear
    let gruRelPosConst: Tensor
    let gruRelPosLinear: Linear
    let relAttnEmbed: Embedding?
    let numBuckets: Int, maxDistance: Int

    init(_ weights: WeightScope, config: WavLMConfig, hasRelativePositionBias: Bool) throws {
        let e = config.hiddenSize
        heads = config.numAttentionHeads
        headDim = e / heads
        qProj = try Linear(weights.scope("q_proj"), inFeatures: e, outFeatures: e)
        kProj = try Linear(weights.scope("k_proj"), inFeatures: e, outFeatures: e)
        vProj = try Linear(weights.scope("v_proj"), inFeatures: e, outFeatures: e)
        outProj = try Linear(weights.scope("out_proj"), inFeatures: e, outFeatures: e)
        gruRelPosConst = try weights.take("gru_rel_pos_const", shape: [1, heads, 1, 1])
        gruRelPosLinear = try Linear(weights.scope("gru_rel_pos_linear"), inFeatures: headDim, outFeatures: 8)
        relAttnEmbed = hasRelativePositionBias
            ? try Embedding(weights.scope("rel_attn_embed"), numEmbeddings: config.numBuckets, embeddingDim: heads) : nil
        numBuckets = config.numBuckets
        maxDistance = config.maxBucketDistance
    }

    /// The ungated position bias [H, T, T]: `rel_attn_embed[bucket(j − i), h]` (first layer only).
    func positionBias(length t: Int, arena: ScratchArena) -> TensorView {
        guard let relAttnEmbed else { preconditionFailure("position bias requested from a WavLM layer without rel_attn_embed") }
        let bias = arena.tensor(Shape(heads, t, t))
        let buckets = (-(t - 1) ..< t).map { WavLMAttention.relativePositionBucket($0, numBuckets: numBuckets, maxDistance: maxDistance) }
        for i in 0 ..< t {
            for j in 0 ..< t {
                let row = relAttnEmbed.weight.data + buckets[j - i + t - 1] * heads
                for h in 0 ..< heads { bias.data[(h * t + i) * t + j] = row[h] }
            }
        }
        return bias
    }

    /// transformers' `_relative_positions_bucket` for key − query offset `relative`, in float32 as PyTorch computes it.
    static func relativePositionBucket(_ relative: Int, numBuckets: Int, maxDistance: Int) -> Int {
        let half = numBuckets / 2
        let bucket = relative > 0 ? half : 0
        let distance = abs(relative)
        let maxExact = half / 2
        if distance < maxExact { return bucket + distance }
        let scale = Float(log(Double(maxDistance) / Double(maxExact)))
        let large = Float(maxExact) + logf(Float(distance) / Float(maxExact)) / scale * Float(half - maxExact)
        return bucket + Swift.min(Int(large), half - 1)
    }

    /// Self-attention of `x` [T, E] into `y` [T, E] using `positionBias` [H, T, T] gated by `x`.
    func forward(_ x: TensorView, positionBias: TensorView, into y: TensorView, arena: ScratchArena) {
        let mark = arena.mark()
        let t = x.shape[0], e = x.shape[1]
        // Gate per head and query: sigmoid of the two 4-sums of gru_rel_pos_linear(x_h); queries split over the team.
        let projected = gruRelPosLinear.forward(x.reshaped(Shape(t * heads, headDim)), arena: arena)
        let gated = arena.tensor(Shape(heads, t, t))
        GEMMThreads.forEachPart(of: t, elements: gated.count,
                                GatedPositionBias(projected: projected.data, relPosConst: gruRelPosConst.data, bias: positionBias.data,
                                                  gated: gated.data, heads: heads, length: t))
        let shape3 = Shape(1, t, e)
        let q = qProj.forward(x, arena: arena).reshaped(shape3)
        let k = kProj.forward(x, arena: arena).reshaped(shape3)
        let v = vProj.forward(x, arena: arena).reshaped(shape3)
        let context = arena.tensor(shape3)
        MultiheadAttention.attention(q: q, k: k, v: v, into: context, heads: heads, attentionBias: gated, arena: arena)
        outProj.forward(context.reshaped(Shape(t, e)), into: y)
        arena.release(to: mark)
    }
}

/// WavLM's gated position bias [H, T, T] for `GEMMThreads.forEachPart`, one item per query i: for each head h,
/// `gated[h, i, :] = gate(h, i) · bias[h, i, :]` with the gate from `projected` [T·H, 8] (gru_rel_pos_linear's output).
private struct GatedPositionBias: PartitionedWork {
    let projected: UnsafeMutablePointer<Float>, relPosConst: UnsafeMutablePointer<Float>
    let bias: UnsafeMutablePointer<Float>, gated: UnsafeMutablePointer<Float>
    let heads: Int, length: Int

    func run(_ queries: Range<Int>) {
        let t = length
        for i in queries {
            for h in 0 ..< heads {
                let p = projected + (i * heads + h) * 8
                let a = 1 / (1 + expf(-(p[0] + p[1] + p[2] + p[3])))
                let b = 1 / (1 + expf(-(p[4] + p[5] + p[6] + p[7])))
                let gate = a * (b * relPosConst[h] - 1) + 2
                let src = bias + (h * t + i) * t, dst = gated + (h * t + i) * t
                for j in 0 ..< t { dst[j] = gate * src[j] }
            }
        }
    }
}

/// `WavLMFeedForward`: `output_dense(gelu(intermediate_dense(x)))`.
final class WavLMFeedForward {
    let intermediateDense: Linear, outputDense: Linear

    init(_ weights: WeightScope, config: WavLMConfig) throws {
        intermediateDense = try Linear(weights.scope("intermediate_dense"), inFeatures: config.hiddenSize, outFeatures: config.intermediateSize)
        outputDense = try Linear(weights.scope("output_dense"), inFeatures: config.intermediateSize, outFeatures: config.hiddenSize)
    }

    func forward(_ x: TensorView, into y: TensorView, arena: ScratchArena) {
        let mark = arena.mark()
        let hidden = intermediateDense.forward(x, arena: arena)
        Activation.gelu.apply(hidden)
        outputDense.forward(hidden, into: y)
        arena.release(to: mark)
    }
}

/// `WavLMEncoderLayer` (post-norm) or `WavLMEncoderLayerStableLayerNorm` (pre-norm). State dict:
/// `attention.*`, `layer_norm.*`, `feed_forward.*`, `final_layer_norm.*`.
final class WavLMEncoderLayer {
    let attention: WavLMAttention
    let layerNorm: LayerNorm, finalLayerNorm: LayerNorm
    let feedForward: WavLMFeedForward
    let preNorm: Bool

    init(_ weights: WeightScope, config: WavLMConfig, index: Int) throws {
        attention = try WavLMAttention(weights.scope("attention"), config: config, hasRelativePositionBias: index == 0)
        layerNorm = try LayerNorm(weights.scope("layer_norm"), features: config.hiddenSize, eps: config.layerNormEps)
        feedForward = try WavLMFeedForward(weights.scope("feed_forward"), config: config)
        finalLayerNorm = try LayerNorm(weights.scope("final_layer_norm"), features: config.hiddenSize, eps: config.layerNormEps)
        preNorm = config.doStableLayerNorm
    }

    /// Runs the layer on `x` [T, E] in place.
    func forward(_ x: TensorView, positionBias: TensorView, arena: ScratchArena) {
        let mark = arena.mark()
        let branch = arena.tensor(x.shape)
        if preNorm {
            let normed = arena.tensor(x.shape)
            layerNorm.forward(x, into: normed)
            attention.forward(normed, positionBias: positionBias, into: branch, arena: arena)
            x.add(branch)
            finalLayerNorm.forward(x, into: normed)
            feedForward.forward(normed, into: branch, arena: arena)
            x.add(branch)
        } else {
            attention.forward(x, positionBias: positionBias, into: branch, arena: arena)
            x.add(branch)
            layerNorm.forward(x)
            feedForward.forward(x, into: branch, arena: arena)
            x.add(branch)
            finalLayerNorm.forward(x)
        }
        arena.release(to: mark)
    }
}

/// WavLM (Microsoft, 2021) as a speech front end: 16 kHz mono Float audio → last-layer hidden states,
/// one `hiddenSize`-d vector every `hopSamples` samples (20 ms). Any size (Base/Base+/Large or tiny), both
/// feature-encoder norms and both layer-norm placements. State dict: transformers' `WavLMModel` keys
/// (`feature_extractor.*`, `feature_projection.*`, `encoder.*`). Read-only after loading: one instance can
/// serve several threads, each passing its own arena.
public final class WavLM {
    public let config: WavLMConfig
    let convLayers: [WavLMConvLayer]
    let featureLayerNorm: LayerNorm
    let projection: Linear
    let posConvEmbed: WavLMPositionalConvEmbedding
    let encoderLayerNorm: LayerNorm
    let layers: [WavLMEncoderLayer]

    /// Binds the tensors under `weights` (the model file's `frontend.` scope).
    public init(_ weights: WeightScope, config: WavLMConfig) throws {
        try config.validate(path: weights.store.path)
        self.config = config
        let extractor = weights.scope("feature_extractor.conv_layers")
        convLayers = try config.convDim.indices.map { try WavLMConvLayer(extractor.scope("\($0)"), config: config, index: $0) }
        featureLayerNorm = try LayerNorm(weights.scope("feature_projection.layer_norm"), features: config.convDim.last!, eps: config.layerNormEps)
        projection = try Linear(weights.scope("feature_projection.projection"), inFeatures: config.convDim.last!, outFeatures: config.hiddenSize)
        posConvEmbed = try WavLMPositionalConvEmbedding(weights.scope("encoder.pos_conv_embed"), config: config)
        encoderLayerNorm = try LayerNorm(weights.scope("encoder.layer_norm"), features: config.hiddenSize, eps: config.layerNormEps)
        layers = try (0 ..< config.numHiddenLayers).map {
            try WavLMEncoderLayer(weights.scope("encoder.layers.\($0)"), config: config, index: $0)
        }
    }

    /// Output frames for `samples` input samples (0 when too short for the first convolution).
    public func frameCount(samples: Int) -> Int {
        var length = samples
        for (k, s) in zip(config.convKernel, config.convStride) {
            guard length >= k else { return 0 }
            length = (length - k) / s + 1
        }
        return length
    }

    /// The feature encoder's output [T, convDim.last] (before the projection's layer norm) in `arena`.
    func extractFeatures(_ samples: [Float], arena: ScratchArena) -> TensorView {
        var x = arena.tensor(Shape(1, 1, samples.count))
        samples.withUnsafeBufferPointer { x.data.update(from: $0.baseAddress!, count: samples.count) }
        if config.normalizeWaveform { normalizeInPlace(x) }
        for layer in convLayers { x = layer.forward(x, arena: arena) }
        return arena.transposed(x[0])
    }

    /// Last-layer hidden states of one utterance as a view [1, T, hiddenSize] taken from `arena` (T = 0 when too
    /// short for the first convolution): valid until the arena is released below it; its scratch is given back.
    public func featureView(of samples: [Float], arena: ScratchArena) -> TensorView {
        let t = frameCount(samples: samples.count)
        let result = arena.tensor(Shape(1, t, config.hiddenSize))
        guard t > 0 else { return result }
        let mark = arena.mark()
        defer { arena.release(to: mark) }
        let features = extractFeatures(samples, arena: arena)
        featureLayerNorm.forward(features)
        let x = projection.forward(features, arena: arena)
        posConvEmbed.addPositions(to: x, arena: arena)
        if !config.doStableLayerNorm { encoderLayerNorm.forward(x) }
        let bias = layers[0].attention.positionBias(length: t, arena: arena)
        for layer in layers { layer.forward(x, positionBias: bias, arena: arena) }
        if config.doStableLayerNorm { encoderLayerNorm.forward(x) }
        result.data.update(from: x.data, count: x.count)
        return result
    }

    /// Zero mean, unit variance over the whole waveform (eps 1e-5, as the official `F.layer_norm(wav, wav.shape)`).
    private func normalizeInPlace(_ x: TensorView) {
        var mean: Double = 0
        for i in 0 ..< x.count { mean += Double(x.data[i]) }
        mean /= Double(x.count)
        var variance: Double = 0
        for i in 0 ..< x.count { let d = Double(x.data[i]) - mean; variance += d * d }
        let invStd = 1 / (variance / Double(x.count) + 1e-5).squareRoot()
        for i in 0 ..< x.count { x.data[i] = Float((Double(x.data[i]) - mean) * invStd) }
    }
}
