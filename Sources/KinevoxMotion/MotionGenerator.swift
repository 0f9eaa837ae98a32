import Foundation
import KinevoxEngine

/// Motion codes sampled for one instruction: `tokens` × `layers` RVQ codes (row-major, token then
/// layer), and how many frames of their decoding make up the motion.
public struct MotionCodes: Equatable, Sendable {
    public let tokens: Int
    public let layers: Int
    public let codes: [Int]
    /// Frames kept from the decoded 2^down_t · tokens (fewer when a length was asked for).
    public let frames: Int
}

extension SeededRandom: UniformSource {
    /// Draws with `nextFloat()` (24-bit uniforms in [0, 1)).
    public mutating func fill(_ buffer: inout [Float]) {
        for index in buffer.indices { buffer[index] = nextFloat() }
    }
}

/// The motion generator of one model file: condition tokens (from the audio encoder) + seed
/// (+ optional length) → motion. Loads `rvq.`, `mask_transformer.`, `res_transformer.`,
/// `length_estimator.`, `motion_mean` and `motion_std` with their `kinevox.config` sections, and
/// plans its scratch memory at load by one warm-up pass at the longest motion.
///
/// Generation follows the training code's `generation.py`: length from the estimator (or given),
/// MaskGIT decoding of the base codes (cosine schedule, top-k, Gumbel sampling at the temperature,
/// re-masking the least confident), one pass per residual layer, each with classifier-free guidance
/// (conditional and unconditional passes batched as two), then the RVQ-VAE decoder and
/// de-normalisation. Same seed and condition give the same motion bit for bit.
///
/// Not thread-safe (it owns one scratch arena, the sampling buffers and its output arrays): call it from one
/// inference thread at a time. After the load-time warm-up a generation allocates nothing, as long as the
/// caller has let go of the previous codes and motion (see `GeneratorOutputs`).
public final class MotionGenerator {
    public let config: GeneratorConfig
    public let rvq: RVQVAE
    public let maskTransformer: MaskTransformer
    public let resTransformer: ResTransformer
    public let lengthEstimator: LengthEstimator
    /// HumanML3D normalisation [263]: motion = normalised · std + mean.
    let mean: [Float]
    let std: [Float]
    let arena: ScratchArena
    /// The sampling loop's working arrays, sized at load for the longest motion.
    let samplingState: SamplingScratch
    /// The arrays handed out as codes and motion, refilled in place by each generation.
    let outputs: GeneratorOutputs

    /// Longest motion in tokens: bounded by HumanML3D's 196 frames and the transformers' positions.
    public var maxTokens: Int {
        min(HumanML3D.maxFrames / rvq.downsample, maskTransformer.trunk.maxTokens, resTransformer.trunk.maxTokens)
    }

    /// Longest motion in frames (20 fps).
    public var maxFrames: Int { maxTokens * rvq.downsample }

    /// Times the generator's scratch arena has asked the system for memory (constant once planned).
    public var scratchAllocationCount: Int { arena.systemAllocationCount }

    /// Floats in the generator's scratch arena (planned at load for the longest motion).
    public var scratchCapacity: Int { arena.capacity }

    /// Binds the generator's tensors from an open model file. Tensors under the generator's
    /// prefixes that no layer uses are an error naming them; other prefixes (front end, audio
    /// encoder) are left to their own loaders.
    public init(store: WeightStore) throws {
        config = try GeneratorConfig(store: store)
        rvq = try RVQVAE(store.scope("rvq"), config: config.rvq)
        maskTransformer = try MaskTransformer(store.scope("mask_transformer"), config: config.maskTransformer)
        resTransformer = try ResTransformer(store.scope("res_transformer"), config: config.resTransformer)
        lengthEstimator = try LengthEstimator(store.scope("length_estimator"), config: config.lengthEstimator)
        mean = try store.root.take("motion_mean", shape: [HumanML3D.featureCount]).toArray()
        std = try store.root.take("motion_std", shape: [HumanML3D.featureCount]).toArray()
        for prefix in ["rvq", "mask_transformer", "res_transformer", "length_estimator"] {
            try store.scope(prefix).finish()
        }
        arena = ScratchArena()
        samplingState = SamplingScratch()
        outputs = GeneratorOutputs()
        guard maxTokens >= 1 else {
            throw MotionError("kinevox.config: the longest motion would be \(maxTokens) tokens (rvq.down_t, and the positions "
                              + "the transformers keep after their condition tokens); it must be at least 1")
        }
        let conditionTokens = (try? store.config(ConditionShape.self, section: "audio_encoder"))?.numCondTokens ?? 1
        planScratch(conditionTokens: max(conditionTokens, 1))
    }

    /// Opens the model file at `path` and binds the generator.
    public convenience init(path: String) throws {
        try self.init(store: try WeightStore(path: path))
    }

