import Foundation
import XCTest
@testable import KinevoxServer

/// A client that stops reading is cut once its queue is full; the others get every frame.
final class SlowClientTests: XCTestCase {
    func testStalledClientIsDisconnectedOthersUnaffected() throws {
        let harness = try ServerHarness(speed: 20) { $0.maxQueuedMessages = 8 }
        defer { harness.stop() }
        let healthy = try harness.connect()
        // Connected, then never reads; a tiny receive buffer makes the kernel push back early.
        let stalled = try StreamClient(port: harness.server.port, receiveBufferBytes: 2048)
        var framesReceived = 0
        var motions = 0
        let deadline = ProcessInfo.processInfo.systemUptime + 30
        while harness.metrics.render().contains("kinevox_clients_dropped_total 0") {
            XCTAssertLessThan(ProcessInfo.processInfo.systemUptime, deadline, "the stalled client was never cut")
            if ProcessInfo.processInfo.systemUptime > deadline { return }
            let id = harness.speak()
            while true {
                let m = try nextMessage(healthy)
                if m["type"] as? String == "frame" { framesReceived += 1 }
                if m["type"] as? String == "motion.end", m["id"] as? Int == id { break }
            }
            motions += 1
        }
        XCTAssertEqual(framesReceived, motions * harness.clip.frameCount, "the healthy viewer missed frames")
        let metrics = harness.metrics.render()
        XCTAssertTrue(metrics.contains("kinevox_clients_dropped_total 1"), metrics)
        XCTAssertFalse(metrics.contains("kinevox_frames_dropped_total 0\n"), metrics)
        XCTAssertTrue(metrics.contains("kinevox_clients 1.0\n"), metrics)
        stalled.close()
    }
}
