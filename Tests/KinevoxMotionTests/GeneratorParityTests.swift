import KinevoxEngine
import XCTest
@testable import KinevoxMotion

/// Replays the uniform draws PyTorch made, in order.
private struct ReplayedUniforms: UniformSource {
    let draws: [Float]
    var consumed = 0

    mutating func fill(_ buffer: inout [Float]) {
        for index in buffer.indices { buffer[index] = draws[consumed + index] }
        consumed += buffer.count
    }
}

/// The Swift generator against the training code's modules at the tiny config (fixtures written
/// by Training/kinevox_train/fixtures/motion.py). Logits and decoded motion: max abs error ≤ 1e-4.
/// Code sequences: equal.
final class GeneratorParityTests: XCTestCase {
    static let tolerance: Float = 1e-4
    private var generator: MotionGenerator!
    private var parity: SafetensorsFile!
    private let arena = ScratchArena()

    override func setUpWithError() throws {
        generator = try MotionGenerator(path: TestData.fixtures.appendingPathComponent("tiny_generator.safetensors").path)
        parity = try SafetensorsFile(path: TestData.fixtures.appendingPathComponent("parity.safetensors").path)
    }

    private func tensor(_ name: String) throws -> Tensor { try parity.floats(name) }

    /// A fixture tensor copied into the test's arena (a view of a `Tensor` would dangle once the
    /// tensor is released).
    private func view(_ name: String) throws -> TensorView {
        let source = try tensor(name)
        let copy = arena.tensor(Shape(source.shape)!)
        withExtendedLifetime(source) { copy.data.update(from: source.data, count: source.count) }
        return copy
    }
    private func ints(_ name: String) throws -> [Int] { try tensor(name).toArray().map { Int($0) } }

    private func assertClose(_ actual: TensorView, _ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try tensor(name)
        XCTAssertEqual(actual.shape.array, expected.shape, name, file: file, line: line)
        let worst = zip(actual.toArray(), expected.toArray()).map { abs($0 - $1) }.max() ?? .infinity
        print("parity \(name): max abs error \(worst)")
        XCTAssertLessThanOrEqual(worst, Self.tolerance, "\(name): max abs error \(worst)", file: file, line: line)
    }

    func testRVQEncoderQuantizerAndDecoderMatchPyTorch() throws {
        let motion = try view("rvq.motion")
        try assertClose(generator.rvq.latent(motion, arena: arena), "rvq.latent")
        XCTAssertEqual(generator.rvq.encode(motion, arena: arena), try ints("rvq.codes"))
        let codes = try ints("rvq.codes")
        try assertClose(generator.rvq.decode(codes, batch: 1, tokens: 4, layers: 3, arena: arena), "rvq.decoded")
        let padded = try ints("rvq.pad_codes")
        XCTAssertTrue(padded.contains(-1))
        try assertClose(generator.rvq.decode(padded, batch: 1, tokens: 4, layers: 3, arena: arena), "rvq.pad_decoded")
    }

    func testMaskTransformerLogitsMatchPyTorch() throws {
        let ids = try ints("mask.ids"), cond = try view("cond"), padding = try ints("padding").map { $0 != 0 }
        XCTAssertTrue(padding.contains(true))
        try assertClose(generator.maskTransformer.logits(ids: ids, cond: cond, padding: padding, arena: arena), "mask.logits")
        let first = TensorView(data: cond.data, shape: Shape(1, cond.shape[1], cond.shape[2]))
        let guided = generator.maskTransformer.guidedLogits(ids: Array(ids.prefix(7)), cond: first,
                                                            scale: generator.config.sampling.maskCfg, arena: arena)
        try assertClose(guided, "mask.guided")
    }

    func testResidualTransformerLogitsMatchPyTorch() throws {
        let history = try view("res.history"), cond = try view("cond")
        let padding = try ints("padding").map { $0 != 0 }
        let logits = generator.resTransformer.logits(history: history, q: try ints("res.q"), cond: cond,
                                                     padding: padding, arena: arena)
        try assertClose(logits, "res.logits")
        let guided = generator.resTransformer.guidedLogits(
            history: TensorView(data: history.data, shape: Shape(1, history.shape[1], history.shape[2])), q: 2,
            cond: TensorView(data: cond.data, shape: Shape(1, cond.shape[1], cond.shape[2])),
            scale: generator.config.sampling.resCfg, arena: arena)
        try assertClose(guided, "res.guided")
    }

    func testLengthEstimatorLogitsMatchPyTorch() throws {
        try assertClose(generator.lengthEstimator.logits(try view("cond"), arena: arena), "length.logits")
    }

    /// With sampling replaced by argmax, the full MaskGIT + residual loop gives PyTorch's codes, and
    /// decoding them gives its motion.
    func testArgmaxGenerationMatchesPyTorch() throws {
        var sampling = generator.config.sampling
        sampling.temperature = 0
        sampling.resTemperature = 0
        var uniforms = ReplayedUniforms(draws: [Float](repeating: 0.5, count: 10_000))
        let tokens = try ints("gen.tokens")[0]
        let codes = try generator.generateCodes(condition: try tensor("gen.cond").toArray(), frames: tokens * 4,
                                                sampling: sampling, uniforms: &uniforms)
        XCTAssertEqual(codes.tokens, tokens)
        XCTAssertEqual(codes.codes, try ints("gen.argmax_codes"))
        let motion = try generator.decode(codes)
        let expected = try tensor("gen.argmax_motion").toArray()
        let worst = zip(motion.features, expected).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertEqual(motion.features.count, expected.count)
        print("parity gen.argmax_motion: max abs error \(worst)")
        XCTAssertLessThanOrEqual(worst, Self.tolerance, "motion: max abs error \(worst)")
    }

    /// Fed PyTorch's uniform draws, Gumbel sampling (length, MaskGIT, residual layers) makes the same
    /// choices and consumes exactly the same draws.
    func testSampledGenerationWithReplayedDrawsMatchesPyTorch() throws {
        let draws = try tensor("gen.uniforms").toArray()
        var uniforms = ReplayedUniforms(draws: draws)
        let codes = try generator.generateCodes(condition: try tensor("gen.cond").toArray(), frames: nil,
                                                sampling: generator.config.sampling, uniforms: &uniforms)
        XCTAssertEqual(codes.tokens, try ints("gen.sampled_length")[0])
        XCTAssertEqual(codes.codes, try ints("gen.sampled_codes"))
        XCTAssertEqual(uniforms.consumed, draws.count)
    }
}
