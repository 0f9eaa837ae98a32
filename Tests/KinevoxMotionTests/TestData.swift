import Foundation
@testable import KinevoxMotion

/// Where the tests find committed fixtures and the shared reference data (relative to this file).
enum TestData {
    /// The repository root (two folders above Tests/KinevoxMotionTests).
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    /// Tests/Fixtures/Motion.
    static let fixtures = repoRoot.appendingPathComponent("Tests/Fixtures/Motion")
    /// ../shared/data/humanml3d beside the repository.
    static let humanML3D = repoRoot.appendingPathComponent("../shared/data/humanml3d").standardizedFileURL

    static func fixture(_ name: String) throws -> NumpyArray {
        try NumpyArray(contentsOf: fixtures.appendingPathComponent(name))
    }

    static func shared(_ name: String) throws -> NumpyArray {
        try NumpyArray(contentsOf: humanML3D.appendingPathComponent(name))
    }

    /// `joints` (T × 22 × 3) with every bone's length changing over time by up to ±10 % (a different
    /// phase per bone), each joint carried along with its parent: like generated motion, whose bone
    /// lengths are not constant.
    static func stretchingBones(_ joints: [Float]) -> [Float] {
        var out = joints
        for frame in 0..<joints.count / 66 {
            for joint in 1..<Skeleton.jointCount {
                let parent = Skeleton.parents[joint]
                let scale = 1 + 0.1 * Float(sin(Double(frame) / 7 + Double(joint)))
                for axis in 0..<3 {
                    let bone = joints[frame * 66 + joint * 3 + axis] - joints[frame * 66 + parent * 3 + axis]
                    out[frame * 66 + joint * 3 + axis] = out[frame * 66 + parent * 3 + axis] + scale * bone
                }
            }
        }
        return out
    }
}
