// Port of Training/kinevox_train/frontends/whisper.py (WhisperEncoder and its log-mel), inference only.
// Tensor names are `frontend.` + the twin's state_dict keys (written by convert_whisper.py from a CTranslate2
// model.bin); the config keys are the twin's WhisperConfig fields.
import Foundation
import KinevoxEngine

/// The `frontend` config of a Whisper encoder file (keys as written by `convert_whisper`).
public struct WhisperConfig: Codable, Equatable, Sendable {
    public var kind: String
    public var sampleRate: Int
    public var nMels: Int
    public var nFft: Int
    public var hopLength: Int
    /// Zero samples appended before the STFT (faster-whisper's default `padding`, 160).
    public var padSamples: Int
    /// Stored positions (1500 = 30 s of output frames).
    public var nCtx: Int
    public var dModel: Int
    public var nHeads: Int
    public var nLayers: Int
    public var ffnDim: Int
    /// Blocks run: `nLayers` gives the encoder output (after `ln_post`), fewer the residual stream after that block.
    public var outputLayer: Int
    public var layerNormEps: Float

    enum CodingKeys: String, CodingKey {
        case kind, sampleRate = "sample_rate", nMels = "n_mels", nFft = "n_fft", hopLength = "hop_length"
        case padSamples = "pad_samples", nCtx = "n_ctx", dModel = "d_model", nHeads = "n_heads", nLayers = "n_layers"
        case ffnDim = "ffn_dim", outputLayer = "output_layer", layerNormEps = "layer_norm_eps"
    }

    /// Checks the sizes fit together; `path` names the file in the error.
    func validate(path: String) throws {
        let fail = { (reason: String) in SpeechModelError.invalidConfig(section: "frontend", reason: reason, path: path) }
        guard nFft > 0, hopLength > 0, nMels > 0, padSamples >= 0, nCtx > 0, ffnDim > 0 else {
            throw fail("n_fft, hop_length, n_mels, n_ctx and ffn_dim must be positive, pad_samples not negative")
        }
        guard nHeads > 0, dModel % nHeads == 0 else { throw fail("d_model \(dModel) must divide by n_heads \(nHeads)") }
        guard (1 ... nLayers).contains(outputLayer) else { throw fail("output_layer \(outputLayer) outside 1...\(nLayers)") }
    }

    /// Longest utterance the stored positions cover (479,999 samples, one under 30 s, for the released models).
    public var maxSamples: Int { (2 * nCtx + 1) * hopLength - padSamples - 1 }

    /// Output frames for `samples` samples (0 when shorter than one STFT window).
    public func frameCount(samples: Int) -> Int {
        guard samples >= nFft else { return 0 }
        return ((samples + padSamples) / hopLength - 1) / 2 + 1
    }
}

/// Whisper's log-mel spectrogram as faster-whisper computes it: `padSamples` zeros appended, reflect padding of
/// nFft/2 each side, periodic-Hann DFT of nFft samples every hopLength (as one GEMM with a float64-built basis),
/// last frame dropped, |·|², mel filters, log10 clamped at 1e-10, floor at the utterance max − 8, (x + 4) / 4.
/// State dict: `mel_filters` [nMels, nFft/2 + 1]. Read-only after loading; any thread.
final class WhisperLogMel {
    let config: WhisperConfig
    let melFilters: Tensor
    /// [2·bins, nFft]: windowed cosine rows then windowed sine rows.
    let dft: Tensor
    var bins: Int { config.nFft / 2 + 1 }

    init(_ weights: WeightScope, config: WhisperConfig) throws {
        self.config = config
        let n = config.nFft, bins = n / 2 + 1
        melFilters = try weights.take("mel_filters", shape: [config.nMels, bins])
        dft = Tensor(shape: [2 * bins, n])
        for k in 0 ..< bins {
            for i in 0 ..< n {
                let window = 0.5 - 0.5 * cos(2 * Double.pi * Double(i) / Double(n))
                let angle = 2 * Double.pi * Double(k * i % n) / Double(n)
                dft.data[k * n + i] = Float(window * cos(angle))
                dft.data[(bins + k) * n + i] = Float(-window * sin(angle))
            }
        }
    }

