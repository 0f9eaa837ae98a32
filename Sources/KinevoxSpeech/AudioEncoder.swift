// Port of Training/kinevox_train/models/audio_encoder.py (AudioEncoder, MemoryRetrieval,
// masked_adaptive_avg_pool): front-end features → a fixed number of condition tokens.
import Foundation
import KinevoxEngine

/// The audio encoder kinds of `audio_encoder.kind` (the training side's `models.config.ENCODER_KINDS`).
public enum AudioEncoderKind: String, ConfigKind {
    /// The paper's memory-retrieval encoder.
    case memory
    /// CLS tokens over `input_proj(x)`.
    case transformer
    case conv1d, avgpool, identity
}

/// The `audio_encoder` config section (keys as in the training side's `AudioEncoderConfig`).
public struct AudioEncoderConfig: Codable, Equatable, Sendable {
    public var kind: AudioEncoderKind
    public var inputDim: Int
    public var dim: Int
    public var numMemory: Int
    public var numLayers: Int
    public var numHeads: Int
    public var ffDim: Int
    public var numCondTokens: Int
    public var numConvLayers: Int
    public var dropout: Float
    public var maxPositions: Int

    enum CodingKeys: String, CodingKey {
        case kind, dim, dropout
        case inputDim = "input_dim", numMemory = "num_memory", numLayers = "num_layers", numHeads = "num_heads"
        case ffDim = "ff_dim", numCondTokens = "num_cond_tokens", numConvLayers = "num_conv_layers", maxPositions = "max_positions"
    }

    /// Defaults are the training side's `AudioEncoderConfig` defaults.
    public init(kind: AudioEncoderKind = .memory, inputDim: Int = 96, dim: Int = 512, numMemory: Int = 256, numLayers: Int = 2,
                numHeads: Int = 8, ffDim: Int = 1024, numCondTokens: Int = 1, numConvLayers: Int = 3, dropout: Float = 0.1,
                maxPositions: Int = 1024) {
        self.kind = kind; self.inputDim = inputDim; self.dim = dim; self.numMemory = numMemory; self.numLayers = numLayers
        self.numHeads = numHeads; self.ffDim = ffDim; self.numCondTokens = numCondTokens; self.numConvLayers = numConvLayers
        self.dropout = dropout; self.maxPositions = maxPositions
    }
}

/// Paper eq. (1): per frame, `softmax(query_proj(x) Kᵀ / √dim) V` with `K = key_proj(memory)`,
/// `V = value_proj(memory)` (single head, no mixing across frames). State dict: `memory` [M, dim],
/// `query_proj`, `key_proj`, `value_proj`. K and V are computed once at load. Any thread after loading.
final class MemoryRetrieval {
    let queryProj: Linear
    /// key_proj(memory), value_proj(memory): [M, dim].
    let keys: Tensor, values: Tensor
    let dim: Int, numMemory: Int

    init(_ weights: WeightScope, inputDim: Int, dim: Int, numMemory: Int) throws {
        self.dim = dim
        self.numMemory = numMemory
        let memory = try weights.take("memory", shape: [numMemory, dim])
        queryProj = try Linear(weights.scope("query_proj"), inFeatures: inputDim, outFeatures: dim)
        let keyProj = try Linear(weights.scope("key_proj"), inFeatures: dim, outFeatures: dim)
        let valueProj = try Linear(weights.scope("value_proj"), inFeatures: dim, outFeatures: dim)
        keys = Tensor(shape: [numMemory, dim])
        values = Tensor(shape: [numMemory, dim])
        keyProj.forward(memory.view, into: keys.view)
        valueProj.forward(memory.view, into: values.view)
    }

    /// x [B, S, inputDim] → [B, S, dim] from `arena`.
    func forward(_ x: TensorView, arena: ScratchArena) -> TensorView {
        let q = queryProj.forward(x, arena: arena)
        let rows = q.shape.rows
        let out = arena.tensor(q.shape)
        let mark = arena.mark()
        let scores = arena.allocate(count: rows * numMemory)
        BLAS.sgemm(transposeB: true, m: rows, n: numMemory, k: dim, alpha: 1 / Float(dim).squareRoot(),
                   a: q.data, lda: dim, b: keys.data, ldb: dim, c: scores, ldc: numMemory)
        softmaxRows(scores, rows: rows, columns: numMemory)
        BLAS.sgemm(m: rows, n: dim, k: numMemory, a: scores, lda: numMemory, b: values.data, ldb: dim, c: out.data, ldc: dim)
        arena.release(to: mark)
        return out
    }
}

/// The memory-retrieval audio encoder of the paper and its comparison encoders, one class selected by
/// `config.kind` exactly like the PyTorch `AudioEncoder`:
/// - memory: `out_norm(encoder([cond_queries ; PE(retrieval(input_norm(x)))])[:K])`
/// - transformer: the same with `input_proj` instead of `retrieval`
/// - conv1d: stride-2 convolutions (+GELU, padding frames zeroed first), masked adaptive average pool to K, `out_norm`
/// - avgpool: masked adaptive average pool of `input_norm(x)` to K, `input_proj`, `out_norm`
/// - identity: the first K feature vectors.
/// Input features [B, S, inputDim] with valid lengths; output condition tokens [B, K, dim].
/// State dict under `audio_encoder.`: as the PyTorch module. Read-only after loading: share across threads,
/// each passing its own arena.
public final class AudioEncoder {
    /// `input_norm` and `out_norm`, which every kind but identity has.
    struct Norms {
        let input: LayerNorm, output: LayerNorm
    }

