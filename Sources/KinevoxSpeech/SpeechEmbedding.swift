// Port of Training/kinevox_train/frontends/speech_embedding_net.py (openwakeword 0.5.1's
// melspectrogram.onnx + embedding_model.onnx, converted by convert_speech_embedding.py).
import Foundation
import KinevoxEngine

/// The `frontend` config of a speech_embedding model file (keys as written by `convert_speech_embedding`).
public struct SpeechEmbeddingConfig: Codable, Equatable, Sendable {
    public var kind: String
    public var sampleRate: Int
    public var inputScale: Float
    public var nFft: Int
    public var hopLength: Int
    public var nMels: Int
    public var amin: Float
    public var topDb: Float
    public var melScale: Float
    public var melOffset: Float
    public var windowFrames: Int
    public var windowStride: Int
    public var embeddingDim: Int
    public var leakyReluSlope: Float
    public var activationFloor: Float
    /// [kh, kw] per convolution, in order.
    public var convKernels: [[Int]]
    /// [in, out] channels per convolution.
    public var convChannels: [[Int]]
    /// Convolution index (as a string) → [kh, kw] of the max-pool that follows it.
    public var pools: [String: [Int]]

    enum CodingKeys: String, CodingKey {
        case kind, pools
        case sampleRate = "sample_rate", inputScale = "input_scale", nFft = "n_fft", hopLength = "hop_length"
        case nMels = "n_mels", amin, topDb = "top_db", melScale = "mel_scale", melOffset = "mel_offset"
        case windowFrames = "window_frames", windowStride = "window_stride", embeddingDim = "embedding_dim"
        case leakyReluSlope = "leaky_relu_slope", activationFloor = "activation_floor"
        case convKernels = "conv_kernels", convChannels = "conv_channels"
    }

    /// Fewest samples that give one full window; shorter utterances are right-padded with zeros to this.
    public var minimumSamples: Int { nFft + (windowFrames - 1) * hopLength }
}

/// Power STFT (512-sample frames every 160 samples, no centering) → 32 mel bands → dB, before the
/// utterance-level top_db floor. State dict (under `melspectrogram.`): `stft_real.weight`,
/// `stft_imag.weight` [257, 1, 512], `mel_filters` [257, 32]. Read-only after loading; any thread.
public final class MelSpectrogram {
    public let config: SpeechEmbeddingConfig
    /// [2·bins, nFft]: the real then the imaginary DFT rows, window included.
    let dft: Tensor
    /// [bins, nMels]
    let melFilters: Tensor
    var bins: Int { config.nFft / 2 + 1 }

    public init(_ weights: WeightScope, config: SpeechEmbeddingConfig) throws {
        self.config = config
        let bins = config.nFft / 2 + 1
        let real = try weights.take("stft_real.weight", shape: [bins, 1, config.nFft])
        let imaginary = try weights.take("stft_imag.weight", shape: [bins, 1, config.nFft])
        melFilters = try weights.take("mel_filters", shape: [bins, config.nMels])
        dft = Tensor(shape: [2 * bins, config.nFft])
        dft.data.update(from: real.data, count: bins * config.nFft)
        (dft.data + bins * config.nFft).update(from: imaginary.data, count: bins * config.nFft)
    }

    /// Writes the dB mel frames (no floor yet) of `frames` frames of already-scaled audio starting at
    /// `samples` (frame f reads samples f·hop ..< f·hop + nFft) into `decibels` [frames, nMels].
    /// All frames go through one matrix product (the DFT matrix is read once, not once per frame).
    func decibels(_ samples: UnsafePointer<Float>, frames: Int, into decibels: UnsafeMutablePointer<Float>, arena: ScratchArena) {
        let mark = arena.mark()
        let b = bins, mels = config.nMels
        let power = arena.allocate(count: frames * b)
        powerSpectrum(samples, hop: config.hopLength, frames: frames, dft: dft, into: power, arena: arena)
        BLAS.sgemm(m: frames, n: mels, k: b, a: power, lda: b, b: melFilters.data, ldb: mels, c: decibels, ldc: mels)
        let ln10 = Float(2.3025851)
        for i in 0 ..< frames * mels { decibels[i] = logf(Swift.max(decibels[i], config.amin)) * 10 / ln10 }
        arena.release(to: mark)
    }
}

