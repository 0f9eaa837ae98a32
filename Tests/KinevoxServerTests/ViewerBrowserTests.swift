import Foundation
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
        let browser = try HeadlessChromium(url: "http://127.0.0.1:\(harness.server.port)/")
        defer { browser.stop() }

        let ready = try browser.waitUntil("window.kinevoxViewer && window.kinevoxViewer.connected", timeout: 30)
        XCTAssertTrue(ready, "the viewer never connected to the stream")
        XCTAssertEqual(try browser.evaluate("window.kinevoxViewer.threeLoaded") as? Bool, true)
        XCTAssertEqual(try browser.evaluate("window.kinevoxViewer.error") as? NSNull, NSNull())

        harness.speak()
        XCTAssertTrue(try browser.waitUntil("window.kinevoxViewer.framesRendered >= 5", timeout: 20))
        let firstShot = try browser.screenshot(named: "kinevox-viewer-1.png")
        // Sample where three.js draws the pelvis until the whole motion has arrived.
        var drawn: [SIMD3<Double>] = []
        let deadline = ProcessInfo.processInfo.systemUptime + 30
        while ProcessInfo.processInfo.systemUptime < deadline {
            drawn.append(try browser.pelvis())
            if try browser.evaluate("window.kinevoxViewer.framesReceived") as? Int ?? 0 >= harness.clip.frameCount { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let secondShot = try browser.screenshot(named: "kinevox-viewer-2.png")
        print("viewer screenshots: \(firstShot.path) \(secondShot.path)")

        // Clip 012314 carries the pelvis about 2.3 m from its start; the drawn sphere must follow.
        let start = drawn[0]
        let farthest = drawn.map { distance($0, start) }.max() ?? 0
        XCTAssertGreaterThan(farthest, 1.0, "pelvis drawn at \(drawn.count) samples, at most \(farthest) m from \(start)")
        XCTAssertGreaterThan(try browser.evaluate("window.kinevoxViewer.framesRendered") as? Int ?? 0, 20)
        let status = try browser.evaluate("document.getElementById('status').textContent") as? String ?? ""
        XCTAssertTrue(status.contains("connected") && status.contains("utterance #1"), status)
        XCTAssertNotEqual(try Data(contentsOf: firstShot), try Data(contentsOf: secondShot))
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

    init(url: String) throws {
        profile = FileManager.default.temporaryDirectory.appendingPathComponent("kinevox-chromium-\(UUID().uuidString)")
        process.executableURL = URL(fileURLWithPath: ViewerBrowserTests.chromium)
        process.arguments = [
            "--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
            "--no-first-run", "--disable-extensions", "--mute-audio", "--window-size=960,600",
            "--remote-debugging-port=0", "--user-data-dir=\(profile.path)", url,
        ]
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