    /// Each kind with the layers it binds.
    enum Layers {
        case memory(Norms, MemoryRetrieval, ConditionTokenEncoder)
        case transformer(Norms, inputProj: Linear, ConditionTokenEncoder)
        case conv1d(Norms, convs: [Conv1d])
        case avgpool(Norms, inputProj: Linear)
        case identity
    }

    public let config: AudioEncoderConfig
    let layers: Layers

    /// Binds `audio_encoder.*` and the `audio_encoder` config section of a whole model file.
    public convenience init(store: WeightStore) throws {
        try self.init(store.scope("audio_encoder"), config: store.config(AudioEncoderConfig.self, section: "audio_encoder"))
    }

    init(_ weights: WeightScope, config: AudioEncoderConfig) throws {
        self.config = config
        let d = config.dim
        // Sizes a hostile or broken file could set to zero (fuzz-model crash 6): refused here, not trapped later.
        let sequential = config.kind == .memory || config.kind == .transformer
        let sizes: [(Bool, String)] = [
            (config.inputDim > 0 && d > 0 && config.numCondTokens > 0, "input_dim, dim and num_cond_tokens must be positive"),
            (!sequential || (config.numHeads > 0 && d % config.numHeads == 0),
             "num_heads (\(config.numHeads)) must be positive and divide dim (\(d))"),
            (!sequential || (config.numLayers >= 0 && config.ffDim > 0 && config.maxPositions > 0),
             "num_layers must not be negative, ff_dim and max_positions must be positive"),
            (config.kind != .memory || config.numMemory > 0, "num_memory must be positive"),
            (config.kind != .conv1d || config.numConvLayers >= 0, "num_conv_layers must not be negative"),
        ]
        if let failed = sizes.first(where: { !$0.0 }) {
            throw SpeechModelError.invalidConfig(section: "audio_encoder", reason: failed.1, path: weights.store.path)
        }
        func norms() throws -> Norms {
            Norms(input: try LayerNorm(weights.scope("input_norm"), features: config.inputDim),
                  output: try LayerNorm(weights.scope("out_norm"), features: d))
        }
        func inputProj() throws -> Linear { try Linear(weights.scope("input_proj"), inFeatures: config.inputDim, outFeatures: d) }
        switch config.kind {
        case .memory:
            layers = .memory(try norms(), try MemoryRetrieval(weights.scope("retrieval"), inputDim: config.inputDim, dim: d,
                                                              numMemory: config.numMemory),
                             try ConditionTokenEncoder(weights, config: config))
        case .transformer:
            layers = .transformer(try norms(), inputProj: try inputProj(), try ConditionTokenEncoder(weights, config: config))
        case .conv1d:
            layers = .conv1d(try norms(), convs: try (0 ..< config.numConvLayers).map {
                try Conv1d(weights.scope("convs.\($0)"), inChannels: $0 == 0 ? config.inputDim : d, outChannels: d,
                           kernelSize: 3, stride: 2, padding: 1)
            })
        case .avgpool:
            layers = .avgpool(try norms(), inputProj: try inputProj())
        case .identity:
            layers = .identity
        }
    }

    /// Most feature frames one utterance may have (the position table of the memory and transformer kinds), nil
    /// when any number goes.
    public var maxFrames: Int? {
        switch layers {
        case .memory, .transformer: return config.maxPositions
        case .conv1d, .avgpool, .identity: return nil
        }
    }