/// The speech_embedding CNN over one 76 × 32 mel window: 20 convolutions (batch norm folded), each but the
/// last followed by LeakyReLU(0.2) and max(·, −0.4), five of them by a max-pool; output 96 floats.
/// State dict (under `embedding.`): `convs.{i}.weight`, `convs.{i}.bias`. Read-only after loading; any thread.
public final class EmbeddingNet {
    public let config: SpeechEmbeddingConfig
    let convs: [Conv2d]
    let pools: [Int: MaxPool2d]

    public init(_ weights: WeightScope, config: SpeechEmbeddingConfig, path: String) throws {
        self.config = config
        guard config.convKernels.count == config.convChannels.count, !config.convKernels.isEmpty,
              (config.convKernels + config.convChannels).allSatisfy({ $0.count == 2 && $0.allSatisfy { $0 > 0 } }) else {
            throw SpeechModelError.invalidConfig(section: "frontend", reason: "conv_kernels and conv_channels must be equally long lists of pairs of positive integers", path: path)
        }
        convs = try zip(config.convKernels, config.convChannels).enumerated().map { i, layer in
            let (k, c) = layer
            return try Conv2d(weights.scope("convs.\(i)"), inChannels: c[0], outChannels: c[1],
                              kernelSize: (k[0], k[1]), padding: (0, (k[1] - 1) / 2))
        }
        var pools: [Int: MaxPool2d] = [:]
        for (key, size) in config.pools {
            guard let index = Int(key), size.count == 2, size.allSatisfy({ $0 > 0 }) else {
                throw SpeechModelError.invalidConfig(section: "frontend", reason: "pools entry '\(key)': \(size) (a layer index and a pair of positive sizes)", path: path)
            }
            pools[index] = MaxPool2d(kernelSize: (size[0], size[1]))
        }
        self.pools = pools
        // Whole-map evaluation (see `SpeechEmbedding.featureView(of:arena:)`) needs one output frame per window and
        // the time pools' strides to multiply to the window stride; the converted speech_embedding satisfies both.
        var frames = config.windowFrames, stride = 1
        for (i, kernel) in config.convKernels.enumerated() {
            frames -= kernel[0] - 1
            if let size = config.pools[String(i)] { frames = frames >= size[0] ? frames / size[0] : 0; stride *= size[0] }
        }
        guard frames == 1, stride == config.windowStride else {
            throw SpeechModelError.invalidConfig(section: "frontend", reason: "the CNN maps a \(config.windowFrames)-frame window to \(frames) frames with time stride \(stride); it must map it to 1 frame with stride window_stride = \(config.windowStride)", path: path)
        }
    }

    /// Embeds `windows` [B, frames, nMels] (final mel values) into `output`: [B, embeddingDim] for windows of
    /// windowFrames frames; channel-major [embeddingDim, T] for one map of windowFrames + (T − 1)·windowStride
    /// frames, whose column t is the embedding of the window starting at frame t·windowStride.
    public func forward(_ windows: TensorView, into output: TensorView, arena: ScratchArena) {
        let mark = arena.mark()
        var x = windows.reshaped(Shape(windows.shape[0], 1, windows.shape[1], windows.shape[2]))
        let activation = Activation.leakyReLU(negativeSlope: config.leakyReluSlope)
        for (i, conv) in convs.enumerated() {
            x = conv.forward(x, arena: arena)
            if i == convs.count - 1 { break }
            activation.apply(x)
            let floor = config.activationFloor
            for j in 0 ..< x.count { let v = x.data[j]; x.data[j] = v < floor ? floor : v }  // a select: vectorises
            if let pool = pools[i] { x = pool.forward(x, arena: arena) }
        }
        precondition(x.count == output.count, "speech_embedding: output \(x.shape) for \(output.shape)")
        output.copy(from: x)
        arena.release(to: mark)
    }
}

/// Google's speech_embedding (as shipped by openwakeword 0.5.1), natively: 16 kHz mono Float audio in
/// [−1, 1] → one 96-d embedding per 8 mel frames (80 ms) over 76-frame windows. Read-only after loading:
/// share one instance; each thread makes its own `SpeechEmbeddingStream`.
public final class SpeechEmbedding {
    public let config: SpeechEmbeddingConfig
    public let melspectrogram: MelSpectrogram
    public let embedding: EmbeddingNet

