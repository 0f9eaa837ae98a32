import KinevoxEngine

/// A frozen speech front end: one utterance of 16 kHz mono Float samples in [−1, 1] → feature frames for the
/// audio encoder. Implementations are read-only after loading; call from any thread, each with its own arena.
public protocol SpeechFrontEnd: AnyObject {
    /// Floats per feature frame.
    var featureDim: Int { get }
    /// Milliseconds of audio per feature frame (80 for speech_embedding, 20 for WavLM and Whisper).
    var frameMilliseconds: Double { get }
    /// Features of a whole utterance as a view [1, T, featureDim] taken from `arena`, valid until the arena is
    /// released below it; the call's scratch is given back (with a planned arena nothing is allocated).
    func featureView(of samples: [Float], arena: ScratchArena) -> TensorView
}

extension SpeechEmbedding: SpeechFrontEnd {
    public var featureDim: Int { config.embeddingDim }
    public var frameMilliseconds: Double { Double(config.windowStride * config.hopLength) * 1000 / Double(config.sampleRate) }
}

extension WavLM: SpeechFrontEnd {
    public var featureDim: Int { config.hiddenSize }
    public var frameMilliseconds: Double { Double(config.hopSamples) * 1000 / 16_000 }
}

extension Whisper: SpeechFrontEnd {
    public var featureDim: Int { config.dModel }
    public var frameMilliseconds: Double { Double(2 * config.hopLength) * 1000 / Double(config.sampleRate) }
}

/// The front-end kinds a model file's `kinevox.config["frontend"]["kind"]` may name (the training side's
/// `frontends.FRONTEND_KINDS`).
public enum SpeechFrontEndKind: String, ConfigKind {
    case speechEmbedding = "speech_embedding"
    case wavlm
    case whisper
}

/// The keys every `frontend` section has besides its kind's own: the kind, and the feature width and frame period the
/// audio encoder was trained on (the training side reads them; `check` holds them to the front end built).
public struct SpeechFrontEndSection: Decodable, Equatable, Sendable {
    public let kind: SpeechFrontEndKind
    public let featureDim: Int?
    public let frameMs: Double?

    enum CodingKeys: String, CodingKey { case kind, featureDim = "feature_dim", frameMs = "frame_ms" }

    /// Throws unless `frontEnd` makes features of the declared width and frame period.
    public func check(_ frontEnd: any SpeechFrontEnd, path: String) throws {
        if let featureDim, featureDim != frontEnd.featureDim {
            throw SpeechModelError.invalidConfig(section: "frontend", reason: "feature_dim \(featureDim) but the \(kind.rawValue) front end makes \(frontEnd.featureDim)-d features", path: path)
        }
        if let frameMs, abs(frameMs - frontEnd.frameMilliseconds) > 1e-9 {
            throw SpeechModelError.invalidConfig(section: "frontend", reason: "frame_ms \(frameMs) but the \(kind.rawValue) front end makes a frame every \(frontEnd.frameMilliseconds) ms", path: path)
        }
    }
}

/// Builds the front end a model file declares in `kinevox.config["frontend"]["kind"]`, binding its `frontend.*`
/// tensors. `outputLayer` overrides a Whisper file's `output_layer` (the block whose output is the feature).
/// Loading thread only.
public func loadSpeechFrontEnd(_ store: WeightStore, outputLayer: Int? = nil) throws -> any SpeechFrontEnd {
    let section = try store.config(SpeechFrontEndSection.self, section: "frontend")
    let weights = store.scope("frontend")
    let frontEnd: any SpeechFrontEnd
    switch section.kind {
    case .speechEmbedding:
        frontEnd = try SpeechEmbedding(weights, config: store.config(SpeechEmbeddingConfig.self, section: "frontend"))
    case .wavlm:
        frontEnd = try WavLM(weights, config: store.config(WavLMConfig.self, section: "frontend"))
    case .whisper:
        var config = try store.config(WhisperConfig.self, section: "frontend")
        if let outputLayer { config.outputLayer = outputLayer }
        frontEnd = try Whisper(weights, config: config)
    }
    try section.check(frontEnd, path: store.path)
    return frontEnd
}
