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

    /// Starts kinevoxd capturing from `device` on `model` (with `vad`: extra `[vad]` lines), and returns the port
    /// it serves on.
    private func startDaemon(device: String, model: String = DaemonFixtures.tinyModel, vad: String = "") throws -> Int {
        let path = try scratch.write("kinevox.toml", """
            [capture]
            device = "\(device)"
            [vad]
            \(vad)
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

    /// The spoken "walk forward" of the fixture (its speech, 0.5–1.45 s) as a microphone recording: `parts` copies with
    /// `pauseMs` of digital silence between them, 0.5 s before and `afterMs` after.
    private func repeatedCommand(parts: Int, pauseMs: Int, afterMs: Int) throws -> String {
        let speech = Array(try DaemonFixtures.samples(ofWAV: DaemonFixtures.walkForward)[8_000..<23_200])
        var samples = NoSpeech.silence(seconds: 0.5)
        for part in 0..<parts {
            if part > 0 { samples += NoSpeech.silence(seconds: Double(pauseMs) / 1000) }
            samples += speech
        }
        samples += NoSpeech.silence(seconds: Double(afterMs) / 1000)
        return try scratch.writeWAV("command.wav", samples: samples)
    }

    /// `kinevox_speculative_runs_total{outcome=…}` from /metrics.
    private func speculativeRuns(port: Int) throws -> [String: Int] {
        let metrics = try httpGet(port: port, path: "/metrics")
        var runs: [String: Int] = [:]
        for line in metrics.split(separator: "\n") where line.hasPrefix("kinevox_speculative_runs_total{") {
            let outcome = line.split(separator: "\"")[1]
            runs[String(outcome)] = Int(line.split(separator: " ").last ?? "")
        }
        return runs
    }

    /// Reads messages until the capture file has ended (its `microphone` message, state off): the others, when
    /// each motion's first frame arrived (by id), and when the end did.
    private func messagesUntilTheFileEnds(_ client: WebSocketTestClient) throws
        -> (messages: [[String: Any]], firstFrames: [Int: Date], ended: Date) {
        var messages: [[String: Any]] = []
        var firstFrames: [Int: Date] = [:]
        while true {
            let message = try client.receiveJSON()
            if message["type"] as? String == "microphone" && message["state"] as? String == "off" {
                return (messages, firstFrames, Date())
            }
            if message["type"] as? String == "frame", let id = message["id"] as? Int, firstFrames[id] == nil { firstFrames[id] = Date() }
            messages.append(message)
        }
    }

    /// Early endpointing, speech resuming: "walk forward", a 300 ms pause (past early_end_ms + early_confirm_ms,
    /// inside the 600 ms hangover), "walk forward" again. Gate never confident, so the result run at the pause waits
    /// for the hangover; speech resumes first, and it is dropped: viewers see one utterance (both parts) and
    /// one motion, nothing for the dropped run.
    func testSpeculativeResultDroppedWhenSpeechResumesSendsNothingToViewers() throws {
        let wav = try repeatedCommand(parts: 2, pauseMs: 300, afterMs: 2_500)
        let port = try startDaemon(device: "file:\(wav)", vad: "hangover_ms = 600\nearly_end_ms = 150\nearly_confirm_ms = 60\nearly_end_confidence = 1.0")
        let client = try WebSocketTestClient(port: port, timeout: 30)
        XCTAssertEqual(try client.receiveJSON()["type"] as? String, "hello")
        let messages = try messagesUntilTheFileEnds(client).messages
        let utterances = messages.filter { $0["type"] as? String == "utterance" }
        XCTAssertEqual(utterances.count, 1, "\(utterances)")
        XCTAssertGreaterThan(utterances.first?["duration_ms"] as? Int ?? 0, 2 * 950 + 300, "both parts in one utterance")
        XCTAssertEqual(messages.filter { $0["type"] as? String == "motion.begin" }.count, 1)
        XCTAssertEqual(Set(messages.compactMap { $0["id"] as? Int }), [1], "no message names another utterance")
        let runs = try speculativeRuns(port: port)
        XCTAssertEqual(runs["dropped"], 1, "\(runs)")
        XCTAssertEqual(runs["started"], 2, "\(runs)")
        XCTAssertEqual(runs["used"], 1, "the run at the end is played when the hangover closes the utterance: \(runs)")
    }

    /// Early endpointing, confident: with a long hangover (2 s) the motion starts long before the hangover ends,
    /// from the speculative run of the utterance as it was at the pause (its audio ends early_end_ms after the
    /// speech, not hangover_ms). The tiny model has no understanding head, so early_end_confidence = 0 lets the
    /// confirmed pause decide. Clock: the file (at real-time pace) ends 4 s after the speech; a motion played at
    /// the hangover would start 2 s before that, one played at the pause about 3.7 s before.
    func testConfidentCommandPlaysBeforeTheHangoverEnds() throws {
        let wav = try repeatedCommand(parts: 1, pauseMs: 0, afterMs: 4_000)
        let port = try startDaemon(device: "file:\(wav)", vad: "hangover_ms = 2000\nearly_end_ms = 150\nearly_confirm_ms = 60\nearly_end_confidence = 0")
        let client = try WebSocketTestClient(port: port, timeout: 30)
        XCTAssertEqual(try client.receiveJSON()["type"] as? String, "hello")
        let (messages, firstFrames, ended) = try messagesUntilTheFileEnds(client)
        let firstFrame = try XCTUnwrap(firstFrames[1], "no motion")
        XCTAssertGreaterThan(ended.timeIntervalSince(firstFrame), 3.0, "the motion started after the hangover would have ended")
        let utterance = try XCTUnwrap(messages.first { $0["type"] as? String == "utterance" })
        // Pre-roll (300 ms) + speech (≈ 1 s) + the pause; the hangover path would hand on ≈ 3.3 s.
        XCTAssertLessThan(utterance["duration_ms"] as? Int ?? .max, 2_000, "\(utterance)")
        XCTAssertEqual(messages.filter { $0["type"] as? String == "motion.begin" }.count, 1)
        let runs = try speculativeRuns(port: port)
        XCTAssertEqual(runs["used"], 1, "\(runs)")
        XCTAssertEqual(runs["dropped"], 0, "\(runs)")
    }

    /// Early endpointing, not understood: the understanding head of `tinyModelUnderstanding` rejects every
    /// utterance, so even at early_end_confidence 0 nothing plays at the pause; the speculative reply is
    /// announced when the 2 s hangover closes the utterance (understood false, no motion).
    func testCommandTheModelDidNotUnderstandWaitsForTheHangover() throws {
        let wav = try repeatedCommand(parts: 1, pauseMs: 0, afterMs: 4_000)
        let port = try startDaemon(device: "file:\(wav)", model: DaemonFixtures.tinyModelUnderstanding,
                                   vad: "hangover_ms = 2000\nearly_end_ms = 150\nearly_confirm_ms = 60\nearly_end_confidence = 0")
        let client = try WebSocketTestClient(port: port, timeout: 30)
        XCTAssertEqual(try client.receiveJSON()["type"] as? String, "hello")
        var announced: Date?
        var messages: [[String: Any]] = []
        while true {
            let message = try client.receiveJSON()
            if message["type"] as? String == "microphone" && message["state"] as? String == "off" { break }
            if message["type"] as? String == "utterance" { announced = Date() }
            messages.append(message)
        }
        let ended = Date()
        let utterance = try XCTUnwrap(messages.first { $0["type"] as? String == "utterance" })
        XCTAssertEqual(utterance["understood"] as? Bool, false, "\(utterance)")
        XCTAssertFalse(messages.contains { $0["type"] as? String == "motion.begin" })
        XCTAssertLessThan(ended.timeIntervalSince(try XCTUnwrap(announced)), 3.0, "announced before the hangover ended")
        XCTAssertEqual(try speculativeRuns(port: port)["used"], 1)
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