    /// Condition tokens [B, K, dim] (from `arena`) for `features` [B, S, inputDim] whose first `lengths[b]`
    /// frames are valid (1 ≤ lengths[b] ≤ S, S ≤ maxPositions for the sequential kinds).
    public func forward(_ features: TensorView, lengths: [Int], arena: ScratchArena) -> TensorView {
        let b = features.shape[0], s = features.shape[1], k = config.numCondTokens, d = config.dim
        precondition(features.shape.rank == 3 && features.shape[2] == config.inputDim && lengths.count == b,
                     "AudioEncoder: features \(features.shape) with \(lengths.count) lengths")
        let out = arena.tensor(Shape(b, k, d))
        let norms: Norms
        switch layers {
        case .identity:
            for i in 0 ..< b { (out.data + i * k * d).update(from: features.data + i * s * config.inputDim, count: k * d) }
            return out
        case let .memory(n, _, _), let .transformer(n, _, _), let .conv1d(n, _), let .avgpool(n, _):
            norms = n
        }
        let mark = arena.mark()
        let x = arena.tensor(features.shape)
        norms.input.forward(features, into: x)
        switch layers {
        case .identity:
            break  // returned above
        case let .avgpool(_, inputProj):
            let pooled = maskedAdaptiveAveragePool(x, bins: k, arena: arena) { lengths[$0] }
            inputProj.forward(pooled, into: out)
        case let .conv1d(_, convs):
            // valid frames after `layers` stride-2 convolutions (kernel 3, padding 1): L' = (L - 1) / 2 + 1 per layer
            func valid(_ sample: Int, after layers: Int) -> Int {
                (0 ..< layers).reduce(lengths[sample]) { length, _ in (length - 1) / 2 + 1 }
            }
            var h = arena.transposed(x)
            for (layer, conv) in convs.enumerated() {
                for i in 0 ..< b {
                    let length = valid(i, after: layer)
                    for c in 0 ..< h.shape[1] {
                        let row = h.data + (i * h.shape[1] + c) * h.shape[2]
                        for t in length ..< h.shape[2] { row[t] = 0 }
                    }
                }
                h = conv.forward(h, arena: arena)
                Activation.gelu.apply(h)
            }
            let pooled = maskedAdaptiveAveragePool(arena.transposed(h), bins: k, arena: arena) {
                valid($0, after: convs.count)
            }
            out.copy(from: pooled)
        case let .memory(_, retrieval, tokens):
            tokens.forward(retrieval.forward(x, arena: arena), lengths: lengths, into: out, arena: arena)
        case let .transformer(_, inputProj, tokens):
            tokens.forward(inputProj.forward(x, arena: arena), lengths: lengths, into: out, arena: arena)
        }
        norms.output.forward(out)
        arena.release(to: mark)
        return out
    }

    /// Condition tokens [1, K, dim] (from `arena`) for one utterance's features [1, T, inputDim] (all frames valid),
    /// e.g. a front end's `featureView`. With a planned arena this allocates nothing.
    public func encode(_ features: TensorView, arena: ScratchArena) -> TensorView {
        forward(features, lengths: [features.shape[1]], arena: arena)
    }
}

/// The memory and transformer kinds' token stage: `encoder([cond_queries ; PE(h)])[:K]`, with the float64 position
/// table of the training side's `SinusoidalPositions`. State dict: `cond_queries` [K, dim], `encoder.*`.
struct ConditionTokenEncoder {
    let positions: SinusoidalPositionalEncoding
    let condQueries: Tensor
    let encoder: TransformerEncoder

    init(_ weights: WeightScope, config: AudioEncoderConfig) throws {
        let d = config.dim
        positions = SinusoidalPositionalEncoding(dModel: d, maxLength: config.maxPositions, precision: .float64)
        condQueries = try weights.take("cond_queries", shape: [config.numCondTokens, d])
        encoder = try TransformerEncoder(weights.scope("encoder"), numLayers: config.numLayers, dModel: d,
                                         numHeads: config.numHeads, dimFeedforward: config.ffDim, activation: .gelu, normFirst: true)
    }

    /// Writes the K condition tokens of `h` [B, S, dim] (frames past `lengths[b]` masked) into `out` [B, K, dim].
    func forward(_ h: TensorView, lengths: [Int], into out: TensorView, arena: ScratchArena) {
        let b = h.shape[0], s = h.shape[1], d = h.shape[2], k = condQueries.shape[0]
        positions.add(to: h)
        let sequence = arena.tensor(Shape(b, k + s, d))
        for i in 0 ..< b {
            (sequence.data + i * (k + s) * d).update(from: condQueries.data, count: k * d)
            (sequence.data + (i * (k + s) + k) * d).update(from: h.data + i * s * d, count: s * d)
        }
        var padding: [Bool]?  // none when every frame is valid (one utterance): no mask to build
        if lengths.contains(where: { $0 < s }) {
            var keys = [Bool](repeating: false, count: b * (k + s))
            for i in 0 ..< b {
                for t in lengths[i] ..< s { keys[i * (k + s) + k + t] = true }
            }
            padding = keys
        }
        encoder.forward(sequence, keyPaddingMask: padding, arena: arena)
        for i in 0 ..< b { (out.data + i * k * d).update(from: sequence.data + i * (k + s) * d, count: k * d) }
    }
}

/// Per sample, averages the valid frames [0, L) of `x` [B, S, D] into `bins` bins, L = `validLength(sample)`:
/// bin i covers frames ⌊i·L/bins⌋ ..< ⌈(i+1)·L/bins⌉ (PyTorch's adaptive pooling rule). Returns [B, bins, D]
/// from `arena`.
func maskedAdaptiveAveragePool(_ x: TensorView, bins: Int, arena: ScratchArena, validLength: (Int) -> Int) -> TensorView {
    let b = x.shape[0], s = x.shape[1], d = x.shape[2]
    let out = arena.zeros(Shape(b, bins, d))
    for i in 0 ..< b {
        let length = validLength(i)
        for bin in 0 ..< bins {
            let start = bin * length / bins, end = ((bin + 1) * length + bins - 1) / bins
            let dst = out.data + (i * bins + bin) * d
            for t in start ..< end {
                let src = x.data + (i * s + t) * d
                for j in 0 ..< d { dst[j] += src[j] }
            }
            let scale = 1 / Float(end - start)
            for j in 0 ..< d { dst[j] *= scale }
        }
    }
    return out
}
