import Foundation
import XCTest

/// kinevoxd end to end, with real parts: a spoken instruction played through ALSA's `file` plugin (or
/// uploaded over the WebSocket), the real VAD, the tiny model, the playback clock and libwebsockets; a
/// WebSocket client sees utterance → motion.begin → frames → motion.end.
final class DaemonPipelineTests: XCTestCase {
    private var scratch: ScratchFolder!
    private var daemon: DaemonProcess?

    override func setUpWithError() throws {
        scratch = try ScratchFolder()
    }

    override func tearDown() {
        daemon?.terminateIfRunning()
        scratch.remove()
    }

    /// Starts kinevoxd capturing from `device` on `model`, and returns the port it serves on.
    private func startDaemon(device: String, model: String = DaemonFixtures.tinyModel) throws -> Int {
        let path = try scratch.write("kinevox.toml", """
            [capture]
            device = "\(device)"
            [model]
            path = "\(model)"
            threads = 1
            [server]
            listen = "127.0.0.1:0"
            """)
        let daemon = try DaemonProcess(arguments: ["--config", path])
        self.daemon = daemon
        XCTAssertTrue(daemon.waitForLog("viewer: http://127.0.0.1:", timeout: 30), daemon.stderr)
        let line = try XCTUnwrap(daemon.stderr.split(separator: "\n").first { $0.contains("viewer: http://127.0.0.1:") })
        let port = line.split(separator: ":").last.flatMap { Int($0.trimmingCharacters(in: CharacterSet(charactersIn: "/"))) }
        return try XCTUnwrap(port, "no port in \(line)")
    }

    /// Reads messages until the motion announced by the next `utterance` has ended; checks their order
    /// and shapes, and returns the utterance's id.
    /// `microphone` messages (a state change, e.g. the capture file ended) may come at any time and are skipped.
    private func expectMotion(from client: WebSocketTestClient, file: StaticString = #filePath, line: UInt = #line) throws -> Int {
        let client = MotionStream(client)
        var message = try client.receiveJSON()
        while message["type"] as? String != "utterance" {
            XCTAssertNotEqual(message["type"] as? String, "error", "\(message)", file: file, line: line)
            message = try client.receiveJSON()
        }
        let id = try XCTUnwrap(message["id"] as? Int, file: file, line: line)
        XCTAssertGreaterThan(message["duration_ms"] as? Int ?? 0, 500, file: file, line: line)

        let begin = try client.receiveJSON()
        XCTAssertEqual(begin["type"] as? String, "motion.begin", "\(begin)", file: file, line: line)
        XCTAssertEqual(begin["id"] as? Int, id, file: file, line: line)
        XCTAssertEqual(begin["fps"] as? Int, 20, file: file, line: line)
        let frames = try XCTUnwrap(begin["frames"] as? Int, file: file, line: line)
        XCTAssertGreaterThan(frames, 0, file: file, line: line)

        for index in 0..<frames {
            let frame = try client.receiveJSON()
            XCTAssertEqual(frame["type"] as? String, "frame", "\(frame)", file: file, line: line)
            XCTAssertEqual(frame["id"] as? Int, id, file: file, line: line)
            XCTAssertEqual(frame["i"] as? Int, index, file: file, line: line)
            let joints = try XCTUnwrap(frame["joints"] as? [[Double]], file: file, line: line)
            XCTAssertEqual(joints.count, 22, file: file, line: line)
            XCTAssertTrue(joints.allSatisfy { $0.count == 3 && $0.allSatisfy(\.isFinite) }, file: file, line: line)
        }
        let end = try client.receiveJSON()
        XCTAssertEqual(end["type"] as? String, "motion.end", "\(end)", file: file, line: line)
        XCTAssertEqual(end["id"] as? Int, id, file: file, line: line)
        return id
    }

    /// The stream of one client without its `microphone` messages.
    private struct MotionStream {
        let client: WebSocketTestClient
        init(_ client: WebSocketTestClient) { self.client = client }

        func receiveJSON() throws -> [String: Any] {
            while true {
                let message = try client.receiveJSON()
                if message["type"] as? String != "microphone" { return message }
            }
        }
    }

    func testSpokenInstructionFromTheALSAFileSourceReachesAViewerAsMotion() throws {
        let port = try startDaemon(device: "file:\(DaemonFixtures.walkForward)")
        let client = try WebSocketTestClient(port: port, timeout: 30)
        let hello = try client.receiveJSON()
        XCTAssertEqual(hello["type"] as? String, "hello")
        XCTAssertEqual((hello["joints"] as? [String])?.count, 22)
        _ = try expectMotion(from: client)
        let daemon = try XCTUnwrap(self.daemon)
        XCTAssertTrue(daemon.waitForLog("microphone", timeout: 5), daemon.stderr)
    }

    func testPushToTalkWorksWithoutASoundCardAndTimingsReachMetrics() throws {
        let port = try startDaemon(device: "hw:99")
        let client = try WebSocketTestClient(port: port, timeout: 30)
        XCTAssertEqual(try client.receiveJSON()["type"] as? String, "hello")
        try client.upload(samples: try DaemonFixtures.samples(ofWAV: DaemonFixtures.walkForward), sampleRate: 16_000)
        _ = try expectMotion(from: client)

        let daemon = try XCTUnwrap(self.daemon)
        XCTAssertTrue(daemon.stderr.contains("cannot open ALSA capture device \"hw:99\""), daemon.stderr)
        let utteranceLog = daemon.stderr.split(separator: "\n").first { $0.contains("utterance (upload") }
        XCTAssertNotNil(utteranceLog, daemon.stderr)
        for stage in ["frontend", "audio_encoder", "generator", "decoder", "total"] {
            XCTAssertTrue(utteranceLog?.contains(stage) == true, "\(stage) missing in \(utteranceLog ?? "")")
        }
        let metrics = try httpGet(port: port, path: "/metrics")
        for stage in ["frontend", "audio_encoder", "generator", "decoder"] {
            XCTAssertTrue(metrics.contains("stage=\"\(stage)\""), "no \(stage) latency in /metrics:\n\(metrics)")
        }
        XCTAssertTrue(metrics.contains("kinevox_utterances_total{source=\"upload\"} 1"), metrics)
    }