    /// Generates one motion.
    /// - Parameters:
    ///   - condition: K × cond_dim condition tokens (row-major) from the audio encoder.
    ///   - seed: the sampling seed; the same seed and condition give the same motion.
    ///   - frames: the motion length in frames (1 … `maxFrames`); nil lets the length estimator
    ///     choose it from the condition.
    public func generate(condition: [Float], seed: UInt64, frames: Int? = nil) throws -> Motion {
        try decode(try generateCodes(condition: condition, seed: seed, frames: frames))
    }

    /// The sampling half of `generate`: codes for `condition` (see `generate`).
    public func generateCodes(condition: [Float], seed: UInt64, frames: Int? = nil) throws -> MotionCodes {
        try condition.withUnsafeBufferPointer { try generateCodes(condition: $0, seed: seed, frames: frames) }
    }

    /// `generateCodes` for condition tokens in caller-owned memory (e.g. an `AudioEncoder` output view).
    public func generateCodes(condition: UnsafeBufferPointer<Float>, seed: UInt64, frames: Int? = nil) throws -> MotionCodes {
        var random = SeededRandom(seed: seed)
        return try generateCodes(condition: condition, frames: frames, sampling: config.sampling, uniforms: &random)
    }

    /// `generateCodes(condition:frames:sampling:uniforms:)` for condition tokens in an array.
    public func generateCodes<U: UniformSource>(condition: [Float], frames: Int?, sampling: SamplingConfig,
                                                uniforms: inout U) throws -> MotionCodes {
        try condition.withUnsafeBufferPointer {
            try generateCodes(condition: $0, frames: frames, sampling: sampling, uniforms: &uniforms)
        }
    }

    /// Codes for `condition` with the given sampling settings and source of uniform draws (drawn in
    /// the order of the training code's `generation.py`, so replaying its draws reproduces it).
    public func generateCodes<U: UniformSource>(condition: UnsafeBufferPointer<Float>, frames: Int?, sampling: SamplingConfig,
                                                uniforms: inout U) throws -> MotionCodes {
        let condDim = config.maskTransformer.condDim
        guard !condition.isEmpty else { throw MotionError("empty condition: the audio encoder produced no condition tokens") }
        guard condition.count % condDim == 0 else {
            throw MotionError("condition holds \(condition.count) values, not a whole number of \(condDim)-wide tokens")
        }
        guard condition.allSatisfy(\.isFinite) else { throw MotionError("condition tokens contain NaN or infinity") }
        guard sampling.steps >= 2 else { throw MotionError("sampling.steps must be at least 2, got \(sampling.steps)") }
        if let frames, !(1...maxFrames).contains(frames) {
            throw MotionError("motion length \(frames) frames is outside 1…\(maxFrames) (at \(Skeleton.fps) fps)")
        }
        arena.reset()
        defer { arena.reset() }
        let cond = arena.tensor(Shape(1, condition.count / condDim, condDim))
        cond.data.update(from: condition.baseAddress!, count: condition.count)
        let tokens: Int
        let keptFrames: Int
        if let frames {
            tokens = (frames + rvq.downsample - 1) / rvq.downsample
            keptFrames = frames
        } else {
            tokens = min(max(sampleLength(cond, sampling: sampling, uniforms: &uniforms), 1), maxTokens)
            keptFrames = tokens * rvq.downsample
        }
        maskGIT(cond, tokens: tokens, sampling: sampling, uniforms: &uniforms)
        let codes = residualLayers(cond, tokens: tokens, sampling: sampling, uniforms: &uniforms)
        return MotionCodes(tokens: tokens, layers: config.rvq.numQuantizers, codes: codes, frames: keptFrames)
    }

