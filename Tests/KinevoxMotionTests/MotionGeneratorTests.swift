import KinevoxEngine
import XCTest
@testable import KinevoxMotion

/// The generator's contract on the tiny fixture model: determinism, lengths, refusal of bad input,
/// scratch memory planned at load.
final class MotionGeneratorTests: XCTestCase {
    private var generator: MotionGenerator!
    private var condition: [Float] = []

    override func setUpWithError() throws {
        generator = try MotionGenerator(path: TestData.fixtures.appendingPathComponent("tiny_generator.safetensors").path)
        let parity = try SafetensorsFile(path: TestData.fixtures.appendingPathComponent("parity.safetensors").path)
        condition = try parity.floats("gen.cond").toArray()
    }

    func testSameSeedAndConditionGiveIdenticalMotion() throws {
        let first = try generator.generate(condition: condition, seed: 42)
        let second = try generator.generate(condition: condition, seed: 42)
        XCTAssertEqual(first.features.map(\.bitPattern), second.features.map(\.bitPattern))
        XCTAssertEqual(first.joints.map(\.bitPattern), second.joints.map(\.bitPattern))
    }

    func testDifferentSeedsGiveDifferentMotions() throws {
        let motions = try (1...4).map { try generator.generate(condition: condition, seed: UInt64($0), frames: 40) }
        for (i, a) in motions.enumerated() {
            for b in motions[(i + 1)...] { XCTAssertNotEqual(a.features, b.features) }
        }
    }

    /// The estimator's length is a whole number of tokens within the model's range; a requested
    /// length is kept exactly, including one that is not a multiple of the token size.
    func testLengthFromEstimatorOrRequest() throws {
        let estimated = try generator.generate(condition: condition, seed: 3)
        XCTAssertEqual(estimated.frameCount % 4, 0)
        XCTAssertGreaterThanOrEqual(estimated.frameCount, generator.config.sampling.minTokens * 4)
        XCTAssertLessThanOrEqual(estimated.frameCount, generator.maxFrames)
        let requested = try generator.generate(condition: condition, seed: 3, frames: 37)
        XCTAssertEqual(requested.frameCount, 37)
        XCTAssertEqual(requested.joints.count, 37 * 22 * 3)
        XCTAssertEqual(requested.joints[0], 0)
        XCTAssertEqual(requested.joints[2], 0)
    }

    /// A generated motion (not a rigid skeleton: bone lengths vary from frame to frame) still
    /// exports in every format; its BVH holds finite numbers only.
    func testGeneratedMotionExportsInEveryFormat() throws {
        let motion = try generator.generate(condition: condition, seed: 11, frames: 24)
        for format in MotionFormat.allCases {
            XCTAssertFalse(try MotionFile.encode(motion, as: format).isEmpty, format.rawValue)
        }
        let bvh = try BVHAnimation(joints: motion.joints)
        XCTAssertTrue(bvh.rotations.joined().allSatisfy { $0.x.isFinite && $0.y.isFinite && $0.z.isFinite })
        XCTAssertTrue(bvh.restOffsets.allSatisfy { $0.x.isFinite && $0.y.isFinite && $0.z.isFinite })
    }

    func testBadInputsAreRefusedWithClearErrors() {
        XCTAssertThrowsError(try generator.generate(condition: [], seed: 1)) { error in
            XCTAssertTrue("\(error)".contains("empty condition"), "\(error)")
        }
        XCTAssertThrowsError(try generator.generate(condition: condition, seed: 1, frames: 0)) { error in
            XCTAssertTrue("\(error)".contains("outside 1…"), "\(error)")
        }
        XCTAssertThrowsError(try generator.generate(condition: condition, seed: 1, frames: 197))
        XCTAssertThrowsError(try generator.generate(condition: Array(condition.dropLast()), seed: 1)) { error in
            XCTAssertTrue("\(error)".contains("16-wide tokens"), "\(error)")
        }
        var poisoned = condition
        poisoned[3] = .nan
        XCTAssertThrowsError(try generator.generate(condition: poisoned, seed: 1)) { error in
            XCTAssertTrue("\(error)".contains("NaN"), "\(error)")
        }
    }

    func testCodesOutsideTheCodebookAreRefused() throws {
        let good = try generator.generateCodes(condition: condition, seed: 5, frames: 8)
        XCTAssertNoThrow(try generator.decode(good))
        var codes = good.codes
        codes[1] = 16
        XCTAssertThrowsError(try generator.decode(MotionCodes(tokens: 2, layers: 3, codes: codes, frames: 8))) { error in
            XCTAssertTrue("\(error)".contains("code 16 is outside"), "\(error)")
        }
        XCTAssertThrowsError(try generator.decode(MotionCodes(tokens: 2, layers: 3, codes: good.codes, frames: 9)))
    }

    /// The tiny model's transformers hold 64 positions, so the longest motion is HumanML3D's 196
    /// frames (49 tokens); generating it after load asks the system for no more scratch memory.
    func testScratchIsPlannedAtLoad() throws {
        XCTAssertEqual(generator.maxFrames, 196)
        let allocations = generator.arena.systemAllocationCount
        _ = try generator.generate(condition: condition, seed: 9, frames: generator.maxFrames)
        _ = try generator.generate(condition: condition, seed: 10)
        XCTAssertEqual(generator.arena.systemAllocationCount, allocations)
    }

