import Foundation
import KinevoxMotion
import XCTest
@testable import KinevoxServer

/// The stream protocol end to end: a real libwebsockets server, real sockets, a WebSocket client.
final class ProtocolTests: XCTestCase {
    var harness: ServerHarness!

    override func setUpWithError() throws {
        harness = try ServerHarness()
    }

    override func tearDown() {
        harness.stop()
        harness = nil
    }

    func testHelloOnConnectWithAndWithoutSubprotocol() throws {
        for subprotocol in ["kinevox.v1", nil] {
            let client = try StreamClient(port: harness.server.port, subprotocol: subprotocol)
            let hello = try nextMessage(client)
            XCTAssertEqual(hello["type"] as? String, "hello")
            XCTAssertEqual(hello["version"] as? Int, 1)
            XCTAssertEqual(hello["fps"] as? Int, 20)
            XCTAssertEqual(hello["joints"] as? [String], Skeleton.jointNames)
        }
    }

    /// Before any motion, hello carries the standing rest pose (feet on the floor, head up); the
    /// microphone's state and the model's commands once the daemon has set them; state changes follow.
    func testHelloCarriesRestPoseMicrophoneAndCommands() throws {
        harness.server.setMicrophone(.off(reason: "no device"))
        let hello = try nextMessage(try StreamClient(port: harness.server.port, subprotocol: "kinevox.v1"))
        let pose = try XCTUnwrap(hello["pose"] as? [[Double]])
        XCTAssertEqual(pose.count, 22)
        let heights = pose.map { $0[1] }
        XCTAssertEqual(heights.min() ?? -1, 0.02, accuracy: 0.03, "feet on the floor")
        XCTAssertGreaterThan(heights[15], 1.4, "head up")
        XCTAssertEqual((hello["microphone"] as? [String: Any])?["state"] as? String, "off")
        XCTAssertNil(hello["commands"], "no commands were set")

        let watcher = try harness.connect()
        harness.server.setMicrophone(.noSoundCard)
        let change = try nextMessage(watcher)
        XCTAssertEqual(change["type"] as? String, "microphone")
        XCTAssertEqual(change["state"] as? String, "none")
    }

    /// A microphone utterance gives utterance → motion.begin → every frame in order → motion.end,
    /// and two viewers receive the very same frames (broadcast).
    func testUtteranceStreamsWholeMotionToEveryViewer() throws {
        let first = try harness.connect()
        let second = try harness.connect()
        let id = harness.speak(seconds: 1.2)

        var framesSeen: [[[String: Any]]] = []
        for client in [first, second] {
            let utterance = try nextMessage(client)
            XCTAssertEqual(utterance["type"] as? String, "utterance")
            XCTAssertEqual(utterance["id"] as? Int, id)
            XCTAssertEqual(utterance["duration_ms"] as? Int, 1200)
            let begin = try nextMessage(client)
            XCTAssertEqual(begin["type"] as? String, "motion.begin")
            XCTAssertEqual(begin["id"] as? Int, id)
            XCTAssertEqual(begin["frames"] as? Int, harness.clip.frameCount)
            XCTAssertEqual(begin["fps"] as? Int, 20)
            var frames: [[String: Any]] = []
            for k in 0..<harness.clip.frameCount {
                let frame = try nextMessage(client)
                XCTAssertEqual(frame["type"] as? String, "frame")
                XCTAssertEqual(frame["id"] as? Int, id)
                XCTAssertEqual(frame["i"] as? Int, k)
                XCTAssertEqual((frame["joints"] as? [[Double]])?.count, 22)
                frames.append(frame)
            }
            let end = try nextMessage(client)
            XCTAssertEqual(end["type"] as? String, "motion.end")
            XCTAssertEqual(end["id"] as? Int, id)
            framesSeen.append(frames)
        }
        for k in 0..<harness.clip.frameCount {
            XCTAssertEqual(framesSeen[0][k]["joints"] as? [[Double]], framesSeen[1][k]["joints"] as? [[Double]])
        }
        // Idle keeps the last pose: a viewer joining now is told it in its hello.
        let late = try StreamClient(port: harness.server.port)
        let hello = try nextMessage(late)
        XCTAssertEqual(hello["pose"] as? [[Double]], framesSeen[0].last?["joints"] as? [[Double]])
        // The first motion plays where the clip is (no earlier pose): frame 0 is the recorded frame 0.
        let recorded = harness.clip.frames[0][0]
        XCTAssertLessThan(distance(pelvis(of: framesSeen[0][0]), SIMD3(Double(recorded.x), Double(recorded.y), Double(recorded.z))), 0.001)
    }

