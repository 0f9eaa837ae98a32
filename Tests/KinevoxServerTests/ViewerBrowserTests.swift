import Foundation
import KinevoxMotion
import XCTest
@testable import KinevoxServer

/// The viewer in a real browser: headless Chromium opens the page from a running server fed a
/// recorded motion; through the DevTools protocol the test reads where three.js drew the pelvis
/// and checks that the skeleton moved. Screenshots land in the temporary directory.
final class ViewerBrowserTests: XCTestCase {
    static let chromium = "/usr/bin/chromium"

    func testViewerDrawsTheMovingSkeleton() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.chromium) else {
            throw XCTSkip("chromium is not installed (Debian package chromium); the browser test needs it")
        }
        let harness = try ServerHarness(speed: 2)
        defer { harness.stop() }
        harness.server.commandsJSON = try ModelFileMetadata.value(of: "kinevox.commands", in: RepoPaths.bundledModel)
        harness.server.setMicrophone(.noSoundCard)
        let browser = try HeadlessChromium(url: "http://127.0.0.1:\(harness.server.port)/")
        defer { browser.stop() }

        let ready = try browser.waitUntil("window.kinevoxViewer && window.kinevoxViewer.connected", timeout: 30)
        XCTAssertTrue(ready, "the viewer never connected to the stream")
        XCTAssertEqual(try browser.evaluate("window.kinevoxViewer.threeLoaded") as? Bool, true)
        XCTAssertEqual(try browser.evaluate("window.kinevoxViewer.error") as? NSNull, NSNull())

        harness.speak()
        // Sample where three.js draws the pelvis until the whole motion has arrived.
        var drawn: [SIMD3<Double>] = []
        var firstShot: URL?
        let deadline = ProcessInfo.processInfo.systemUptime + 40
        while ProcessInfo.processInfo.systemUptime < deadline {
            if try browser.evaluate("window.kinevoxViewer.framesRendered") as? Int ?? 0 > 0 {
                drawn.append(try browser.pelvis())
                if firstShot == nil { firstShot = try browser.screenshot(named: "kinevox-viewer-1.png") }
            }
            if try browser.evaluate("window.kinevoxViewer.framesReceived") as? Int ?? 0 >= harness.clip.frameCount { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let secondShot = try browser.screenshot(named: "kinevox-viewer-2.png")
        print("viewer screenshots: \(firstShot?.path ?? "none") \(secondShot.path)")

        // Clip 012314 carries the pelvis about 2.3 m out and back; the drawn sphere must follow.
        var spread = 0.0
        for a in drawn { for b in drawn { spread = max(spread, distance(a, b)) } }
        XCTAssertGreaterThan(spread, 1.0, "pelvis drawn at \(drawn.count) samples spans only \(spread) m")
        XCTAssertGreaterThan(try browser.evaluate("window.kinevoxViewer.framesRendered") as? Int ?? 0, 20)
        let status = try browser.evaluate("document.getElementById('status').textContent") as? String ?? ""
        XCTAssertTrue(status.hasPrefix("connected ·") && status.contains("utterance #1"), status)
        XCTAssertNotEqual(try firstShot.map { try Data(contentsOf: $0) }, try Data(contentsOf: secondShot))
    }

    /// A 0.5 s 440 Hz WAV at 22050 Hz, built in the page and given to the drop handler.
    static let sendBeepWAV = """
            (function () {
              var rate = 22050, n = rate / 2, bytes = new ArrayBuffer(44 + 2 * n), v = new DataView(bytes);
              function text(o, s) { for (var i = 0; i < s.length; i++) v.setUint8(o + i, s.charCodeAt(i)); }
              text(0, "RIFF"); v.setUint32(4, 36 + 2 * n, true); text(8, "WAVEfmt ");
              v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
              v.setUint32(24, rate, true); v.setUint32(28, rate * 2, true); v.setUint16(32, 2, true);
              v.setUint16(34, 16, true); text(36, "data"); v.setUint32(40, 2 * n, true);
              for (var i = 0; i < n; i++) v.setInt16(44 + 2 * i, 16000 * Math.sin(2 * Math.PI * 440 * i / rate), true);
              window.kinevoxViewer.sendFile(new File([bytes], "beep.wav", { type: "audio/wav" }));
              return true;
            })()
            """

    /// Push-to-talk from the page: a held button records Chromium's fake microphone (a beep) and
    /// a WAV handed to the drop handler is decoded, resampled to 16 kHz and uploaded.
    func testPushToTalkAndWavDropUpload() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.chromium) else {
            throw XCTSkip("chromium is not installed (Debian package chromium); the browser test needs it")
        }
        let harness = try ServerHarness()
        defer { harness.stop() }
        let browser = try HeadlessChromium(
            url: "http://127.0.0.1:\(harness.server.port)/",
            extraArguments: ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"])
        defer { browser.stop() }
        XCTAssertTrue(try browser.waitUntil("window.kinevoxViewer && window.kinevoxViewer.connected", timeout: 30))

        // Hold the button for 1.5 s with real (DevTools) mouse input, a user gesture; the page shows that
        // it records meanwhile.
        var indicator: (Bool?, String?) = (nil, nil)
        try browser.holdTalkButton(seconds: 1.5) {
            indicator = (try browser.evaluate("window.kinevoxViewer.recording") as? Bool,
                         try browser.evaluate("getComputedStyle(document.getElementById('recording')).display") as? String)
        }
        XCTAssertEqual(indicator.0, true)
        XCTAssertEqual(indicator.1, "flex")
        XCTAssertEqual(try browser.evaluate("getComputedStyle(document.getElementById('recording')).display") as? String, "none")
        try waitForUploads(harness, 1)
        let spoken = try XCTUnwrap(harness.uploads.first)
        XCTAssertEqual(spoken.sampleRate, 16_000)
        XCTAssertGreaterThan(spoken.durationMs, 500)
        XCTAssertLessThan(spoken.durationMs, 3_000)
        XCTAssertGreaterThan(spoken.samples.map { abs(Int($0)) }.max() ?? 0, 1_000, "the fake microphone beeps")

        _ = try browser.evaluate(Self.sendBeepWAV)
        try waitForUploads(harness, 2)
        let dropped = harness.uploads[1]
        XCTAssertEqual(dropped.sampleRate, 16_000)
        XCTAssertEqual(dropped.samples.count, 8_000, accuracy: 2)
        XCTAssertGreaterThan(dropped.samples.map { abs(Int($0)) }.max() ?? 0, 14_000)
        XCTAssertTrue(try browser.waitUntil(
            "document.getElementById('status').textContent.indexOf('utterance #2') >= 0", timeout: 10))
    }

    private func waitForUploads(_ harness: ServerHarness, _ count: Int, line: UInt = #line) throws {
        let deadline = ProcessInfo.processInfo.systemUptime + 15
        while harness.uploadCount < count && ProcessInfo.processInfo.systemUptime < deadline {
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTAssertEqual(harness.uploadCount, count, "uploads reaching the server", line: line)
        if harness.uploadCount < count { throw StreamClient.Failure.timeout }
    }

    /// The first screen, before any command: the mannequin standing in its rest pose (the body's colour fills
    /// its screen box), the server microphone's state, and the "try saying…" panel read from the bundled
    /// model file's `kinevox.commands` metadata; the full list on request; "understood" lines.
    func testFirstScreenShowsTheMannequinMicrophoneAndCommands() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.chromium) else {
            throw XCTSkip("chromium is not installed (Debian package chromium); the browser test needs it")
        }
        let commands = try XCTUnwrap(try ModelFileMetadata.value(of: "kinevox.commands", in: RepoPaths.bundledModel),
                                     "the bundled model has no kinevox.commands metadata")
        let harness = try ServerHarness()
        defer { harness.stop() }
        harness.server.commandsJSON = commands
        harness.server.setMicrophone(.noSoundCard)
        let browser = try HeadlessChromium(url: "http://127.0.0.1:\(harness.server.port)/")
        defer { browser.stop() }
        XCTAssertTrue(try browser.waitUntil("window.kinevoxViewer && window.kinevoxViewer.framesRendered > 0", timeout: 30),
                      "the rest pose from hello was never drawn")
        Thread.sleep(forTimeInterval: 0.5)
        let shot = try browser.screenshot(named: "kinevox-viewer-connected.png")
        print("viewer screenshot on connect: \(shot.path)")

        let body = try XCTUnwrap(try browser.evaluate("window.kinevoxViewer.bodyPixels()") as? [String: Any])
        let box = try XCTUnwrap(body["box"] as? [Double])
        let pixels = try XCTUnwrap(body["pixels"] as? Int), bodyPixels = try XCTUnwrap(body["bodyPixels"] as? Int)
        XCTAssertGreaterThan(box[3] - box[1], 150, "the standing body is tall on screen: \(box)")
        XCTAssertGreaterThan(Double(bodyPixels) / Double(pixels), 0.2,
                             "\(bodyPixels) of \(pixels) pixels in the body's box have its colour")

        let panel = try browser.evaluate("document.getElementById('panel').innerText") as? String ?? ""
        XCTAssertTrue(panel.contains("Try saying…") && panel.contains("“wave your right hand”"), panel)
        XCTAssertTrue(panel.contains("server microphone: no sound card"), panel)
        XCTAssertEqual(try browser.evaluate("document.getElementById('all').hidden") as? Bool, true)
        _ = try browser.evaluate("document.getElementById('all-toggle').click()")
        let all = try browser.evaluate("document.getElementById('all').innerText") as? String ?? ""
        XCTAssertTrue(all.contains("wave-right-hand: wave your right hand") && all.contains("sadly, with the head down"), all)

        harness.server.setMicrophone(.on(device: "default"))
        XCTAssertTrue(try browser.waitUntil("document.getElementById('mic').textContent === 'server microphone: on (default)'",
                                            timeout: 5))
        // The server's own `utterance` messages (ServerMessage.json), understood and not.
        let understood = ServerMessage.utterance(id: 7, durationMs: 900,
                                                 understanding: Understanding(action: "wave-right-hand", confidence: 0.823, understood: true))
        _ = try browser.evaluate("window.kinevoxViewer.handle(\(understood.json))")
        XCTAssertEqual(try browser.evaluate("document.getElementById('understood').textContent") as? String,
                       "understood: wave, right hand · 0.82")
        let missed = ServerMessage.utterance(id: 8, durationMs: 900,
                                             understanding: Understanding(action: "bow", confidence: 0.31, understood: false))
        _ = try browser.evaluate("window.kinevoxViewer.handle(\(missed.json))")
        XCTAssertEqual(try browser.evaluate("document.getElementById('understood').textContent") as? String, "didn't catch that")
        _ = try browser.evaluate(#"window.kinevoxViewer.handle({type:"utterance",id:10,duration_ms:900,understood:true,action:"walk-back",confidence:0.9})"#)
        XCTAssertEqual(try browser.evaluate("document.getElementById('understood').textContent") as? String,
                       "understood: walk back · 0.90")
        _ = try browser.evaluate(#"window.kinevoxViewer.handle({type:"utterance",id:8,duration_ms:900,understood:false,action:null})"#)
        XCTAssertEqual(try browser.evaluate("document.getElementById('understood').textContent") as? String, "didn't catch that")
        _ = try browser.evaluate(#"window.kinevoxViewer.handle({type:"utterance",id:9,duration_ms:900})"#)
        XCTAssertEqual(try browser.evaluate("document.getElementById('understood').textContent") as? String, "didn't catch that",
                       "an utterance without those fields leaves the line as it was")
    }

    /// Opened from another host over plain HTTP (here a name mapped to loopback, which Chromium does not
    /// count as a secure origin) the page has no getUserMedia: it says so instead of throwing, and WAV drop
    /// still uploads.
    func testRemotePlainHTTPPageExplainsTheMicrophoneAndKeepsWavDrop() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.chromium) else {
            throw XCTSkip("chromium is not installed (Debian package chromium); the browser test needs it")
        }
        let harness = try ServerHarness()
        defer { harness.stop() }
        let browser = try HeadlessChromium(url: "http://kinevox.test:\(harness.server.port)/",
                                           extraArguments: ["--host-resolver-rules=MAP kinevox.test 127.0.0.1"])
        defer { browser.stop() }
        XCTAssertTrue(try browser.waitUntil("window.kinevoxViewer && window.kinevoxViewer.connected", timeout: 30))
        XCTAssertEqual(try browser.evaluate("window.isSecureContext") as? Bool, false)
        XCTAssertEqual(try browser.evaluate("window.kinevoxViewer.micAvailable") as? Bool, false)
        try browser.holdTalkButton(seconds: 0.3)
        let status = try browser.evaluate("document.getElementById('status').textContent") as? String ?? ""
        XCTAssertEqual(status, "microphone needs HTTPS or localhost — drop a WAV file instead")
        XCTAssertEqual(try browser.evaluate("window.kinevoxViewer.error") as? NSNull, NSNull(), "no uncaught error shown")
        XCTAssertEqual(try browser.evaluate("window.kinevoxViewer.pageErrors.length") as? Int, 0)
        _ = try browser.evaluate(Self.sendBeepWAV)
        try waitForUploads(harness, 1)
        XCTAssertEqual(harness.uploads[0].samples.count, 8_000, accuracy: 2)
    }

    /// Without three.js the page says what to install (and the server log does too).
    func testViewerExplainsMissingThreeJS() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.chromium) else {
            throw XCTSkip("chromium is not installed (Debian package chromium); the browser test needs it")
        }
        let harness = try ServerHarness { $0.threeDirectory = NSTemporaryDirectory() + "no-three-here" }
        defer { harness.stop() }
        let browser = try HeadlessChromium(url: "http://127.0.0.1:\(harness.server.port)/")
        defer { browser.stop() }
        XCTAssertTrue(try browser.waitUntil("window.kinevoxViewer && window.kinevoxViewer.connected", timeout: 30))
        let problem = try browser.evaluate("document.getElementById('problem').textContent") as? String ?? ""
        XCTAssertTrue(problem.contains("three.js is missing") && problem.contains("libjs-three"), problem)
        XCTAssertEqual(try browser.evaluate("getComputedStyle(document.getElementById('problem')).display") as? String, "block")
    }
}

