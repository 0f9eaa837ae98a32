import Foundation
import XCTest
@testable import KinevoxMotion

/// The exported BVH as Blender, the tool people export BVH for, reads it: Blender's own importer runs
/// headless (`blender -b --python Tests/Fixtures/Motion/blender_bvh_positions.py`) and every joint it poses
/// must lie within 1 cm of the motion's joints, on every frame. The project's own forward kinematics
/// (BVHExportTests) shares the exporter's conventions; Blender does not. Skipped when Blender is missing.
final class BlenderBVHTests: XCTestCase {
    static let blenderCandidates = ["/usr/bin/blender", "/usr/local/bin/blender"]

    func testBlenderPosesTheExportedBVHWithinOneCentimetreOfTheJoints() throws {
        guard let blender = Self.blenderCandidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("Blender is not installed (Debian package blender); this test imports the BVH with it")
        }
        // HumanML3D clip 012314 (walking out and back, arms swinging) with bones that change length, as in
        // generated motion (a rotations-only BVH put the wrist 9.5 cm off in Blender and in its own FK alike).
        let joints = TestData.stretchingBones(try TestData.shared("new_joints_012314.npy").scalars)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("kinevox-blender-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let bvh = scratch.appendingPathComponent("motion.bvh")
        let out = scratch.appendingPathComponent("blender.json")
        try BVHAnimation(joints: joints).text().write(to: bvh, atomically: true, encoding: .utf8)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: blender)
        process.arguments = ["-b", "--factory-startup", "--python",
                             TestData.fixtures.appendingPathComponent("blender_bvh_positions.py").path,
                             "--", bvh.path, out.path]
        let log = Pipe()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let output = String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, output)
        let result = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [String: Any], output)
        XCTAssertEqual(result["fps"] as? Double, 20)
        let bones = try XCTUnwrap(result["bones"] as? [String])
        XCTAssertEqual(Set(bones), Set(BVHAnimation.jointNames))
        let frames = try XCTUnwrap(result["frames"] as? [[[Double]]])
        let frameCount = joints.count / 66
        guard frames.count == frameCount else {
            return XCTFail("Blender posed \(frames.count) frames, the motion has \(frameCount)")
        }

        var worst = (error: 0.0, frame: 0, joint: "")
        var errors: [Double] = []
        for (frame, posed) in frames.enumerated() {
            for (index, name) in bones.enumerated() {
                let smpl = try XCTUnwrap(BVHAnimation.jointNames.firstIndex(of: name))
                let expected = (0..<3).map { Double(joints[frame * 66 + smpl * 3 + $0]) }
                let error = sqrt(zip(posed[index], expected).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) })
                errors.append(error)
                if error > worst.error { worst = (error, frame, name) }
            }
        }
        errors.sort()
        print(String(format: "Blender BVH import vs joints: median %.4f mm, max %.4f mm (%@, frame %d)",
                     errors[errors.count / 2] * 1000, worst.error * 1000, worst.joint, worst.frame))
        XCTAssertLessThan(worst.error, 0.01, "\(worst.joint) at frame \(worst.frame) is \(worst.error * 100) cm off in Blender")
    }
}