    /// Mel frames of an utterance: (samples + padSamples) / hopLength of them.
    func frameCount(samples: Int) -> Int { (samples + config.padSamples) / config.hopLength }

    /// The log-mel of `samples` (at least nFft of them) as [1, nMels, frames] from `arena`.
    func forward(_ samples: UnsafeBufferPointer<Float>, arena: ScratchArena) -> TensorView {
        let b = bins, hop = config.hopLength, half = config.nFft / 2
        let frames = frameCount(samples: samples.count)
        let mel = arena.tensor(Shape(1, config.nMels, frames))
        let mark = arena.mark()
        defer { arena.release(to: mark) }
        // The padded signal: reflect(half) · samples · zeros(padSamples) · reflect(half).
        let length = samples.count + config.padSamples
        let signal = arena.allocate(count: length + 2 * half)
        let body = signal + half
        body.update(from: samples.baseAddress!, count: samples.count)
        (body + samples.count).update(repeating: 0, count: config.padSamples)
        for i in 1 ... half {
            signal[half - i] = body[i]
            body[length - 1 + i] = body[length - 1 - i]
        }
        let power = arena.allocate(count: frames * b)
        powerSpectrum(signal, hop: hop, frames: frames, dft: dft, into: power, arena: arena)
        BLAS.sgemm(transposeB: true, m: config.nMels, n: frames, k: b, a: melFilters.data, lda: b, b: power, ldb: b,
                   c: mel.data, ldc: frames)
        var loudest = -Float.infinity
        for i in 0 ..< mel.count {
            let v = log10f(Swift.max(mel.data[i], 1e-10))
            mel.data[i] = v
            loudest = Swift.max(loudest, v)
        }
        let floor = loudest - 8
        for i in 0 ..< mel.count { mel.data[i] = (Swift.max(mel.data[i], floor) + 4) / 4 }
        return mel
    }
}

/// `WhisperAttention`: multi-head self-attention with separate `query`, `key` (no bias), `value` and `out`
/// projections. Any thread after loading.
final class WhisperAttention {
    let heads: Int
    let query: Linear, key: Linear, value: Linear, out: Linear

    init(_ weights: WeightScope, config: WhisperConfig) throws {
        let d = config.dModel
        heads = config.nHeads
        query = try Linear(weights.scope("query"), inFeatures: d, outFeatures: d)
        key = try Linear(weights.scope("key"), inFeatures: d, outFeatures: d, bias: false)
        value = try Linear(weights.scope("value"), inFeatures: d, outFeatures: d)
        out = try Linear(weights.scope("out"), inFeatures: d, outFeatures: d)
    }

    /// Self-attention of `x` [T, d] into `y` [T, d].
    func forward(_ x: TensorView, into y: TensorView, arena: ScratchArena) {
        let mark = arena.mark()
        let shape3 = Shape(1, x.shape[0], x.shape[1])
        let q = query.forward(x, arena: arena).reshaped(shape3)
        let k = key.forward(x, arena: arena).reshaped(shape3)
        let v = value.forward(x, arena: arena).reshaped(shape3)
        let context = arena.tensor(shape3)
        MultiheadAttention.attention(q: q, k: k, v: v, into: context, heads: heads, arena: arena)
        out.forward(context.reshaped(x.shape), into: y)
        arena.release(to: mark)
    }
}

/// `WhisperBlock`: `x += attn(attn_ln(x)); x += mlp.2(gelu(mlp.0(mlp_ln(x))))`. Any thread after loading.
final class WhisperBlock {
    let attnLn: LayerNorm, mlpLn: LayerNorm
    let attn: WhisperAttention
    let mlp0: Linear, mlp2: Linear

    init(_ weights: WeightScope, config: WhisperConfig) throws {
        let d = config.dModel
        attnLn = try LayerNorm(weights.scope("attn_ln"), features: d, eps: config.layerNormEps)
        attn = try WhisperAttention(weights.scope("attn"), config: config)
        mlpLn = try LayerNorm(weights.scope("mlp_ln"), features: d, eps: config.layerNormEps)
        mlp0 = try Linear(weights.scope("mlp.0"), inFeatures: d, outFeatures: config.ffnDim)
        mlp2 = try Linear(weights.scope("mlp.2"), inFeatures: config.ffnDim, outFeatures: d)
    }

