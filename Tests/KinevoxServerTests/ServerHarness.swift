import Foundation
import KinevoxMotion
import XCTest
@testable import KinevoxServer

/// Repository paths, found from this file's location.
enum RepoPaths {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let viewer = root.appendingPathComponent("Sources/KinevoxServer/Viewer").path
    /// The bundled model file (its metadata lists the commands the viewer offers).
    static let bundledModel = root.appendingPathComponent("Models/kinevox-default.safetensors").path
    /// HumanML3D clip 012314 (170 frames × 22 joints), read in place from ../shared.
    static let recordedMotion = root.appendingPathComponent("../shared/data/humanml3d/new_joints_012314.npy")
        .standardizedFileURL
}

/// A real server, playback clock and pipeline on a free loopback port, fed recorded motion.
/// Every utterance (microphone or upload) goes through `pipeline`, as in the daemon.
final class ServerHarness {
    let metrics = ServerMetrics()
    let server: StreamServer
    let clock: PlaybackClock
    let pipeline: MotionPipeline
    let clip: MotionClip
    private let uploadsLock = NSLock()
    private var uploadsSeen: [Utterance] = []
    private let log = LineLog()

    /// `speed` runs the clock faster than real time so tests stay short.
    init(speed: Double = 8, configure: (inout ServerConfig) -> Void = { _ in }) throws {
        var config = ServerConfig()
        config.listen = "127.0.0.1:0"
        config.viewerDirectory = RepoPaths.viewer
        configure(&config)
        clip = try MotionClip(npyFile: RepoPaths.recordedMotion)
        let log: (String) -> Void = { [log = self.log] line in log.append(line) }
        server = StreamServer(config: config, metrics: metrics, log: log)
        let server = self.server
        clock = PlaybackClock(speed: speed) { server.broadcast($0) }
        pipeline = MotionPipeline(source: try RecordedMotionSource(clips: [clip]), clock: clock, server: server,
                                  metrics: metrics, log: log)
        server.onUtterance = { [pipeline, uploadsLock] utterance in
            uploadsLock.withLock { self.uploadsSeen.append(utterance) }
            pipeline.submit(utterance)
        }
        try server.start()
        clock.start()
        pipeline.start()
    }

    /// Lines the server and pipeline logged so far.
    var logLines: [String] { log.lines }

    var uploads: [Utterance] { uploadsLock.withLock { uploadsSeen } }

    /// How many utterances the server handed on so far, read under the lock. (`uploads.count` while uploads still
    /// arrive reads a copy's buffer after the lock is released while the server thread appends; Swift's copy-on-write
    /// makes that safe, but its reference counts live in the uninstrumented Swift runtime, so ThreadSanitizer reports
    /// it as a race: docs/reliability.md.)
    var uploadCount: Int { uploadsLock.withLock { uploadsSeen.count } }

    func stop() {
        pipeline.stop()
        clock.stop()
        server.stop()
        server.onUtterance = nil
    }

    /// A connected client that has already read its `hello`.
    func connect(headers: [String: String] = [:], subprotocol: String? = "kinevox.v1", path: String = "/") throws -> StreamClient {
        let client = try StreamClient(port: server.port, path: path, headers: headers, subprotocol: subprotocol)
        let hello = try nextMessage(client)
        XCTAssertEqual(hello["type"] as? String, "hello")
        return client
    }

    /// One microphone utterance of `seconds` of silence, as the capture thread would hand it over.
    @discardableResult
    func speak(seconds: Double = 1.2) -> Int {
        pipeline.submit(Utterance(samples: [Int16](repeating: 0, count: Int(seconds * 16_000)), sampleRate: 16_000,
                                  origin: .microphone))
    }

    /// An HTTP GET on the server's port.
    func get(_ path: String, headers: [String: String] = [:]) throws -> (status: Int, body: String) {
        try httpGet(port: server.port, path: path, headers: headers)
    }
}

/// A plain HTTP/1.1 GET on 127.0.0.1:`port`: status and body.
func httpGet(port: Int, path: String, headers: [String: String] = [:]) throws -> (status: Int, body: String) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
    let ok = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Foundation.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard ok == 0 else { throw StreamClient.Failure.connect("GET \(path) on port \(port)") }
    var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
    for (k, v) in headers { request += "\(k): \(v)\r\n" }
    request += "\r\n"
    _ = request.withCString { send(fd, $0, strlen($0), 0) }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var response: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let n = recv(fd, &chunk, chunk.count, 0)
        if n <= 0 { break }
        response += chunk[0..<n]
    }
    let text = String(decoding: response, as: UTF8.self)
    let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
    let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
    return (status, body)
}

/// The next text message as a JSON object; fails the test on timeout, close or binary.
func nextMessage(_ client: StreamClient, timeout: Double = 5, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
    guard let message = try client.receive(timeout: timeout) else {
        XCTFail("no message within \(timeout) s", file: file, line: line)
        throw StreamClient.Failure.timeout
    }
    guard case .text(let text) = message,
          let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
    else {
        XCTFail("expected a JSON text message, got \(message)", file: file, line: line)
        throw StreamClient.Failure.protocolError("unexpected \(message)")
    }
    return object
}

/// Reads messages until one of `type` arrives (returning it) and returns the ones skipped too.
func waitFor(_ type: String, on client: StreamClient, timeout: Double = 10,
             file: StaticString = #filePath, line: UInt = #line) throws -> (message: [String: Any], skipped: [[String: Any]]) {
    var skipped: [[String: Any]] = []
    let deadline = ProcessInfo.processInfo.systemUptime + timeout
    while ProcessInfo.processInfo.systemUptime < deadline {
        let m = try nextMessage(client, timeout: deadline - ProcessInfo.processInfo.systemUptime, file: file, line: line)
        if m["type"] as? String == type { return (m, skipped) }
        skipped.append(m)
    }
    XCTFail("no \(type) within \(timeout) s", file: file, line: line)
    throw StreamClient.Failure.timeout
}

/// The pelvis of a frame message.
func pelvis(of frame: [String: Any]) -> SIMD3<Double> {
    let joints = frame["joints"] as? [[Double]] ?? []
    guard let p = joints.first, p.count == 3 else { return SIMD3(.nan, .nan, .nan) }
    return SIMD3(p[0], p[1], p[2])
}

func distance(_ a: SIMD3<Double>, _ b: SIMD3<Double>) -> Double {
    let d = a - b
    return (d * d).sum().squareRoot()
}

/// Log lines collected from any thread.
final class LineLog: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func append(_ line: String) { lock.withLock { stored.append(line) } }
    var lines: [String] { lock.withLock { stored } }
}