    /// Codes and motions are handed out in the generator's reused output arrays: a result the caller still holds
    /// keeps its values through later generations (copy-on-write), and once released its storage is refilled in
    /// place, so steady-state generation allocates no new arrays.
    func testOutputArraysAreReusedOnlyOnceReleased() throws {
        let kept = try generator.generate(condition: condition, seed: 1, frames: 40)
        let keptCodes = try generator.generateCodes(condition: condition, seed: 1, frames: 40)
        let features = kept.features.map(\.bitPattern), joints = kept.joints.map(\.bitPattern), codes = keptCodes.codes
        let other = try generator.generate(condition: condition, seed: 2, frames: 40)
        XCTAssertNotEqual(other.features, kept.features)
        XCTAssertEqual(kept.features.map(\.bitPattern), features)
        XCTAssertEqual(kept.joints.map(\.bitPattern), joints)
        XCTAssertEqual(keptCodes.codes, codes)

        func storage() -> [UnsafeRawPointer?] {
            let o = generator.outputs
            return [o.codes.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) },
                    o.features.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) },
                    o.joints.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }]
        }
        _ = try generator.generate(condition: condition, seed: 3, frames: 40)
        let reused = storage()
        _ = try generator.generate(condition: condition, seed: 4)
        XCTAssertEqual(storage(), reused)
    }

    func testInconsistentConfigIsRefused() {
        XCTAssertNoThrow(try generator.config.validate())
        var config = generator.config
        config.resTransformer.numCodes = 17
        XCTAssertThrowsError(try config.validate()) { error in
            XCTAssertEqual("\(error)", "kinevox.config: res_transformer.num_codes must equal rvq.num_codes")
        }
        config = generator.config
        config.sampling.steps = 1
        XCTAssertThrowsError(try config.validate())
        config = generator.config
        config.sampling.length = "longest"
        XCTAssertThrowsError(try config.validate())
    }

    /// Zero attention heads is refused, not a division by zero while checking that they divide the width.
    /// Found by fuzz-model: `res_transformer.max_positions` 0 left the generator a longest motion of 0 frames, and its
    /// load-time warm-up trapped on the range 1...0 instead of the loader naming the file.
    func testSizesThatLeaveNoTokenAreRefused() {
        let changes: [(String, (inout GeneratorConfig) -> Void)] = [
            ("res_transformer.max_positions", { $0.resTransformer.maxPositions = 0 }),
            ("mask_transformer.max_positions", { $0.maskTransformer.maxPositions = -3 }),
            ("rvq.down_t", { $0.rvq.downT = 8 }), ("rvq.down_t", { $0.rvq.downT = -1 }),
            ("dilation_growth_rate", { $0.rvq.dilationGrowthRate = 0 }),
        ]
        for (field, change) in changes {
            var config = generator.config
            change(&config)
            XCTAssertThrowsError(try config.validate(), field) { XCTAssertTrue("\($0)".contains(field), "\($0)") }
        }
    }

    func testZeroHeadsAreRefused() {
        let heads: [(WritableKeyPath<GeneratorConfig, Int>, String)] =
            [(\.maskTransformer.numHeads, "mask_transformer"), (\.resTransformer.numHeads, "res_transformer")]
        for (field, section) in heads {
            var config = generator.config
            config[keyPath: field] = 0
            XCTAssertThrowsError(try config.validate()) { error in
                XCTAssertEqual("\(error)", "kinevox.config: \(section).num_heads must be positive and divide latent_dim")
            }
        }
    }

    /// A whole model as the training exporter writes it (fp16, audio encoder included) loads: the
    /// generator takes its own prefixes, widens fp16, and samples like the fp32 model up to rounding.
    func testExportedFP16ModelLoads() throws {
        let exported = try MotionGenerator(path: TestData.fixtures.appendingPathComponent("tiny_model_fp16.safetensors").path)
        XCTAssertEqual(exported.config, generator.config)
        let arena = ScratchArena()
        let codes = try generator.generateCodes(condition: condition, seed: 2, frames: 24)
        let full = generator.rvq.decode(codes.codes, batch: 1, tokens: 6, layers: 3, arena: arena).toArray()
        let half = exported.rvq.decode(codes.codes, batch: 1, tokens: 6, layers: 3, arena: arena).toArray()
        let worst = zip(full, half).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThan(worst, 0.05, "fp16 weights: decoder differs by \(worst)")
        XCTAssertEqual(try exported.generate(condition: condition, seed: 2, frames: 24).frameCount, 24)
    }

    func testModelFileWithoutGeneratorIsRefused() {
        let path = TestData.fixtures.appendingPathComponent("parity.safetensors").path
        XCTAssertThrowsError(try MotionGenerator(path: path)) { error in
            XCTAssertTrue("\(error)".contains("parity.safetensors"), "\(error)")
        }
        XCTAssertThrowsError(try MotionGenerator(path: "/nonexistent/model.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/model.safetensors"), "\(error)")
        }
    }
}
