import Foundation
import XCTest
@testable import KinevoxServer

/// World placement and blending of the playback clock, on synthetic poses.
final class PlaybackClockTests: XCTestCase {
    /// A T-pose-ish standing pose at `position` facing `yaw` (radians, 0 = +Z).
    private func pose(at position: SIMD2<Float>, yaw: Float, crouch: Float = 0) -> [SIMD3<Float>] {
        (0..<22).map { j -> SIMD3<Float> in
            let side: Float = [1, 4, 7, 10, 13, 16, 18, 20].contains(j) ? 1 : ([2, 5, 8, 11, 14, 17, 19, 21].contains(j) ? -1 : 0)
            let local = SIMD3<Float>(0.1 * side * Float(1 + j / 6), 0.9 - crouch + Float(j) * 0.01, 0)
            let r = RootPlacement.rotate(local, by: yaw)
            return SIMD3(r.x + position.x, r.y, r.z + position.y)
        }
    }

    func testRootPlacementReadsPositionAndHeading() {
        for yaw: Float in [0, 0.7, -2.0, 3.0] {
            let placement = RootPlacement(pose: pose(at: SIMD2(1.5, -2), yaw: yaw))
            XCTAssertEqual(placement.position.x, 1.5, accuracy: 1e-5)
            XCTAssertEqual(placement.position.y, -2, accuracy: 1e-5)
            XCTAssertEqual(placement.yaw, yaw, accuracy: 1e-4)
        }
    }

    /// A clip that walks 1 m along its own +Z, played on an avatar at (3, 1) facing +X, walks
    /// along world +X from (3, 1); after the blend every joint is the rigidly moved clip joint.
    func testNewClipStartsWhereAndHowTheAvatarStands() {
        let clip = (0..<20).map { t in pose(at: SIMD2(0, Float(t) * 0.05), yaw: 0) }
        let avatar = pose(at: SIMD2(3, 1), yaw: .pi / 2, crouch: 0.3)
        let placed = PlaybackClock.place(clip, from: avatar, blendFrames: 6)
        XCTAssertEqual(placed.count, 20)
        XCTAssertEqual(placed[0][0].x, 3, accuracy: 1e-4)
        XCTAssertEqual(placed[0][0].z, 1, accuracy: 1e-4)
        XCTAssertEqual(placed[19][0].x, 3 + 19 * 0.05, accuracy: 1e-4)
        XCTAssertEqual(placed[19][0].z, 1, accuracy: 1e-4)
        let expected = pose(at: SIMD2(3 + 19 * 0.05, 1), yaw: .pi / 2)
        for j in 0..<22 { XCTAssertLessThan(simd_length(placed[19][j] - expected[j]), 1e-4) }
        // Blend: the first frame is still mostly the old (crouched) pose, later ones the new.
        XCTAssertLessThan(abs(placed[0][0].y - avatar[0].y), 0.3 * 0.1)
        XCTAssertEqual(placed[6][0].y, clip[6][0].y, accuracy: 1e-5)
        // Heights change monotonically through the fade (no overshoot).
        for k in 1..<7 { XCTAssertGreaterThanOrEqual(placed[k][0].y, placed[k - 1][0].y - 1e-6) }
    }

    func testFirstClipPlaysAsRecorded() {
        let clip = (0..<5).map { t in pose(at: SIMD2(0, Float(t) * 0.05), yaw: 0) }
        let placed = PlaybackClock.place(clip, from: nil, blendFrames: 6)
        for t in 0..<5 { XCTAssertEqual(placed[t], clip[t]) }
    }
}

private func simd_length(_ v: SIMD3<Float>) -> Float { (v * v).sum().squareRoot() }