    /// A second command mid-motion ends the first (interrupted) and starts where the avatar
    /// stands: the pelvis never jumps. Bound: the step into the new motion is < 2 cm, and no step
    /// in the whole stream exceeds the recorded clip's own largest step + 1 cm (13.7 cm + 1 cm).
    func testSecondCommandInterruptsAndBlendsWithoutJump() throws {
        let client = try harness.connect()
        let firstID = harness.speak()
        var pelvisTrack: [SIMD3<Double>] = []
        var secondID = -1
        var interruptedAt = -1
        var motion2Begun = false
        while true {
            let m = try nextMessage(client)
            let type = m["type"] as? String
            if type == "frame" {
                pelvisTrack.append(pelvis(of: m))
                if m["id"] as? Int == firstID, m["i"] as? Int == 50 { secondID = harness.speak() }
            } else if type == "motion.end", m["id"] as? Int == firstID {
                XCTAssertEqual(m["interrupted"] as? Bool, true, "the first motion must be cut short")
                interruptedAt = pelvisTrack.count
            } else if type == "motion.begin" {
                motion2Begun = m["id"] as? Int == secondID
            } else if type == "motion.end", m["id"] as? Int == secondID {
                break
            }
        }
        XCTAssertTrue(motion2Begun)
        XCTAssertGreaterThan(interruptedAt, 50)
        XCTAssertLessThan(interruptedAt, harness.clip.frameCount)
        let standing = pelvisTrack[interruptedAt - 1]
        let start = pelvisTrack[interruptedAt]
        // The avatar had walked away from the origin, and the new motion starts where it stood.
        XCTAssertGreaterThan(hypot(standing.x, standing.z), 1.0)
        XCTAssertLessThan(distance(standing, start), 0.02)

        var recordedMax = 0.0
        for k in 1..<harness.clip.frameCount {
            let d = harness.clip.frames[k][0] - harness.clip.frames[k - 1][0]
            recordedMax = max(recordedMax, Double((d * d).sum().squareRoot()))
        }
        let steps = zip(pelvisTrack.dropFirst(), pelvisTrack).map { distance($0, $1) }
        XCTAssertLessThanOrEqual(steps.max() ?? 0, recordedMax + 0.01)
        XCTAssertEqual(pelvisTrack.count, interruptedAt + harness.clip.frameCount)
    }

    /// Push-to-talk: audio.begin, binary s16le chunks, audio.end → one utterance with exactly the
    /// samples sent, then the same messages as a microphone utterance.
    func testPushToTalkUploadBecomesUtterance() throws {
        let client = try harness.connect()
        let samples = (0..<24_000).map { Int16(truncatingIfNeeded: $0 &* 37) }
        try client.send(text: #"{"type":"audio.begin","sample_rate":24000,"encoding":"s16le"}"#)
        for start in stride(from: 0, to: samples.count, by: 4096) {
            let chunk = samples[start..<min(start + 4096, samples.count)]
            try client.send(binary: chunk.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] })
        }
        try client.send(text: #"{"type":"audio.end"}"#)
        let utterance = try nextMessage(client)
        XCTAssertEqual(utterance["type"] as? String, "utterance")
        XCTAssertEqual(utterance["duration_ms"] as? Int, 1000)
        XCTAssertEqual(try nextMessage(client)["type"] as? String, "motion.begin")
        XCTAssertEqual(harness.uploadCount, 1)
        XCTAssertEqual(harness.uploads.first?.sampleRate, 24_000)
        XCTAssertEqual(harness.uploads.first?.samples, samples)
        XCTAssertEqual(harness.uploads.first?.origin, .upload(client: 1))
    }