/// Chromium in headless mode, driven through its DevTools WebSocket with `StreamClient`.
final class HeadlessChromium {
    private let process = Process()
    private let profile: URL
    private let devtools: StreamClient
    private var nextID = 1

    init(url: String, extraArguments: [String] = []) throws {
        profile = FileManager.default.temporaryDirectory.appendingPathComponent("kinevox-chromium-\(UUID().uuidString)")
        process.executableURL = URL(fileURLWithPath: ViewerBrowserTests.chromium)
        process.arguments = [
            "--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
            "--no-first-run", "--disable-extensions", "--mute-audio", "--window-size=960,600",
            "--remote-debugging-port=0", "--user-data-dir=\(profile.path)",
        ] + extraArguments + [url]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()

        // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/…" names the port.
        var seen = ""
        var port: Int?
        let deadline = ProcessInfo.processInfo.systemUptime + 30
        while port == nil && ProcessInfo.processInfo.systemUptime < deadline {
            let data = errors.fileHandleForReading.availableData
            if data.isEmpty { break }
            seen += String(decoding: data, as: UTF8.self)
            if let range = seen.range(of: "DevTools listening on ws://127.0.0.1:") {
                port = Int(seen[range.upperBound...].prefix { $0.isNumber })
            }
        }
        guard let port else {
            process.terminate()
            throw StreamClient.Failure.connect("chromium printed no DevTools address: \(seen)")
        }
        // Keep draining stderr so chromium never blocks on a full pipe.
        errors.fileHandleForReading.readabilityHandler = { _ = $0.availableData }

        var pagePath: String?
        while pagePath == nil && ProcessInfo.processInfo.systemUptime < deadline {
            let list = try httpGet(port: port, path: "/json/list").body
            let pages = (try? JSONSerialization.jsonObject(with: Data(list.utf8))) as? [[String: Any]] ?? []
            if let page = pages.first(where: { $0["type"] as? String == "page" && ($0["url"] as? String ?? "").hasPrefix(url) }),
               let socketURL = page["webSocketDebuggerUrl"] as? String,
               let range = socketURL.range(of: "/devtools/") {
                pagePath = String(socketURL[range.lowerBound...])
            } else {
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
        guard let pagePath else {
            process.terminate()
            throw StreamClient.Failure.connect("chromium never listed the viewer page")
        }
        devtools = try StreamClient(port: port, path: pagePath, subprotocol: nil)
    }

    func stop() {
        devtools.close()
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: profile)
    }

    /// Sends one DevTools command and returns its `result`.
    func call(_ method: String, _ params: [String: Any]) throws -> [String: Any] {
        let id = nextID
        nextID += 1
        let body = try JSONSerialization.data(withJSONObject: ["id": id, "method": method, "params": params])
        try devtools.send(text: String(decoding: body, as: UTF8.self))
        let deadline = ProcessInfo.processInfo.systemUptime + 20
        while ProcessInfo.processInfo.systemUptime < deadline {
            guard case .text(let text)? = try devtools.receive(timeout: 1) else { continue }
            let reply = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
            if reply["id"] as? Int == id {
                if let error = reply["error"] { throw StreamClient.Failure.protocolError("\(method): \(error)") }
                return reply["result"] as? [String: Any] ?? [:]
            }
        }
        throw StreamClient.Failure.timeout
    }

    /// The value of a JavaScript expression in the page (JSON-compatible values).
    func evaluate(_ expression: String) throws -> Any? {
        let result = try call("Runtime.evaluate", ["expression": expression, "returnByValue": true])
        return (result["result"] as? [String: Any])?["value"] ?? NSNull()
    }

    /// Polls `expression` until it is true; false after `timeout` seconds.
    func waitUntil(_ expression: String, timeout: Double) throws -> Bool {
        let deadline = ProcessInfo.processInfo.systemUptime + timeout
        while ProcessInfo.processInfo.systemUptime < deadline {
            if try evaluate("Boolean(\(expression))") as? Bool == true { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return false
    }

    /// Presses the viewer's "Hold to talk" button for `seconds` with DevTools mouse input (a user gesture);
    /// `whileHeld` runs half-way through.
    func holdTalkButton(seconds: Double, whileHeld: () throws -> Void = {}) throws {
        let rect = try evaluate(
            "(function(){var r=document.getElementById('talk').getBoundingClientRect();return [r.x+r.width/2,r.y+r.height/2];})()")
            as? [Double] ?? [0, 0]
        let point: [String: Any] = ["x": rect[0], "y": rect[1], "button": "left", "clickCount": 1]
        _ = try call("Input.dispatchMouseEvent", point.merging(["type": "mousePressed"]) { $1 })
        Thread.sleep(forTimeInterval: seconds / 2)
        try whileHeld()
        Thread.sleep(forTimeInterval: seconds / 2)
        _ = try call("Input.dispatchMouseEvent", point.merging(["type": "mouseReleased"]) { $1 })
    }

    /// Where three.js last drew the pelvis sphere.
    func pelvis() throws -> SIMD3<Double> {
        let p = try evaluate("window.kinevoxViewer.pelvisRendered()") as? [Double] ?? []
        guard p.count == 3 else { return SIMD3(.nan, .nan, .nan) }
        return SIMD3(p[0], p[1], p[2])
    }

    /// A PNG of the page, written to the temporary directory.
    func screenshot(named name: String) throws -> URL {
        let result = try call("Page.captureScreenshot", ["format": "png"])
        guard let base64 = result["data"] as? String, let png = Data(base64Encoded: base64) else {
            throw StreamClient.Failure.protocolError("no screenshot data")
        }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(name)
        try png.write(to: url)
        return url
    }
}

/// The `__metadata__` strings of a safetensors file, read from its JSON header.
enum ModelFileMetadata {
    static func value(of key: String, in path: String) throws -> String? {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        let size = try handle.read(upToCount: 8) ?? Data()
        guard size.count == 8 else { return nil }
        let length = size.enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try handle.read(upToCount: length) ?? Data()
        let object = try JSONSerialization.jsonObject(with: header) as? [String: Any]
        return (object?["__metadata__"] as? [String: String])?[key]
    }
}
