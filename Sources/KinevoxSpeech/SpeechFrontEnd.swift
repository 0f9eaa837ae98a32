import KinevoxEngine

/// A frozen speech front end: one utterance of 16 kHz mono Float samples in [−1, 1] → feature frames for the
/// audio encoder. Implementations are read-only after loading; call from any thread, each with its own arena.
public protocol SpeechFrontEnd: AnyObject {
    /// Floats per feature frame.
    var featureDim: Int { get }
    /// Milliseconds of audio per feature frame (80 for speech_embedding, 20 for WavLM).
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

/// Builds the front end a model file declares in `kinevox.config["frontend"]["kind"]`
/// ("speech_embedding" or "wavlm"), binding its `frontend.*` tensors. Loading thread only.
public func loadSpeechFrontEnd(_ store: WeightStore) throws -> any SpeechFrontEnd {
    struct Kind: Decodable { let kind: String }
    let kind = try store.config(Kind.self, section: "frontend").kind
    switch kind {
    case "speech_embedding":
        return try SpeechEmbedding(store.scope("frontend"), config: store.config(SpeechEmbeddingConfig.self, section: "frontend"))
    case "wavlm":
        return try WavLM(store.scope("frontend"), config: store.config(WavLMConfig.self, section: "frontend"))
    default:
        throw SpeechModelError.unknownFrontend(kind: kind, path: store.file.path)
    }
}
