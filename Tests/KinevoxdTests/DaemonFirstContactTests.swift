import Foundation
import XCTest

/// What a new user meets when starting kinevoxd on a fresh machine: host names in `listen`, a
/// `--check-config` that opens the model, a warning for a stream open to other hosts without a token, the
/// viewer URL with its token, and a quiet, honest log without a sound card (libasound's and libwebsockets'
/// lines through the daemon's logger, the first failure in full, then only changes).
final class DaemonFirstContactTests: DaemonTestCase {

    /// A configuration on the tiny model capturing from a device that never opens (as without a sound card).
    private func config(listen: String = "127.0.0.1:0", modelPath: String = DaemonFixtures.tinyModel,
                        capture: String = "", server: String = "") throws -> String {
        try scratch.write("kinevox.toml", """
            [capture]
            device = "hw:99"
            \(capture)
            [model]
            path = "\(modelPath)"
            threads = 1
            [server]
            listen = "\(listen)"
            \(server)
            """)
    }

    /// Every line the daemon wrote is one of its logger's: "TIME LEVEL label: …".
    private func assertOnlyLoggerLines(_ daemon: DaemonProcess, file: StaticString = #filePath, line: UInt = #line) {
        let pattern = try! NSRegularExpression(pattern: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [A-Z]+ kinevoxd[a-z.]*: "#)
        for text in daemon.stderr.split(separator: "\n").map(String.init) {
            let range = NSRange(text.startIndex..., in: text)
            XCTAssertNotNil(pattern.firstMatch(in: text, range: range), "not a logger line: \(text)", file: file, line: line)
        }
    }

    private func port(from daemon: DaemonProcess) throws -> Int {
        let line = try XCTUnwrap(daemon.stderr.split(separator: "\n").first { $0.contains("serving viewer") })
        let digits = line.split(separator: ":").last?.prefix { $0.isNumber } ?? ""
        return try XCTUnwrap(Int(digits), "no port in \(line)")
    }

    func testHostNameInListenIsResolvedAndServes() throws {
        let daemon = try launch(["--config", try config(listen: "localhost:0")])
        XCTAssertTrue(daemon.waitForLog("ready:", timeout: 30), daemon.stderr)
        XCTAssertTrue(daemon.stderr.contains("serving viewer, stream, /healthz and /metrics on http://127.0.0.1:"), daemon.stderr)
        let client = try WebSocketTestClient(port: try port(from: daemon), timeout: 10)
        XCTAssertEqual(try client.receiveJSON()["type"] as? String, "hello")
    }

    /// A viewer's hello carries the rest pose, the microphone's state and the model file's command list.
    func testHelloCarriesTheModelsCommandsAndTheMicrophoneState() throws {
        let daemon = try launch(["--config", try config()])
        XCTAssertTrue(daemon.waitForLog("ready:", timeout: 30), daemon.stderr)
        let client = try WebSocketTestClient(port: try port(from: daemon), timeout: 10)
        let hello = try client.receiveJSON()
        XCTAssertEqual((hello["pose"] as? [[Double]])?.count, 22)
        let microphone = try XCTUnwrap(hello["microphone"] as? [String: Any], "\(hello)")
        XCTAssertTrue(["off", "none"].contains(microphone["state"] as? String ?? ""), "\(microphone)")
        let commands = try XCTUnwrap(hello["commands"] as? [String: Any], "\(hello)")
        XCTAssertTrue((commands["examples"] as? [String] ?? []).contains("wave your right hand"), "\(commands)")
        XCTAssertEqual((commands["actions"] as? [[String: Any]])?.count, 25)
    }

    func testUnresolvableListenHostIsRefusedWithFileLineBeforeReady() throws {
        let path = try config(listen: "no-such-host.invalid:8766")
        for arguments in [["--config", path, "--check-config"], ["--config", path]] {
            let daemon = try launch(arguments)
            XCTAssertTrue(daemon.waitForExit(timeout: 20))
            XCTAssertEqual(daemon.exitStatus, 2, daemon.stderr)
            XCTAssertTrue(daemon.stderr.contains("\(path):8: [server]") && daemon.stderr.contains("\"no-such-host.invalid\" does not resolve"),
                          daemon.stderr)
            XCTAssertFalse(daemon.stderr.contains("kinevoxd: ready"), daemon.stderr)
        }
    }

    func testPortInUseNeverSaysReadyAndLibWebSocketsLinesGoThroughTheLogger() throws {
        let holder = try ListeningSocket()
        let daemon = try launch(["--config", try config(listen: "127.0.0.1:\(holder.port)", server: "[log]\nlevel = \"debug\"")])
        XCTAssertTrue(daemon.waitForExit(timeout: 20))
        XCTAssertEqual(daemon.exitStatus, 1)
        XCTAssertFalse(daemon.stderr.contains("kinevoxd: ready"), daemon.stderr)
        XCTAssertTrue(daemon.stderr.contains("DEBUG kinevoxd.libwebsockets: "), "libwebsockets' own lines, at debug: \(daemon.stderr)")
        XCTAssertEqual(daemon.stderr.split(separator: "\n").filter { $0.contains("Z ERROR ") }.count, 1, daemon.stderr)
        assertOnlyLoggerLines(daemon)
    }

    func testCheckConfigOpensTheModel() throws {
        let good = try launch(["--config", try config(), "--check-config"])
        XCTAssertTrue(good.waitForExit(timeout: 20))
        XCTAssertEqual(good.exitStatus, 0, good.stderr)
        XCTAssertTrue(good.stderr.contains("is valid; model \(DaemonFixtures.tinyModel) loads"), good.stderr)

        let corrupt = try scratch.write("corrupt.safetensors", "\u{8}\0\0\0\0\0\0\0{\"a\":1}")
        let absent = scratch.url.appendingPathComponent("absent.safetensors").path
        for model in [corrupt, absent] {
            let daemon = try launch(["--config", try config(modelPath: model), "--check-config"])
            XCTAssertTrue(daemon.waitForExit(timeout: 20))
            XCTAssertEqual(daemon.exitStatus, 1, daemon.stderr)
            XCTAssertTrue(daemon.stderr.contains("[model] path: cannot load the model: \(model)"), daemon.stderr)
            XCTAssertFalse(daemon.stderr.contains("valid"), daemon.stderr)
        }
    }

    func testOpenListenWithoutTokenWarnsAndATokenGoesIntoTheViewerURL() throws {
        let open = try launch(["--config", try config(listen: "0.0.0.0:0")])
        XCTAssertTrue(open.waitForLog("ready:", timeout: 30), open.stderr)
        XCTAssertTrue(open.stderr.contains("WARNING kinevoxd: listen = \"0.0.0.0:0\" accepts other hosts and [server] token is empty"),
                      open.stderr)
        open.send(SIGTERM)
        XCTAssertTrue(open.waitForExit(timeout: 5))

        let guarded = try launch(["--config", try config(listen: "0.0.0.0:0", server: "token = \"s3cret word\"")])
        XCTAssertTrue(guarded.waitForLog("ready:", timeout: 30), guarded.stderr)
        XCTAssertFalse(guarded.stderr.contains("token is empty"), guarded.stderr)
        let viewer = try XCTUnwrap(guarded.stderr.split(separator: "\n").first { $0.contains("INFO kinevoxd: viewer: ") })
        XCTAssertTrue(viewer.hasSuffix("/?token=s3cret%20word"), String(viewer))

        let local = try launch(["--config", try config()])
        XCTAssertTrue(local.waitForLog("ready:", timeout: 30), local.stderr)
        XCTAssertFalse(local.stderr.contains("token is empty"), "loopback needs no token: \(local.stderr)")
    }

    /// With retries every 50–100 ms the old log wrote a warning (and libasound its lines) per attempt; now
    /// the first failure is logged once, in full, and the "ready" line says the microphone is off.
    func testMicrophoneThatNeverOpensIsLoggedOnceAndReadySaysSo() throws {
        let daemon = try launch(["--config", try config(capture: "retry_initial_s = 0.05\nretry_max_s = 0.1")])
        XCTAssertTrue(daemon.waitForLog("ready:", timeout: 30), daemon.stderr)
        Thread.sleep(forTimeInterval: 2)  // ≈ 20 more attempts
        let lines = daemon.stderr.split(separator: "\n")
        XCTAssertEqual(lines.filter { $0.contains("the microphone is off: cannot open ALSA capture device \"hw:99\"") }.count, 1,
                       daemon.stderr)
        XCTAssertFalse(daemon.stderr.contains("ALSA lib"), daemon.stderr)
        let ready = try XCTUnwrap(lines.first { $0.contains("INFO kinevoxd: ready: ") })
        XCTAssertTrue(ready.contains("microphone off"), String(ready))
        XCTAssertFalse(ready.contains("listening on"), String(ready))
        XCTAssertLessThan(lines.count, 25, "quiet while the device keeps failing: \(daemon.stderr)")
        assertOnlyLoggerLines(daemon)
    }

    /// `kinevox devices` says so when ALSA sees no sound card (compared with the kernel's own list).
    func testDevicesSaysWhetherThereIsASoundCard() throws {
        let process = Process()
        process.executableURL = DaemonProcess.buildFolder.appendingPathComponent("kinevox")
        process.arguments = ["devices"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let listing = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        let cards = (try? String(contentsOfFile: "/proc/asound/cards", encoding: .utf8)) ?? ""
        let hasCard = cards.split(separator: "\n").contains { $0.trimmingCharacters(in: .whitespaces).first?.isNumber == true }
        XCTAssertEqual(listing.hasPrefix("no sound card on this machine"), !hasCard, listing)
    }
}