    /// Every refused message gets an `error` reply; the connection and server carry on and a
    /// proper upload afterwards still works.
    func testRefusedMessagesGetErrorsAndConnectionGoesOn() throws {
        let client = try harness.connect()
        func expectError(_ containing: String, line: UInt = #line) throws {
            let reply = try nextMessage(client, line: line)
            XCTAssertEqual(reply["type"] as? String, "error", line: line)
            let text = reply["message"] as? String ?? ""
            XCTAssertTrue(text.contains(containing), "error \"\(text)\" should mention \"\(containing)\"", line: line)
        }
        try client.send(text: "{not json")
        try expectError("malformed JSON")
        try client.send(text: #"{"type":"dance"}"#)
        try expectError("unknown message type \"dance\"")
        try client.send(text: #"{"kind":"audio.begin"}"#)
        try expectError("no string \"type\"")
        try client.send(binary: [1, 2, 3, 4])
        try expectError("binary message without audio.begin")
        try client.send(text: #"{"type":"audio.begin","sample_rate":16000,"encoding":"mp3"}"#)
        try expectError("s16le")
        try client.send(text: String(repeating: " ", count: harness.server.config.maxMessageBytes + 1))
        try expectError("max_message_bytes")
        try client.send(text: #"{"type":"audio.end"}"#)
        try expectError("audio.end without audio.begin")

        // 35 s at 16 kHz in 1 s chunks: refused once it passes 30 s, the rest is ignored.
        try client.send(text: #"{"type":"audio.begin","sample_rate":16000,"encoding":"s16le"}"#)
        let second = [UInt8](repeating: 0, count: 32_000)
        for _ in 0..<35 { try client.send(binary: second) }
        try client.send(text: #"{"type":"audio.end"}"#)
        try expectError("longer than 30 s")

        // Still connected and served: a short upload goes through.
        try client.send(text: #"{"type":"audio.begin","sample_rate":16000,"encoding":"s16le"}"#)
        try client.send(binary: [UInt8](repeating: 0, count: 16_000))
        try client.send(text: #"{"type":"audio.end"}"#)
        let utterance = try nextMessage(client)
        XCTAssertEqual(utterance["type"] as? String, "utterance")
        XCTAssertEqual(utterance["duration_ms"] as? Int, 500)
        XCTAssertEqual(harness.uploadCount, 1)
        let metrics = try harness.get("/metrics").body
        XCTAssertTrue(metrics.contains("kinevox_messages_refused_total 8"), metrics)
    }

    func testUploadRateLimit() throws {
        harness.stop()
        harness = try ServerHarness { $0.maxUploadsPerMinute = 2 }
        let client = try harness.connect()
        for _ in 0..<3 {
            try client.send(text: #"{"type":"audio.begin","sample_rate":16000,"encoding":"s16le"}"#)
            try client.send(binary: [UInt8](repeating: 0, count: 3_200))
            try client.send(text: #"{"type":"audio.end"}"#)
        }
        // The refusal is answered at once; the utterance announcements travel through the
        // pipeline, so they may arrive before or after it.
        var refusals: [String] = []
        var utterances = 0
        while refusals.isEmpty || utterances < 2 {
            let m = try nextMessage(client)
            if m["type"] as? String == "error" { refusals.append(m["message"] as? String ?? "") }
            if m["type"] as? String == "utterance" { utterances += 1 }
        }
        XCTAssertEqual(refusals.count, 1)
        XCTAssertTrue(refusals[0].contains("2 uploads per minute"), refusals[0])
        XCTAssertEqual(harness.uploadCount, 2)
    }
}