    /// The decoding half of `generate`: RVQ-VAE decoder, de-normalisation, joints.
    public func decode(_ codes: MotionCodes) throws -> Motion {
        let numCodes = config.rvq.numCodes
        guard codes.tokens >= 1, (1...config.rvq.numQuantizers).contains(codes.layers),
              codes.codes.count == codes.tokens * codes.layers,
              (1...codes.tokens * rvq.downsample).contains(codes.frames) else {
            throw MotionError("motion codes: \(codes.codes.count) codes do not form \(codes.tokens) tokens × \(codes.layers) layers for \(codes.frames) frames")
        }
        if let bad = codes.codes.first(where: { $0 < -1 || $0 >= numCodes }) {
            throw MotionError("motion codes: code \(bad) is outside −1…\(numCodes - 1)")
        }
        arena.reset()
        defer { arena.reset() }
        let normalized = rvq.decode(codes.codes, batch: 1, tokens: codes.tokens, layers: codes.layers, arena: arena)
        let o = outputs
        let count = codes.frames * HumanML3D.featureCount
        SamplingScratch.set(&o.features, count: count, to: 0)
        o.features.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: normalized.data, count: count) }
        try HumanML3D.denormalize(&o.features, mean: mean, std: std)
        SamplingScratch.set(&o.joints, count: codes.frames * Skeleton.jointCount * 3, to: 0)
        try o.features.withUnsafeBufferPointer { features in
            try o.joints.withUnsafeMutableBufferPointer { try HumanML3D.joints(fromFeatures: features, into: $0) }
        }
        return Motion(frameCount: codes.frames, features: o.features, joints: o.joints)
    }

    /// Length in tokens from the estimator: one uniform draw, classes below `min_tokens` excluded.
    func sampleLength<U: UniformSource>(_ cond: TensorView, sampling: SamplingConfig, uniforms: inout U) -> Int {
        let mark = arena.mark()
        defer { arena.release(to: mark) }
        let s = samplingState
        SamplingScratch.set(&s.draw, count: 1, to: 0)
        uniforms.fill(&s.draw)
        let logits = lengthEstimator.logits(cond, arena: arena)
        return TokenSampling.length(logits: UnsafeBufferPointer(logits.buffer), minTokens: sampling.minTokens,
                                    argmax: sampling.length == "argmax", u: s.draw[0])
    }

    /// MaskGIT decoding of the base codes: start fully masked; each step re-masks the least
    /// confident tokens per the cosine schedule, predicts them with guidance, top-k and Gumbel
    /// sampling, and keeps the new tokens' probabilities as their confidence. Leaves the codes in
    /// `samplingState.ids`.
    func maskGIT<U: UniformSource>(_ cond: TensorView, tokens: Int, sampling: SamplingConfig, uniforms: inout U) {
        let classes = config.maskTransformer.numCodes
        let s = samplingState
        SamplingScratch.set(&s.ids, count: tokens, to: maskTransformer.maskID)
        SamplingScratch.set(&s.scores, count: tokens, to: 0)
        SamplingScratch.set(&s.noise, count: tokens * classes, to: 0)
        SamplingScratch.set(&s.masked, count: tokens, to: false)
        SamplingScratch.set(&s.order, count: tokens, to: 0)
        SamplingScratch.set(&s.chosen, count: tokens, to: 0)
        SamplingScratch.set(&s.confidence, count: tokens, to: 0)
        SamplingScratch.set(&s.row, count: classes, to: 0)
        for step in 0..<sampling.steps {
            let count = TokenSampling.maskedCount(step: step, steps: sampling.steps, length: tokens)
            s.scores.withUnsafeBufferPointer { scores in
                s.masked.withUnsafeMutableBufferPointer { masked in
                    s.order.withUnsafeMutableBufferPointer {
                        TokenSampling.lowestScores(scores, count: count, into: masked, order: $0)
                    }
                }
            }
            for t in 0..<tokens where s.masked[t] { s.ids[t] = maskTransformer.maskID }
            let mark = arena.mark()
            let logits = maskTransformer.guidedLogits(ids: s.ids, cond: cond, scale: sampling.maskCfg, arena: arena).buffer
            s.row.withUnsafeMutableBufferPointer {
                TokenSampling.topKFilter(logits, classes: classes, k: sampling.topK, scratch: $0)
            }
            uniforms.fill(&s.noise)
            s.noise.withUnsafeBufferPointer { noise in
                s.chosen.withUnsafeMutableBufferPointer {
                    TokenSampling.gumbelArgmax(UnsafeBufferPointer(logits), classes: classes, temperature: sampling.temperature,
                                               uniforms: noise, into: $0)
                }
            }
            s.chosen.withUnsafeBufferPointer { chosen in
                s.confidence.withUnsafeMutableBufferPointer {
                    TokenSampling.chosenProbability(UnsafeBufferPointer(logits), classes: classes,
                                                    temperature: sampling.temperature, chosen: chosen, into: $0)
                }
            }
            arena.release(to: mark)
            for t in 0..<tokens {
                if s.masked[t] {
                    s.ids[t] = s.chosen[t]
                    s.scores[t] = s.confidence[t]
                } else {
                    s.scores[t] = 1e5
                }
            }
        }
    }

    /// Residual layers 1 … Q−1 over the base codes in `samplingState.ids`, each predicted from the
    /// summed embeddings of the layers below with guidance, top-k and Gumbel sampling. Returns codes
    /// [tokens, Q] (row-major) in `outputs.codes`' storage.
    func residualLayers<U: UniformSource>(_ cond: TensorView, tokens: Int, sampling: SamplingConfig,
                                          uniforms: inout U) -> [Int] {
        let layers = config.rvq.numQuantizers, classes = config.resTransformer.numCodes
        let s = samplingState
        // Layer-major [Q, T]: layer 0 is the base codes.
        SamplingScratch.set(&s.layerCodes, count: tokens * layers, to: 0)
        for t in 0..<tokens { s.layerCodes[t] = s.ids[t] }
        SamplingScratch.set(&s.noise, count: tokens * classes, to: 0)
        SamplingScratch.set(&s.row, count: classes, to: 0)
        let mark = arena.mark()
        defer { arena.release(to: mark) }
        let history = arena.zeros(Shape(1, tokens, config.resTransformer.codeDim))
        for q in 1..<max(layers, 1) {
            resTransformer.addEmbeddings(of: s.layerCodes[(q - 1) * tokens..<q * tokens], layer: q - 1, to: history)
            let stepMark = arena.mark()
            let logits = resTransformer.guidedLogits(history: history, q: q, cond: cond, scale: sampling.resCfg,
                                                     arena: arena).buffer
            s.row.withUnsafeMutableBufferPointer {
                TokenSampling.topKFilter(logits, classes: classes, k: sampling.resTopK, scratch: $0)
            }
            uniforms.fill(&s.noise)
            s.noise.withUnsafeBufferPointer { noise in
                s.layerCodes.withUnsafeMutableBufferPointer {
                    TokenSampling.gumbelArgmax(UnsafeBufferPointer(logits), classes: classes,
                                               temperature: sampling.resTemperature, uniforms: noise,
                                               into: UnsafeMutableBufferPointer(rebasing: $0[q * tokens..<(q + 1) * tokens]))
                }
            }
            arena.release(to: stepMark)
        }
        let o = outputs
        SamplingScratch.set(&o.codes, count: tokens * layers, to: 0)
        for t in 0..<tokens {
            for q in 0..<layers { o.codes[t * layers + q] = s.layerCodes[q * tokens + t] }
        }
        return o.codes
    }

    /// Every stage at the longest motion (two MaskGIT steps: scratch is the same for every step), so
    /// the arena is sized before the first real generation; later generations of that size or
    /// shorter allocate no scratch.
    private func planScratch(conditionTokens: Int) {
        var sampling = config.sampling
        sampling.steps = 2
        var silent = ConstantUniforms()
        let condition = [Float](repeating: 0, count: conditionTokens * config.maskTransformer.condDim)
        if let codes = try? generateCodes(condition: condition, frames: maxFrames, sampling: sampling, uniforms: &silent) {
            _ = try? decode(codes)
        }
        arena.reset()
    }
}

