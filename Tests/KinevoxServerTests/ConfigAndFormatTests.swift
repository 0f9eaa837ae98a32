import Foundation
import KinevoxMotion
import XCTest
@testable import KinevoxServer

/// Configuration checks, JSON number formatting and recorded-motion reading.
final class ConfigAndFormatTests: XCTestCase {
    func testListenAddressAndLimitsAreValidated() throws {
        var config = ServerConfig()
        XCTAssertEqual(try config.listenAddress().host, "127.0.0.1")
        XCTAssertEqual(try config.listenAddress().port, 8765)
        config.listen = "[::1]:9000"
        XCTAssertEqual(try config.listenAddress().host, "::1")
        for bad in ["8765", "127.0.0.1:", "127.0.0.1:70000", ":8765", "host:port"] {
            config.listen = bad
            XCTAssertThrowsError(try config.validate(), bad) { error in
                XCTAssertTrue("\(error)".contains("listen"), "\(error)")
            }
        }
        config = ServerConfig()
        config.maxClients = 0
        XCTAssertThrowsError(try config.validate()) { XCTAssertTrue("\($0)".contains("max_clients")) }
        config = ServerConfig()
        config.maxMessageBytes = 10
        XCTAssertThrowsError(try config.validate()) { XCTAssertTrue("\($0)".contains("max_message_bytes")) }
    }

    func testServerRefusesToStartOnAnAddressInUse() throws {
        let harness = try ServerHarness()
        defer { harness.stop() }
        var config = ServerConfig()
        config.listen = "127.0.0.1:\(harness.server.port)"
        config.viewerDirectory = RepoPaths.viewer
        let second = StreamServer(config: config, log: { _ in })
        XCTAssertThrowsError(try second.start()) { XCTAssertTrue("\($0)".contains("cannot listen")) }
    }

    /// stop() then start() again serves again (on a new port).
    func testServerRestarts() throws {
        let harness = try ServerHarness()
        defer { harness.stop() }
        harness.server.stop()
        XCTAssertEqual(harness.server.port, 0)
        try harness.server.start()
        XCTAssertEqual(try harness.get("/healthz").status, 200)
        _ = try harness.connect()
    }

    /// `utterance` carries what was understood only when the source knows it (old clients see the same three fields).
    func testUtteranceMessageUnderstandingFields() throws {
        XCTAssertEqual(ServerMessage.utterance(id: 3, durationMs: 1200).json, #"{"type":"utterance","id":3,"duration_ms":1200}"#)
        let heard = ServerMessage.utterance(id: 4, durationMs: 900,
                                            understanding: Understanding(action: "wave-right-hand", confidence: 0.8234, understood: true))
        XCTAssertEqual(heard.json, #"{"type":"utterance","id":4,"duration_ms":900,"understood":true,"action":"wave-right-hand","confidence":0.823}"#)
        let missed = ServerMessage.utterance(id: 5, durationMs: 700,
                                             understanding: Understanding(action: "bow", confidence: 0.1, understood: false))
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(missed.json.utf8)) as? [String: Any])
        XCTAssertEqual(object["understood"] as? Bool, false)
        XCTAssertEqual(object["action"] as? String, "bow")
    }

    func testJSONNumbersAndStrings() {
        XCTAssertEqual(ServerMessage.decimal(1.23456, places: 3), "1.235")
        XCTAssertEqual(ServerMessage.decimal(-0.0004, places: 3), "0.000")
        XCTAssertEqual(ServerMessage.decimal(-0.0416, places: 3), "-0.042")
        XCTAssertEqual(ServerMessage.decimal(.nan, places: 3), "0")
        XCTAssertEqual(ServerMessage.decimal(1e20, places: 3), "1e+20")
        XCTAssertEqual(ServerMessage.error(message: "a \"b\"\n\u{1}").json,
                       #"{"type":"error","message":"a \"b\"\n\u0001"}"#)
        let frame = ServerMessage.frame(id: 3, index: 7, joints: Array(repeating: SIMD3(0.5, -1, 2), count: 22), sentAtMs: 12.5)
        let object = try? JSONSerialization.jsonObject(with: Data(frame.json.utf8)) as? [String: Any]
        XCTAssertEqual(object?["i"] as? Int, 7)
        XCTAssertEqual((object?["joints"] as? [[Double]])?[21], [0.5, -1, 2])
    }

    func testRecordedMotionIsReadAndBadFilesAreRefused() throws {
        let clip = try MotionClip(npyFile: RepoPaths.recordedMotion)
        XCTAssertEqual(clip.frameCount, 170)
        XCTAssertEqual(clip.frames[0][0].y, 0.837, accuracy: 0.001)  // pelvis height, frame 0
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("kinevox-not-a-motion.npy")
        try Data("hello".utf8).write(to: bad)
        XCTAssertThrowsError(try MotionClip(npyFile: bad)) { XCTAssertTrue("\($0)".contains("not a .npy")) }
        XCTAssertThrowsError(try MotionClip(frames: [])) { XCTAssertTrue("\($0)".contains("at least one frame")) }
        XCTAssertThrowsError(try MotionClip(frames: [[SIMD3(0, 0, 0)]])) { XCTAssertTrue("\($0)".contains("expected 22")) }
    }
}
