import Foundation
import KinevoxAudio
import XCTest
@testable import KinevoxModel

/// The understanding head inside `InstructionModel`: parity with the PyTorch twin on a committed fixture, no motion
/// for a rejected utterance unless forced, and no head (nor verdict) for a model file without one.
final class UnderstandingTests: XCTestCase {
    static let daemonFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/Daemon")

    func fixture(_ name: String) -> String { Self.daemonFixtures.appendingPathComponent(name).path }

    func testVerdictMatchesTheTwinAndRejectionSkipsTheGenerator() throws {
        let twin = try XCTUnwrap(try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: fixture("understanding_parity.json")))) as? [String: Any])
        let model = try InstructionModel(path: fixture("tiny_model_understanding.safetensors"))
        XCTAssertEqual(model.understoodActions, ["walk", "wave", "bow"])
        let samples = try WAVFile.readMono(fixture("walk_forward.wav"))

        let rejected = try model.generate(samples: samples, seed: 0)
        let verdict = try XCTUnwrap(rejected.understanding)
        XCTAssertEqual(verdict.action, twin["action"] as? String)
        // float32 engine vs float64 twin over the tiny front end and encoder: 1e-4 measured, 1e-3 allowed.
        XCTAssertEqual(Double(verdict.confidence), twin["confidence"] as? Double ?? -1, accuracy: 1e-3)
        XCTAssertFalse(verdict.understood, "threshold 1.0 rejects every utterance")
        XCTAssertNil(rejected.motion)
        XCTAssertEqual(rejected.timing.generator, 0)

        let forced = try model.generate(samples: samples, seed: 0, force: true)
        XCTAssertEqual(forced.understanding, verdict)
        XCTAssertGreaterThan(try XCTUnwrap(forced.motion).frameCount, 0)
    }

    func testModelWithoutAHeadGivesNoVerdictAndAlwaysMoves() throws {
        let model = try InstructionModel(path: fixture("tiny_model.safetensors"))
        XCTAssertEqual(model.understoodActions, [])
        let result = try model.generate(samples: try WAVFile.readMono(fixture("walk_forward.wav")), seed: 0)
        XCTAssertNil(result.understanding)
        XCTAssertNotNil(result.motion)
    }
}
