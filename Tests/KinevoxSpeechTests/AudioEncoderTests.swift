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
        let config = try store.config(AudioEncoderConfig.self, section: "audio_encoder")
        XCTAssertEqual(config.kind, kind)
        let encoder = try AudioEncoder(store.scope("audio_encoder"), config: config)
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

    func testAdaptivePoolBins() {
        // 5 frames into 3 bins: frames 0–1, 1–3, 3–4 (PyTorch adaptive_avg_pool1d).
        let arena = ScratchArena()
        let x = arena.tensor(Shape(1, 6, 1))
        for i in 0 ..< 6 { x.data[i] = Float(i * i) }
        let pooled = maskedAdaptiveAveragePool(x, lengths: [5], bins: 3, arena: arena).toArray()
        XCTAssertLessThanOrEqual(maxAbsDifference(pooled, [0.5, 14.0 / 3, 12.5]), 1e-6)
    }
}
