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
    public func featureView(of samples: [Float], arena: ScratchArena) -> TensorView { embeddingView(of: samples, arena: arena) }
}

extension WavLM: SpeechFrontEnd {
    public var featureDim: Int { config.hiddenSize }
    public var frameMilliseconds: Double { Double(config.hopSamples) * 1000 / 16_000 }
    public func featureView(of samples: [Float], arena: ScratchArena) -> TensorView { hiddenStateView(samples, arena: arena) }
}

extension Whisper: SpeechFrontEnd {
    public var featureDim: Int { config.dModel }
    public var frameMilliseconds: Double { Double(2 * config.hopLength) * 1000 / Double(config.sampleRate) }
    public func featureView(of samples: [Float], arena: ScratchArena) -> TensorView { hiddenStateView(samples, arena: arena) }
}

/// The front-end kinds a model file's `kinevox.config["frontend"]["kind"]` may name.
public enum SpeechFrontEndKind: String, CaseIterable, Sendable {
    case speechEmbedding = "speech_embedding"
    case wavlm
    case whisper
}

/// Builds the front end a model file declares in `kinevox.config["frontend"]["kind"]`, binding its `frontend.*`
/// tensors. `outputLayer` overrides a Whisper file's `output_layer` (the block whose output is the feature).
/// Loading thread only.
public func loadSpeechFrontEnd(_ store: WeightStore, outputLayer: Int? = nil) throws -> any SpeechFrontEnd {
    struct Kind: Decodable { let kind: String }
    let name = try store.config(Kind.self, section: "frontend").kind
    guard let kind = SpeechFrontEndKind(rawValue: name) else {
        throw SpeechModelError.unknownFrontend(kind: name, path: store.file.path)
    }
    let weights = store.scope("frontend")
    switch kind {
    case .speechEmbedding:
        return try SpeechEmbedding(weights, config: store.config(SpeechEmbeddingConfig.self, section: "frontend"))
    case .wavlm:
        return try WavLM(weights, config: store.config(WavLMConfig.self, section: "frontend"))
    case .whisper:
        var config = try store.config(WhisperConfig.self, section: "frontend")
        if let outputLayer { config.outputLayer = outputLayer }
        return try Whisper(weights, config: config)
    }
}