    /// Silence and white noise are refused before the model runs: an `error` to the uploader, no utterance,
    /// no motion; a spoken upload afterwards still works.
    func testUploadsWithoutSpeechAreRefusedBeforeTheModelRuns() throws {
        let port = try startDaemon(device: "hw:99")
        let client = try WebSocketTestClient(port: port, timeout: 30)
        XCTAssertEqual(try client.receiveJSON()["type"] as? String, "hello")
        for (name, samples) in [("silence", NoSpeech.silence(seconds: 2)), ("noise", NoSpeech.whiteNoise(seconds: 2))] {
            try client.upload(samples: samples, sampleRate: 16_000)
            let reply = try MotionStream(client).receiveJSON()
            XCTAssertEqual(reply["type"] as? String, "error", "\(name): \(reply)")
            XCTAssertTrue((reply["message"] as? String ?? "").contains("no speech found"), "\(name): \(reply)")
        }
        try client.upload(samples: try DaemonFixtures.samples(ofWAV: DaemonFixtures.walkForward), sampleRate: 16_000)
        XCTAssertEqual(try expectMotion(from: client), 1, "the refused uploads were never numbered as utterances")
        let daemon = try XCTUnwrap(self.daemon)
        XCTAssertEqual(daemon.stderr.split(separator: "\n").filter { $0.contains("no speech found, not run") }.count, 2, daemon.stderr)
        XCTAssertEqual(daemon.stderr.split(separator: "\n").filter { $0.contains("utterance (upload") }.count, 1, daemon.stderr)
    }

    /// An utterance the model's understanding head rejects: `utterance` says so (understood false, the nearest
    /// action, the confidence the PyTorch twin computes for it), no motion follows, the log and /metrics count it.
    func testNotUnderstoodUploadGetsNoMotion() throws {
        let port = try startDaemon(device: "hw:99", model: DaemonFixtures.tinyModelUnderstanding)
        let client = try WebSocketTestClient(port: port, timeout: 30)
        XCTAssertEqual(try client.receiveJSON()["type"] as? String, "hello")
        try client.upload(samples: try DaemonFixtures.samples(ofWAV: DaemonFixtures.walkForward), sampleRate: 16_000)
        let stream = MotionStream(client)
        let utterance = try stream.receiveJSON()
        XCTAssertEqual(utterance["type"] as? String, "utterance", "\(utterance)")
        XCTAssertEqual(utterance["understood"] as? Bool, false, "\(utterance)")
        let twin = try XCTUnwrap(try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: DaemonFixtures.understandingParity))) as? [String: Any])
        XCTAssertEqual(utterance["action"] as? String, twin["action"] as? String)
        XCTAssertEqual(utterance["confidence"] as? Double ?? -1, twin["confidence"] as? Double ?? 0, accuracy: 2e-3)

        // Nothing else for it: the next message is the reply to a second upload, again an utterance.
        try client.upload(samples: try DaemonFixtures.samples(ofWAV: DaemonFixtures.walkForward), sampleRate: 16_000)
        let next = try stream.receiveJSON()
        XCTAssertEqual(next["type"] as? String, "utterance", "no motion for a rejected utterance: \(next)")
        XCTAssertEqual(next["id"] as? Int, 2)
        let metrics = try httpGet(port: port, path: "/metrics")
        XCTAssertTrue(metrics.contains("kinevox_utterances_not_understood_total 2"), metrics)
        let daemon = try XCTUnwrap(self.daemon)
        XCTAssertTrue(daemon.stderr.contains("→ no motion; not understood (nearest \(twin["action"] as? String ?? "?")"), daemon.stderr)
    }

    func testSIGTERMWithAnUtteranceInFlightStopsWithin2s() throws {
        let port = try startDaemon(device: "hw:99")
        let client = try WebSocketTestClient(port: port, timeout: 30)
        XCTAssertEqual(try client.receiveJSON()["type"] as? String, "hello")
        try client.upload(samples: try DaemonFixtures.samples(ofWAV: DaemonFixtures.walkForward), sampleRate: 16_000)
        var message = try client.receiveJSON()
        while message["type"] as? String != "utterance" { message = try client.receiveJSON() }
        let daemon = try XCTUnwrap(self.daemon)
        let signalled = Date()
        daemon.send(SIGTERM)
        XCTAssertTrue(daemon.waitForExit(timeout: 2), "still running 2 s after SIGTERM")
        XCTAssertLessThan(Date().timeIntervalSince(signalled), 2.0)
        XCTAssertEqual(daemon.exitStatus, 0, daemon.stderr)
        XCTAssertTrue(daemon.stderr.contains("stopped"), daemon.stderr)
    }

    /// The body of `GET path` (HTTP/1.0, so the server closes the connection after it).
    private func httpGet(port: Int, path: String) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        XCTAssertEqual(connected, 0)
        var limit = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        let request = Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while case let count = recv(fd, &chunk, chunk.count, 0), count > 0 { response += chunk[..<count] }
        return String(decoding: response, as: UTF8.self)
    }
}
