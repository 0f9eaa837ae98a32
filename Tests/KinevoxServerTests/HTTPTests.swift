import Foundation
import XCTest
@testable import KinevoxServer

/// The plain HTTP side of the port: viewer files, three.js, /healthz, /metrics.
final class HTTPTests: XCTestCase {
    func testHealthMetricsAndViewerOnTheStreamPort() throws {
        let harness = try ServerHarness()
        defer { harness.stop() }
        let client = try harness.connect()

        let health = try harness.get("/healthz")
        XCTAssertEqual(health.status, 200)
        let object = try JSONSerialization.jsonObject(with: Data(health.body.utf8)) as? [String: Any]
        XCTAssertEqual(object?["status"] as? String, "ok")
        XCTAssertEqual(object?["clients"] as? Int, 1)

        harness.speak()
        _ = try waitFor("motion.end", on: client)
        harness.metrics.recordStage("generator", seconds: 0.42)
        harness.metrics.recordCaptureXrun()
        let metrics = try harness.get("/metrics")
        XCTAssertEqual(metrics.status, 200)
        for line in [
            "kinevox_utterances_total{source=\"microphone\"} 1",
            "kinevox_utterances_total{source=\"upload\"} 0",
            "kinevox_clients 1",
            "kinevox_frames_sent_total \(harness.clip.frameCount)",
            "kinevox_frames_dropped_total 0",
            "kinevox_clients_dropped_total 0",
            "kinevox_capture_xruns_total 1",
            "kinevox_stage_latency_seconds_bucket{stage=\"generator\",le=\"0.5\"} 1",
            "kinevox_stage_latency_seconds_count{stage=\"total\"} 1",
        ] {
            XCTAssertTrue(metrics.body.contains(line), "missing \(line) in\n\(metrics.body)")
        }

        let page = try harness.get("/")
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.body.contains("<title>Kinevox viewer</title>"))
        XCTAssertEqual(try harness.get("/viewer.js").status, 200)
        XCTAssertEqual(try harness.get("/nothing-here").status, 404)
        if FileManager.default.fileExists(atPath: "/usr/share/javascript/three/three.min.js") {
            let three = try harness.get("/three/three.min.js")
            XCTAssertEqual(three.status, 200)
            XCTAssertGreaterThan(three.body.utf8.count, 100_000)
        }
    }

    /// A missing three.js is named in the log with the package that provides it.
    func testMissingThreeJSIsLogged() throws {
        let harness = try ServerHarness { $0.threeDirectory = NSTemporaryDirectory() + "no-three-here" }
        defer { harness.stop() }
        XCTAssertTrue(harness.logLines.contains { $0.contains("three.js missing") && $0.contains("libjs-three") },
                      "\(harness.logLines)")
        XCTAssertEqual(try harness.get("/three/three.min.js").status, 404)
    }
}