/// The sampling loop's working arrays, reused by every generation: resized in place, so after the
/// load-time warm-up at the longest motion they never reallocate. One generator (one thread) owns it.
final class SamplingScratch {
    /// MaskGIT's current base codes [T] and their confidences [T].
    var ids: [Int] = []
    var scores: [Float] = []
    /// Uniform draws of one step [T × N].
    var noise: [Float] = []
    /// Positions re-masked this step [T], and the sort order that found them [T].
    var masked: [Bool] = []
    var order: [Int] = []
    /// Sampled codes [T] and their probabilities [T].
    var chosen: [Int] = []
    var confidence: [Float] = []
    /// One row of logits [N] for the top-k selection.
    var row: [Float] = []
    /// The length estimator's single draw.
    var draw: [Float] = []
    /// Codes of every quantizer layer, layer-major [Q × T].
    var layerCodes: [Int] = []

    /// Makes `array` `count` copies of `value`, keeping its storage (no allocation within its capacity).
    static func set<Element>(_ array: inout [Element], count: Int, to value: Element) {
        array.removeAll(keepingCapacity: true)
        array.append(contentsOf: repeatElement(value, count: count))
    }
}

/// The arrays a generation hands out: the codes [T × Q], the motion's features [T × 263] and joints [T × 22 × 3].
/// Each generation refills them in place and returns them sharing this storage (a retain, no copy). If the caller
/// has released the previous results by then, the storage is uniquely owned again and is reused; a result still
/// held is left untouched and the refill allocates a fresh array (copy-on-write). Sized at load for the longest
/// motion. One generator (one thread) owns it.
final class GeneratorOutputs {
    var codes: [Int] = []
    var features: [Float] = []
    var joints: [Float] = []
}

/// The audio encoder's condition-token count, read only to plan the scratch memory.
private struct ConditionShape: Decodable {
    let numCondTokens: Int

    enum CodingKeys: String, CodingKey {
        case numCondTokens = "num_cond_tokens"
    }
}

/// Uniform draws that are all 0.5 (scratch planning only).
private struct ConstantUniforms: UniformSource {
    mutating func fill(_ buffer: inout [Float]) {
        for index in buffer.indices { buffer[index] = 0.5 }
    }
}