    /// Binds `melspectrogram.*` and `embedding.*` under `weights` (the model file's `frontend.` scope).
    public init(_ weights: WeightScope, config: SpeechEmbeddingConfig) throws {
        guard config.nFft > 0, config.hopLength > 0, config.nMels > 0, config.windowFrames > 0, config.windowStride > 0 else {
            throw SpeechModelError.invalidConfig(section: "frontend", reason: "n_fft, hop_length, n_mels, window_frames and window_stride must be positive",
                                                 path: weights.store.path)
        }
        self.config = config
        melspectrogram = try MelSpectrogram(weights.scope("melspectrogram"), config: config)
        embedding = try EmbeddingNet(weights.scope("embedding"), config: config, path: weights.store.path)
    }

    /// A new incremental computation for one utterance.
    public func makeStream() -> SpeechEmbeddingStream { SpeechEmbeddingStream(model: self) }

    /// Embeddings of a whole utterance as a view [1, T, 96] (T ≥ 1) taken from `arena`: valid until the arena is
    /// released below it; its scratch is given back, so with a planned arena this allocates nothing.
    /// The CNN runs once over the whole mel map rather than once per overlapping window: every time convolution
    /// is valid and the time pools step by the window stride, so column t of the map's output is window t's
    /// embedding (same values as `SpeechEmbeddingStream` up to float summation order, ~1e-5).
    public func featureView(of samples: [Float], arena: ScratchArena) -> TensorView {
        let count = Swift.max(samples.count, config.minimumSamples)
        let mels = config.nMels, dim = config.embeddingDim
        let frames = (count - config.nFft) / config.hopLength + 1
        let windows = (frames - config.windowFrames) / config.windowStride + 1
        let values = arena.tensor(Shape(1, windows, dim))
        let mark = arena.mark()
        defer { arena.release(to: mark) }
        let audio = arena.allocate(count: count)
        for i in 0 ..< samples.count { audio[i] = samples[i] * config.inputScale }
        (audio + samples.count).update(repeating: 0, count: count - samples.count)
        let melMap = arena.allocate(count: frames * mels)
        melspectrogram.decibels(audio, frames: frames, into: melMap, arena: arena)
        // The dB floor is the loudest value of the whole utterance (every frame, windowed or not) − top_db.
        var loudest = -Float.infinity
        for i in 0 ..< frames * mels { loudest = Swift.max(loudest, melMap[i]) }
        let floor = loudest - config.topDb
        for i in 0 ..< frames * mels { melMap[i] = Swift.max(melMap[i], floor) * config.melScale + config.melOffset }
        let usedFrames = config.windowFrames + (windows - 1) * config.windowStride
        let channelMajor = arena.tensor(Shape(dim, windows))
        embedding.forward(TensorView(data: melMap, shape: Shape(1, usedFrames, mels)), into: channelMajor, arena: arena)
        channelMajor.transposeLastTwo(into: values)
        return values
    }
}

/// One utterance's speech_embedding computed while it arrives: `append` turns new samples into mel frames
/// and every completed 76-frame window (stride 8) into an embedding, so `finish()` at end of speech only
/// has the tail left. The dB floor (utterance max − 80 dB) can rise as louder audio arrives; windows whose
/// values it changes are recomputed, so the result equals per-window evaluation with the final floor (and the
/// whole-map batch `SpeechEmbedding.featureView(of:arena:)` within float summation order).
/// Not thread-safe: one stream per thread.
public final class SpeechEmbeddingStream {
    let model: SpeechEmbedding
    let arena = ScratchArena()
    private var config: SpeechEmbeddingConfig { model.config }
    /// Scaled samples not yet fully consumed by frames; `pending[0]` is the start of the next frame.
    private var pending: [Float] = []
    /// Incoming samples to discard before the next frame starts (only when hop_length > n_fft).
    private var skip = 0
    private var samplesSeen = 0
    /// dB mel frames before the floor, [frames, nMels] flattened.
    private var decibels: [Float] = []
    private var loudest = -Float.infinity
    /// Per computed window: the floor it was computed with and its quietest dB value.
    private var windowFloors: [Float] = []
    private var windowMinima: [Float] = []
    private var embeddings: [Float] = []

    init(model: SpeechEmbedding) { self.model = model }

