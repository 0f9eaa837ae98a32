import XCTest
@testable import KinevoxMotion

final class MotionFileTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("kinevox-motion-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    private func referenceMotion() throws -> Motion {
        try Motion(features: try TestData.shared("new_joint_vecs_012314.npy").scalars)
    }

    func testNpyHoldsJointsAndHml263HoldsFeatures() throws {
        let motion = try referenceMotion()
        let joints = try NumpyArray(npyData: try MotionFile.encode(motion, as: .npy))
        XCTAssertEqual(joints.shape, [170, 22, 3])
        XCTAssertEqual(joints.scalars, motion.joints)
        let features = try NumpyArray(npyData: try MotionFile.encode(motion, as: .hml263))
        XCTAssertEqual(features.shape, [170, 263])
        XCTAssertEqual(features.scalars, motion.features)
    }

    /// The JSON document has the `kinevox.motion.v1` shape, and its coordinates read back exactly.
    func testJSONFollowsInterface() throws {
        let motion = try referenceMotion()
        let timing = MotionTiming(audioEncoder: 1.5, generator: 20, decoder: 3.25, total: 24.75)
        let data = try MotionFile.encode(motion, as: .json, timing: timing)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(object["format"] as? String, "kinevox.motion.v1")
        XCTAssertEqual(object["fps"] as? Int, 20)
        XCTAssertEqual(object["joints"] as? [String], Skeleton.jointNames)
        let frames = try XCTUnwrap(object["frames"] as? [[[Double]]])
        XCTAssertEqual(frames.count, 170)
        XCTAssertEqual(frames[169].count, 22)
        XCTAssertEqual(Float(frames[169][21][2]), motion.joints[169 * 66 + 21 * 3 + 2])
        let times = try XCTUnwrap(object["timing_ms"] as? [String: Double])
        XCTAssertEqual(times, ["audio_encoder": 1.5, "generator": 20, "decoder": 3.25, "total": 24.75])
    }

    func testWriteReplacesFileAndLeavesNoTemporaries() throws {
        let target = folder.appendingPathComponent("motion.bvh")
        try Data("old".utf8).write(to: target)
        try MotionFile.write(try referenceMotion(), as: .bvh, to: target)
        let text = try String(contentsOf: target, encoding: .utf8)
        XCTAssertTrue(text.hasPrefix("HIERARCHY\nROOT Hips"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["motion.bvh"])
    }

    /// A write that fails leaves the destination as it was and no temporary file behind.
    func testFailedWriteLeavesDestinationUntouched() throws {
        let target = folder.appendingPathComponent("motion.json")
        try Data("old".utf8).write(to: target)
        let blocker = folder.appendingPathComponent("folder-in-the-way")
        try FileManager.default.createDirectory(at: blocker.appendingPathComponent("inside"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try MotionFile.writeAtomically(Data("new".utf8), to: blocker))
        XCTAssertThrowsError(try MotionFile.writeAtomically(Data("new".utf8), to: folder.appendingPathComponent("missing/m.json")))
        XCTAssertEqual(try String(contentsOf: target, encoding: .utf8), "old")
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: folder.path)), ["motion.json", "folder-in-the-way"])
    }

    func testNpyRoundTripAndBadFiles() throws {
        let array = try NumpyArray(shape: [2, 3], scalars: [1, 2, 3, 4, 5, -6.5])
        XCTAssertEqual(try NumpyArray(npyData: array.npyData()), array)
        XCTAssertThrowsError(try NumpyArray(npyData: Data("not numpy".utf8)))
        XCTAssertThrowsError(try NumpyArray(shape: [2, 2], scalars: [1]))
    }
}
