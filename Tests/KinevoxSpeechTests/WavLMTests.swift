import KinevoxEngine
import XCTest
@testable import KinevoxSpeech

/// WavLM vs transformers' WavLMModel on two tiny random configs (fixtures from fixtures/speech.py).
final class WavLMTests: XCTestCase {
    /// Max abs error allowed against PyTorch on the last hidden state (values are O(1) after the layer norms).
    static let tolerance: Float = 1e-4

    private func check(style: String) throws {
        let store = try SpeechFixtures.store("wavlm_\(style)_tiny.safetensors")
        let model = try XCTUnwrap(try loadSpeechFrontEnd(store) as? WavLM)
        try store.root.finish()
        XCTAssertEqual(model.frameMilliseconds, Double(model.config.hopSamples) / 16)
        XCTAssertEqual(WavLMConfig.base.hopSamples, 320, "WavLM Base: one frame per 20 ms")
        let io = try SpeechFixtures.store("wavlm_\(style)_tiny_io.safetensors")
        let input = try io.fixture("input").toArray()
        let expected = try io.fixture("last_hidden_state")
        let arena = ScratchArena()

        let features = model.extractFeatures(input, arena: arena)
        let expectedFeatures = try io.fixture("features")
        XCTAssertEqual(features.shape.array, expectedFeatures.shape, style)
        XCTAssertLessThanOrEqual(maxAbsDifference(features.toArray(), expectedFeatures.toArray()), Self.tolerance, "\(style) features")
        arena.reset()

        let output = model.features(input, arena: arena)
        XCTAssertEqual([output.frames, output.dim], expected.shape, style)
        XCTAssertEqual(output.frames, model.frameCount(samples: input.count))
        XCTAssertLessThanOrEqual(maxAbsDifference(output.values, expected.toArray()), Self.tolerance, style)
    }

    func testBaseStyleParity() throws {
        let config = try SpeechFixtures.store("wavlm_base_tiny.safetensors").config(WavLMConfig.self, section: "frontend")
        XCTAssertEqual(config.featExtractNorm, "group")
        XCTAssertFalse(config.doStableLayerNorm)
        XCTAssertEqual(config.numConvPosEmbeddings % 2, 0, "even kernel: the last positional frame is dropped")
        try check(style: "base")
    }

    func testLargeStyleParity() throws {
        let config = try SpeechFixtures.store("wavlm_large_tiny.safetensors").config(WavLMConfig.self, section: "frontend")
        XCTAssertEqual(config.featExtractNorm, "layer")
        XCTAssertTrue(config.convBias)
        XCTAssertTrue(config.doStableLayerNorm)
        XCTAssertEqual(config.numConvPosEmbeddings % 2, 1)
        try check(style: "large")
    }

    func testNormalizeWaveformEqualsNormalizedInput() throws {
        // normalize_waveform (WavLM-Large preprocessing) = the official F.layer_norm(wav, wav.shape), eps 1e-5.
        let store = try SpeechFixtures.store("wavlm_large_tiny.safetensors")
        var config = try store.config(WavLMConfig.self, section: "frontend")
        let input = try SpeechFixtures.store("wavlm_large_tiny_io.safetensors").fixture("input").toArray()
        let mean = input.map(Double.init).reduce(0, +) / Double(input.count)
        let variance = input.map { (Double($0) - mean) * (Double($0) - mean) }.reduce(0, +) / Double(input.count)
        let normalized = input.map { Float((Double($0) - mean) / (variance + 1e-5).squareRoot()) }
        let plain = try WavLM(store.scope("frontend"), config: config).features(normalized, arena: ScratchArena())
        config.normalizeWaveform = true
        let normalizing = try WavLM(try SpeechFixtures.store("wavlm_large_tiny.safetensors").scope("frontend"), config: config)
        XCTAssertLessThanOrEqual(maxAbsDifference(normalizing.features(input, arena: ScratchArena()).values, plain.values), 1e-5)
    }

    func testRelativePositionBucketsMatchTransformers() {
        // Buckets transformers' _relative_positions_bucket gives for num_buckets 320, max_distance 800 (WavLM Base).
        let expected = [0: 0, -79: 79, 79: 239, 80: 240, -1000: 159, 1000: 319, 150: 261, -300: 125]
        for (offset, bucket) in expected {
            XCTAssertEqual(WavLMAttention.relativePositionBucket(offset, numBuckets: 320, maxDistance: 800), bucket, "offset \(offset)")
        }
    }
}

/// The random-weight builder used by benchmarks binds exactly the tensors a converted checkpoint has.
final class WavLMRandomWeightsTests: XCTestCase {
    func testRandomStoreBindsTheConvertedCheckpointsTensors() throws {
        for style in ["base", "large"] {
            let store = try SpeechFixtures.store("wavlm_\(style)_tiny.safetensors")
            let config = try store.config(WavLMConfig.self, section: "frontend")
            let random = WeightStore(randomSeed: 1)
            _ = try WavLM(random.scope("frontend"), config: config)
            XCTAssertEqual(random.takenNames, Set(store.file!.names), style)
        }
    }

    func testRandomModelRuns() throws {
        var config = try SpeechFixtures.store("wavlm_base_tiny.safetensors").config(WavLMConfig.self, section: "frontend")
        config.normalizeWaveform = true
        let model = try WavLM.randomlyInitialized(config, seed: 1)
        let samples = (0 ..< 4000).map { Float(sin(Double($0) * 0.05)) * 0.3 }
        let output = model.features(samples, arena: ScratchArena())
        XCTAssertEqual(output.frames, model.frameCount(samples: 4000))
        XCTAssertEqual(output.dim, config.hiddenSize)
        XCTAssertTrue(output.values.allSatisfy(\.isFinite))
    }
}
