import KinevoxEngine
import XCTest
@testable import KinevoxSpeech

/// speech_embedding vs onnxruntime on committed clips (streaming and whole-map batch), and streaming ≈ batch.
final class SpeechEmbeddingTests: XCTestCase {
    /// Max abs error allowed against onnxruntime: embeddings reach ~50 in magnitude; mel values are ~[−6, 12].
    static let embeddingTolerance: Float = 1e-4
    static let melTolerance: Float = 1e-4
    /// Max abs difference between streaming (CNN per 76-frame window) and batch (CNN once over the whole mel map):
    /// the same arithmetic, but the convolutions' GEMMs have other shapes, so float sums run in another order
    /// (observed ~5e-5 on embeddings of magnitude ~50); not bit-identical.
    static let streamingTolerance: Float = 1e-4

    private func model() throws -> SpeechEmbedding {
        let store = try WeightStore(path: SpeechFixtures.speechEmbeddingModel())
        let frontEnd = try loadSpeechFrontEnd(store)
        try store.root.finish()
        let model = try XCTUnwrap(frontEnd as? SpeechEmbedding)
        XCTAssertEqual(model.featureDim, 96)
        XCTAssertEqual(model.frameMilliseconds, 80)
        return model
    }

    func testParityWithOnnxruntime() throws {
        let model = try model()
        let fixture = try SpeechFixtures.store("speech_embedding_parity.safetensors")
        let arena = ScratchArena()
        for clip in ["speech", "silence", "noise"] {
            let audio = try fixture.fixture("\(clip).audio").toArray()
            let expected = try fixture.fixture("\(clip).embeddings")
            let expectedMel = try fixture.fixture("\(clip).mel")
            let stream = model.makeStream()
            stream.append(audio)
            let got = stream.finish()
            XCTAssertEqual([got.frames, got.dim], expected.shape, clip)
            XCTAssertLessThanOrEqual(maxAbsDifference(got.values, expected.toArray()), Self.embeddingTolerance, clip)
            XCTAssertLessThanOrEqual(maxAbsDifference(stream.melFrames(), expectedMel.toArray()), Self.melTolerance, clip)
            let batch = model.features(audio, arena: arena)
            XCTAssertEqual([batch.frames, batch.dim], expected.shape, "batch \(clip)")
            XCTAssertLessThanOrEqual(maxAbsDifference(batch.values, expected.toArray()), Self.embeddingTolerance, "batch \(clip)")
        }
    }

    /// Streams `audio` in pseudo-random chunk sizes; returns the embeddings and how many were ready before `finish()`.
    private func streamed(_ model: SpeechEmbedding, _ audio: [Float], seed: UInt64) -> (FeatureSequence, Int) {
        var random = SeededRandom(seed: seed)
        let stream = model.makeStream()
        var start = 0
        var ready = 0
        while start < audio.count {
            let end = min(audio.count, start + 1 + Int(random.next() % 3000))
            let count = stream.append(Array(audio[start ..< end]))
            XCTAssertGreaterThanOrEqual(count, ready, "embeddings only accumulate")
            ready = count
            start = end
        }
        return (stream.finish(), ready)
    }

    func testStreamingEqualsBatch() throws {
        let model = try model()
        let speech = try SpeechFixtures.store("speech_embedding_parity.safetensors").fixture("speech.audio").toArray()
        // Quiet noise first, loud speech later: the dB floor rises after windows were computed.
        var random = SeededRandom(seed: 9)
        let quiet = (0 ..< 16_000).map { _ in (random.nextFloat() - 0.5) * 0.002 }
        for (name, audio) in [("speech", speech), ("quiet then loud", quiet + speech.map { $0 * 2 })] {
            let batch = model.features(audio)
            for seed in [1, 2, 3] as [UInt64] {
                let (stream, ready) = streamed(model, audio, seed: seed)
                XCTAssertEqual(stream.frames, batch.frames, "\(name), seed \(seed)")
                XCTAssertLessThanOrEqual(maxAbsDifference(stream.values, batch.values), Self.streamingTolerance, "\(name), seed \(seed)")
                XCTAssertEqual(ready, batch.frames, "every window was computed while audio arrived (\(name))")
            }
        }
    }

    func testHopLongerThanFrameStreamsCorrectly() throws {
        // hop_length > n_fft leaves gaps between frames that streaming must skip (weights do not depend on hop).
        let store = try WeightStore(path: SpeechFixtures.speechEmbeddingModel())
        var config = try store.config(SpeechEmbeddingConfig.self, section: "frontend")
        config.hopLength = 600
        let model = try SpeechEmbedding(store.scope("frontend"), config: config)
        let speech = try SpeechFixtures.store("speech_embedding_parity.safetensors").fixture("speech.audio").toArray()
        let audio = speech + speech + speech
        let batch = model.features(audio)
        XCTAssertEqual(batch.frames, ((audio.count - 512) / 600 + 1 - 76) / 8 + 1)
        let (stream, _) = streamed(model, audio, seed: 4)
        XCTAssertEqual(stream.frames, batch.frames)
        XCTAssertLessThanOrEqual(maxAbsDifference(stream.values, batch.values), Self.streamingTolerance)
    }

    func testWindowThatTheCnnDoesNotMapToOneFrameIsRejected() throws {
        // Whole-map evaluation relies on a window of window_frames mel frames giving exactly one output frame.
        let store = try WeightStore(path: SpeechFixtures.speechEmbeddingModel())
        var config = try store.config(SpeechEmbeddingConfig.self, section: "frontend")
        config.windowFrames = 84
        XCTAssertThrowsError(try SpeechEmbedding(store.scope("frontend"), config: config)) { error in
            XCTAssertTrue("\(error)".contains("window_stride"), "\(error)")
        }
    }

    /// Found by Fuzz/fuzz-model: a time pool of size 0 divided by zero while the CNN's output length was checked.
    func testZeroSizedPoolOrKernelIsRejected() throws {
        let store = try WeightStore(path: SpeechFixtures.speechEmbeddingModel())
        let config = try store.config(SpeechEmbeddingConfig.self, section: "frontend")
        var pool = config
        pool.pools[pool.pools.keys.sorted().first!] = [0, 2]
        XCTAssertThrowsError(try SpeechEmbedding(store.scope("frontend"), config: pool)) { error in
            XCTAssertTrue("\(error)".contains("a pair of positive sizes"), "\(error)")
        }
        var kernel = config
        kernel.convKernels[0] = [0, 3]
        let fresh = try WeightStore(path: SpeechFixtures.speechEmbeddingModel())  // the first attempt bound the mel weights
        XCTAssertThrowsError(try SpeechEmbedding(fresh.scope("frontend"), config: kernel)) { error in
            XCTAssertTrue("\(error)".contains("pairs of positive integers"), "\(error)")
        }
    }

    func testShortUtteranceIsPaddedToOneWindow() throws {
        let model = try model()
        for count in [0, 1, 511, 12_511, 12_512] {
            XCTAssertEqual(model.features([Float](repeating: 0.1, count: count)).frames, 1, "\(count) samples")
        }
        XCTAssertEqual(model.features([Float](repeating: 0.1, count: 12_512 + 8 * 160)).frames, 2)
    }
}
