import Foundation
import XCTest
@testable import KinevoxServer

/// World placement and blending of the playback clock, on synthetic poses, and when its frames go out.
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

    /// A queued clip does not wait for the next frame period: its first frame goes out at once (here
    /// within 0.3 s on a clock whose period is 1 s), whether a clip is playing or the clock is idle, and
    /// the following frames are timed from it.
    func testQueuedClipStartsAtOnceAndRephasesTheTicks() throws {
        let sent = SentMessages()
        let clock = PlaybackClock(speed: 0.05) { sent.append($0) }  // 1 frame per second
        clock.start()
        defer { clock.stop() }
        let clip = { (count: Int) in try MotionClip(frames: (0..<count).map { t in self.pose(at: SIMD2(0, Float(t) * 0.05), yaw: 0) }) }
        Thread.sleep(forTimeInterval: 0.3)

        let firstQueued = ProcessInfo.processInfo.systemUptime
        clock.play(try clip(3), id: 1)
        let first = try XCTUnwrap(sent.waitForFrame(id: 1, index: 0, timeout: 5))
        XCTAssertLessThan(first - firstQueued, 0.3)

        Thread.sleep(forTimeInterval: 0.5)  // half a period into motion 1
        let secondQueued = ProcessInfo.processInfo.systemUptime
        clock.play(try clip(2), id: 2)
        let second = try XCTUnwrap(sent.waitForFrame(id: 2, index: 0, timeout: 5))
        XCTAssertLessThan(second - secondQueued, 0.3)
        let next = try XCTUnwrap(sent.waitForFrame(id: 2, index: 1, timeout: 5))
        XCTAssertGreaterThan(next - second, 0.9, "the frame after a new clip's first one is a whole period later")

        // Idle for 1.5 periods after motion 2 ended (its last frame went out at `next`): motion 3 also
        // starts at once and is timed from its own first frame, not from the old schedule.
        Thread.sleep(forTimeInterval: max(0, next + 1.5 - ProcessInfo.processInfo.systemUptime))
        let thirdQueued = ProcessInfo.processInfo.systemUptime
        clock.play(try clip(2), id: 3)
        let third = try XCTUnwrap(sent.waitForFrame(id: 3, index: 0, timeout: 5))
        XCTAssertLessThan(third - thirdQueued, 0.3)
        let afterThird = try XCTUnwrap(sent.waitForFrame(id: 3, index: 1, timeout: 5))
        XCTAssertGreaterThan(afterThird - third, 0.9)
        XCTAssertNotNil(sent.waitForEnd(id: 3, timeout: 5))  // motion.end follows the last frame on the next tick

        let kinds = sent.messages.map { message -> String in
            switch message {
            case .motionBegin(let id, let frames, _): return "begin \(id) \(frames)"
            case .frame(let id, let index, _, _): return "frame \(id).\(index)"
            case .motionEnd(let id, let interrupted): return "end \(id)\(interrupted ? " interrupted" : "")"
            default: return "other"
            }
        }
        XCTAssertEqual(Array(kinds.prefix(2)), ["begin 1 3", "frame 1.0"])
        let interrupted = try XCTUnwrap(kinds.firstIndex(of: "end 1 interrupted"))
        XCTAssertEqual(Array(kinds[interrupted...]), ["end 1 interrupted", "begin 2 2", "frame 2.0", "frame 2.1", "end 2",
                                                      "begin 3 2", "frame 3.0", "frame 3.1", "end 3"])
    }
}

/// Messages a clock emitted, with the time (`systemUptime`) each went out; any thread.
private final class SentMessages: @unchecked Sendable {
    private let condition = NSCondition()
    private var sent: [(message: ServerMessage, at: Double)] = []

    func append(_ message: ServerMessage) {
        condition.withLock {
            sent.append((message, ProcessInfo.processInfo.systemUptime))
            condition.broadcast()
        }
    }

    var messages: [ServerMessage] { condition.withLock { sent.map(\.message) } }

    /// When frame `index` of motion `id` went out, waiting up to `timeout` seconds for it; nil if it did not.
    func waitForFrame(id: Int, index: Int, timeout: Double) -> Double? {
        waitFor(timeout: timeout) { if case .frame(id, index, _, _) = $0 { return true } else { return false } }
    }

    /// When motion `id`'s `motion.end` went out, waiting up to `timeout` seconds for it; nil if it did not.
    func waitForEnd(id: Int, timeout: Double) -> Double? {
        waitFor(timeout: timeout) { if case .motionEnd(id, _) = $0 { return true } else { return false } }
    }

    private func waitFor(timeout: Double, _ matches: (ServerMessage) -> Bool) -> Double? {
        let limit = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let entry = sent.first(where: { matches($0.message) }) { return entry.at }
            if !condition.wait(until: limit) { return nil }
        }
    }
}

private func simd_length(_ v: SIMD3<Float>) -> Float { (v * v).sum().squareRoot() }