    /// Runs the block on `x` [T, d] in place.
    func forward(_ x: TensorView, arena: ScratchArena) {
        let mark = arena.mark()
        let normed = arena.tensor(x.shape), branch = arena.tensor(x.shape)
        attnLn.forward(x, into: normed)
        attn.forward(normed, into: branch, arena: arena)
        x.add(branch)
        mlpLn.forward(x, into: normed)
        let hidden = mlp0.forward(normed, arena: arena)
        Activation.gelu.apply(hidden)
        mlp2.forward(hidden, into: branch)
        x.add(branch)
        arena.release(to: mark)
    }
}

/// OpenAI's Whisper audio encoder (as converted from a CTranslate2 model.bin) as a speech front end: 16 kHz mono
/// Float audio → one `dModel`-d frame every 20 ms, after block `outputLayer`. Utterances up to `maxSamples`
/// (30 s); no padding to 30 s. Read-only after loading: one instance can serve several threads, each with its
/// own arena. GEMMs run on the calling thread's `GEMMThreads` team; fp32 or bf16 products as the store asks.
public final class Whisper {
    public let config: WhisperConfig
    let logMel: WhisperLogMel
    let conv1: Conv1d, conv2: Conv1d
    /// [nCtx, dModel]
    let positionalEmbedding: Tensor
    let blocks: [WhisperBlock]
    let lnPost: LayerNorm

    /// Binds the tensors under `weights` (a front-end file's `frontend.` scope).
    public init(_ weights: WeightScope, config: WhisperConfig) throws {
        try config.validate(path: weights.store.path)
        self.config = config
        let d = config.dModel
        logMel = try WhisperLogMel(weights, config: config)
        conv1 = try Conv1d(weights.scope("conv1"), inChannels: config.nMels, outChannels: d, kernelSize: 3, padding: 1)
        conv2 = try Conv1d(weights.scope("conv2"), inChannels: d, outChannels: d, kernelSize: 3, stride: 2, padding: 1)
        positionalEmbedding = try weights.take("positional_embedding", shape: [config.nCtx, d])
        blocks = try (0 ..< config.nLayers).map { try WhisperBlock(weights.scope("blocks.\($0)"), config: config) }
        lnPost = try LayerNorm(weights.scope("ln_post"), features: d, eps: config.layerNormEps)
    }

    /// The encoder's output of `samples` as a view [1, T, dModel] taken from `arena` (T = 0 below nFft samples; samples
    /// past `maxSamples` are dropped): valid until the arena is released below it; its scratch is given back, so with
    /// a planned arena nothing is allocated.
    public func featureView(of samples: [Float], arena: ScratchArena) -> TensorView {
        let count = Swift.min(samples.count, config.maxSamples)
        let t = config.frameCount(samples: count), d = config.dModel
        let result = arena.tensor(Shape(1, t, d))
        guard t > 0 else { return result }
        let mark = arena.mark()
        defer { arena.release(to: mark) }
        let mel = samples.withUnsafeBufferPointer { logMel.forward(UnsafeBufferPointer(rebasing: $0[..<count]), arena: arena) }
        let x = result.reshaped(Shape(t, d))
        encode(mel, into: x, arena: arena)
        return result
    }

    /// The encoder on a log-mel [1, nMels, F] into `x` [(F + 1) / 2, dModel].
    func encode(_ mel: TensorView, into x: TensorView, arena: ScratchArena) {
        let mark = arena.mark()
        let h1 = conv1.forward(mel, arena: arena)
        Activation.gelu.apply(h1)
        let h2 = conv2.forward(h1, arena: arena)
        Activation.gelu.apply(h2)
        let t = x.shape[0]
        h2.transposeLastTwo(into: x.reshaped(Shape(1, t, config.dModel)))
        x.add(TensorView(data: positionalEmbedding.data, shape: x.shape))
        for block in blocks.prefix(config.outputLayer) { block.forward(x, arena: arena) }
        if config.outputLayer == config.nLayers { lnPost.forward(x) }
        arena.release(to: mark)
    }
}
