import XCTest
@testable import KinevoxMotion

final class HumanML3DTests: XCTestCase {
    /// HumanML3D's own clip 012314: our decoder gives back its published joints within 1e-4 m.
    func testFeaturesToJointsMatchesReferenceClip() throws {
        let features = try TestData.shared("new_joint_vecs_012314.npy")
        let expected = try TestData.shared("new_joints_012314.npy")
        XCTAssertEqual(features.shape, [170, 263])
        XCTAssertEqual(expected.shape, [170, 22, 3])
        let joints = try HumanML3D.joints(fromFeatures: features.scalars)
        XCTAssertEqual(joints.count, expected.scalars.count)
        let worst = zip(joints, expected.scalars).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThanOrEqual(worst, 1e-4, "max abs error \(worst) m")
    }

    /// The first frame's pelvis sits at x = z = 0 (the interface's start convention).
    func testClipStartsAtOrigin() throws {
        let joints = try HumanML3D.joints(fromFeatures: try TestData.shared("new_joint_vecs_012314.npy").scalars)
        XCTAssertEqual(joints[0], 0)
        XCTAssertEqual(joints[2], 0)
    }

    func testDenormalizeAppliesMeanAndStd() throws {
        let mean = (0..<263).map { Float($0) }
        let std = [Float](repeating: 2, count: 263)
        let out = try HumanML3D.denormalize([Float](repeating: 1, count: 526), mean: mean, std: std)
        XCTAssertEqual(out[0], 2)
        XCTAssertEqual(out[263 + 262], 264)
        XCTAssertThrowsError(try HumanML3D.denormalize([1], mean: mean, std: std))
        XCTAssertThrowsError(try HumanML3D.denormalize([Float](repeating: 0, count: 263), mean: [0], std: std))
    }

    /// NaN, a ragged feature array and an empty one are refused with a message naming the problem.
    func testBadFeaturesAreRefused() throws {
        var features = [Float](repeating: 0, count: 263 * 3)
        features[263 + 7] = .nan
        XCTAssertThrowsError(try HumanML3D.joints(fromFeatures: features)) { error in
            XCTAssertEqual("\(error)", "feature 7 of frame 1 is not a finite number")
        }
        XCTAssertThrowsError(try HumanML3D.joints(fromFeatures: [Float](repeating: 0, count: 264)))
        XCTAssertThrowsError(try HumanML3D.joints(fromFeatures: []))
        XCTAssertThrowsError(try Motion(features: features))
    }
}