    /// Mel frames so far.
    public var frameCount: Int { decibels.count / config.nMels }
    /// Embeddings computed so far (each final unless a louder later frame raises the floor).
    public var embeddingCount: Int { windowFloors.count }

    private var floor: Float { loudest - config.topDb }

    /// Feeds the next samples (16 kHz mono, [−1, 1]); computes every mel frame and window they complete.
    /// Returns `embeddingCount`, the number of embeddings computed so far.
    @discardableResult
    public func append(_ samples: [Float]) -> Int {
        samplesSeen += samples.count
        let skipped = Swift.min(skip, samples.count)
        skip -= skipped
        pending.reserveCapacity(pending.count + samples.count - skipped)
        for s in samples[skipped...] { pending.append(s * config.inputScale) }
        let hop = config.hopLength, nFft = config.nFft, mels = config.nMels
        let newFrames = pending.count >= nFft ? (pending.count - nFft) / hop + 1 : 0
        guard newFrames > 0 else { return embeddingCount }
        let start = decibels.count
        decibels.append(contentsOf: repeatElement(0, count: newFrames * mels))
        pending.withUnsafeBufferPointer { audio in
            decibels.withUnsafeMutableBufferPointer { out in
                model.melspectrogram.decibels(audio.baseAddress!, frames: newFrames, into: out.baseAddress! + start, arena: arena)
            }
        }
        arena.reset()
        let consumed = Swift.min(newFrames * hop, pending.count)
        pending.removeFirst(consumed)
        skip = newFrames * hop - consumed
        for v in decibels[start...] { loudest = Swift.max(loudest, v) }
        refreshStaleWindows()
        computeNewWindows()
        return embeddingCount
    }

    /// Ends the utterance: pads a too-short one with zeros to one full window, brings every window up to
    /// date and returns all embeddings [T, embeddingDim]. The stream is spent afterwards.
    public func finish() -> FeatureSequence {
        if samplesSeen < config.minimumSamples {
            append([Float](repeating: 0, count: config.minimumSamples - samplesSeen))
        }
        refreshStaleWindows()
        return FeatureSequence(frames: embeddingCount, dim: config.embeddingDim, values: embeddings)
    }

    /// The final mel values (floor applied, then ·mel_scale + mel_offset) of every frame so far, [frames, nMels].
    public func melFrames() -> [Float] { decibels.map { melValue($0, floor: floor) } }

    private func melValue(_ db: Float, floor: Float) -> Float {
        Swift.max(db, floor) * config.melScale + config.melOffset
    }

    private func computeNewWindows() {
        let available = frameCount >= config.windowFrames ? (frameCount - config.windowFrames) / config.windowStride + 1 : 0
        let first = embeddingCount
        guard available > first else { return }
        windowFloors.append(contentsOf: repeatElement(floor, count: available - first))
        windowMinima.append(contentsOf: repeatElement(0, count: available - first))
        embeddings.append(contentsOf: repeatElement(0, count: (available - first) * config.embeddingDim))
        compute(windows: Array(first ..< available))
    }

    /// Recomputes the windows whose values the current floor changes (some dB value below it).
    private func refreshStaleWindows() {
        let current = floor
        let stale = (0 ..< embeddingCount).filter { windowFloors[$0] < current && windowMinima[$0] < current }
        for w in 0 ..< embeddingCount where windowFloors[w] < current { windowFloors[w] = current }
        if !stale.isEmpty { compute(windows: stale) }
    }

    private func compute(windows: [Int]) {
        let frames = config.windowFrames, mels = config.nMels, dim = config.embeddingDim
        let current = floor
        let input = arena.tensor(Shape(windows.count, frames, mels))
        for (b, w) in windows.enumerated() {
            let base = w * config.windowStride * mels
            var minimum = Float.infinity
            for i in 0 ..< frames * mels {
                let db = decibels[base + i]
                minimum = Swift.min(minimum, db)
                input.data[b * frames * mels + i] = melValue(db, floor: current)
            }
            windowMinima[w] = minimum
            windowFloors[w] = current
        }
        let output = arena.tensor(Shape(windows.count, dim))
        model.embedding.forward(input, into: output, arena: arena)
        for (b, w) in windows.enumerated() {
            for j in 0 ..< dim { embeddings[w * dim + j] = output.data[b * dim + j] }
        }
        arena.reset()
    }
}
