import Foundation
import XCTest
@testable import KinevoxModel

/// `planScratch` at load (what kinevoxd runs before READY=1): after it, no utterance up to the planned length grows
/// a scratch arena, the first one and one at the maximum length included; a longer one still does (so the count
/// this test watches can move).
final class ScratchPlanTests: XCTestCase {
    static let bundledModel = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Models/kinevox-default.safetensors").path

    /// A deterministic speech-like signal of `seconds` (16 kHz): a 180 Hz tone with a 3 Hz envelope.
    func signal(seconds: Double) -> [Float] {
        (0 ..< Int(seconds * 16_000)).map { i in
            let t = Double(i) / 16_000
            return Float(0.3 * sin(2 * .pi * 180 * t) * (0.6 + 0.4 * sin(2 * .pi * 3 * t)))
        }
    }

    func testPlannedScratchStaysFlatFromTheFirstUtterance() throws {
        let model = try InstructionModel(path: Self.bundledModel)
        let planned = model.planScratch(maxSamples: 8 * 16_000)
        let count = model.scratchAllocationCount
        XCTAssertGreaterThan(planned, 0)
        for seconds in [8.0, 1.5, 5.0] {  // the first one at the maximum length
            _ = try model.generate(samples: signal(seconds: seconds), seed: 1, frames: 40, force: true)  // every stage runs
            XCTAssertEqual(model.scratchAllocationCount, count, "\(seconds) s grew an arena")
            XCTAssertEqual(model.scratchBytes, planned, "\(seconds) s")
        }
        _ = try model.generate(samples: signal(seconds: 12), seed: 1, frames: 40)
        XCTAssertGreaterThan(model.scratchAllocationCount, count, "an utterance past the plan grows the arena")
    }
}
