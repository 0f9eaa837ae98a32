import Foundation
import KinevoxEngine
import XCTest
@testable import KinevoxSpeech

/// The memory-retrieval audio encoder and its comparison encoders vs the PyTorch `AudioEncoder`
/// (tiny configs, batch of two with one padded sequence; fixtures from fixtures/speech.py).
final class AudioEncoderTests: XCTestCase {
    /// Max abs error allowed against PyTorch (outputs are layer-normed, O(1)).
    static let tolerance: Float = 1e-4

    private func check(_ name: String, kind: String) throws {
        let store = try SpeechFixtures.store("audio_encoder_\(name)_tiny.safetensors")
        let encoder = try AudioEncoder(store: store)
        XCTAssertEqual(encoder.config.kind.rawValue, kind)
        try store.root.finish()
        let io = try SpeechFixtures.store("audio_encoder_tiny_io.safetensors")
        let features = try io.fixture("features")
        let lengths = try io.fixture("lengths").toArray().map { Int($0) }
        XCTAssertNotEqual(lengths[0], lengths[1], "the fixture must exercise padding")
        let expected = try io.fixture("\(name).output")
        let arena = ScratchArena()
        let output = encoder.forward(features.view, lengths: lengths, arena: arena)
        XCTAssertEqual(output.shape.array, expected.shape, name)
        XCTAssertLessThanOrEqual(maxAbsDifference(output.toArray(), expected.toArray()), Self.tolerance, name)
    }

    func testMemoryRetrievalEncoder() throws { try check("memory", kind: "memory") }
    func testTransformerCLSEncoder() throws { try check("transformer", kind: "transformer") }
    func testConv1dEncoder() throws { try check("conv1d", kind: "conv1d") }
    func testAvgPool8Encoder() throws { try check("avgpool8", kind: "avgpool") }

    func testIdentityPassesTheFirstTokensThrough() throws {
        let store = try SpeechFixtures.store("audio_encoder_tiny_io.safetensors")
        let config = AudioEncoderConfig(kind: .identity, inputDim: 12, dim: 12, numCondTokens: 2)
        let encoder = try AudioEncoder(store.scope("audio_encoder"), config: config)
        let features = try store.fixture("features")
        let arena = ScratchArena()
        let output = encoder.forward(features.view, lengths: [23, 17], arena: arena)
        XCTAssertEqual(output.shape, Shape(2, 2, 12))
        XCTAssertEqual(Array(output.toArray()[0 ..< 24]), Array(features.toArray()[0 ..< 24]))
        XCTAssertEqual(Array(output.toArray()[24 ..< 48]), Array(features.toArray()[23 * 12 ..< 23 * 12 + 24]))
    }

    func testUnknownKindIsAnError() throws {
        var json = String(decoding: try JSONEncoder().encode(AudioEncoderConfig()), as: UTF8.self)
        json = json.replacingOccurrences(of: "\"memory\"", with: "\"lstm\"")
        XCTAssertThrowsError(try JSONDecoder().decode(AudioEncoderConfig.self, from: Data(json.utf8))) { error in
            XCTAssertEqual("\(error)", "kind 'lstm' is not one of 'memory', 'transformer', 'conv1d', 'avgpool', 'identity'")
        }
    }

    /// Found by fuzz-model: a model file whose audio encoder had `num_heads` 0 stopped the loader on a precondition in
    /// MultiheadAttention (the daemon died instead of naming the file). Sizes are checked before any layer binds.
    func testZeroHeadsOrSizesAreAConfigErrorNotATrap() throws {
        let base = try SpeechFixtures.store("audio_encoder_memory_tiny.safetensors")
            .config(AudioEncoderConfig.self, section: "audio_encoder")
        let changes: [(String, (inout AudioEncoderConfig) -> Void)] = [
            ("num_heads", { $0.numHeads = 0 }), ("num_heads", { $0.numHeads = 3 }),
            ("num_layers", { $0.numLayers = -1 }), ("num_memory", { $0.numMemory = 0 }),
            ("num_cond_tokens", { $0.numCondTokens = 0 }),
            ("num_conv_layers", { $0.kind = .conv1d; $0.numConvLayers = -2 }),
        ]
        for (field, change) in changes {
            var config = base
            change(&config)
            let store = try SpeechFixtures.store("audio_encoder_memory_tiny.safetensors")
            XCTAssertThrowsError(try AudioEncoder(store.scope("audio_encoder"), config: config), field) { error in
                guard case .invalidConfig(let section, let reason, _)? = error as? SpeechModelError else {
                    return XCTFail("\(error)")
                }
                XCTAssertEqual(section, "audio_encoder")
                XCTAssertTrue(reason.contains(field), "\(field): \(reason)")
            }
        }
    }

    func testAdaptivePoolBins() {
        // 5 frames into 3 bins: frames 0–1, 1–3, 3–4 (PyTorch adaptive_avg_pool1d).
        let arena = ScratchArena()
        let x = arena.tensor(Shape(1, 6, 1))
        for i in 0 ..< 6 { x.data[i] = Float(i * i) }
        let pooled = maskedAdaptiveAveragePool(x, bins: 3, arena: arena) { _ in 5 }.toArray()
        XCTAssertLessThanOrEqual(maxAbsDifference(pooled, [0.5, 14.0 / 3, 12.5]), 1e-6)
    }
}
