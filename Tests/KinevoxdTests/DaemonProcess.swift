import Foundation
import XCTest

/// A kinevoxd started from the build folder as a child process, with its stderr collected.
/// Used by the tests on the test thread only.
final class DaemonProcess {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The folder of the running test executable, where `swift build --build-tests` put kinevoxd and kinevox too:
    /// `.build/debug` for `make test`, the sanitizer build's folder for `make test-sanitize`, so the daemons these
    /// tests start carry the same instrumentation as the tests.
    static let buildFolder = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()

    /// The kinevoxd built beside the tests.
    static let executable = buildFolder.appendingPathComponent("kinevoxd")

    let process = Process()
    private let errorPipe = Pipe()
    private let collected = CollectedOutput()

    /// - Parameter journal: when true, `JOURNAL_STREAM` names the daemon's stderr pipe, as systemd does
    ///   when stderr is connected to journald.
    init(arguments: [String], environment: [String: String] = [:], journal: Bool = false) throws {
        process.executableURL = Self.executable
        process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment
        merged["NOTIFY_SOCKET"] = nil
        merged["WATCHDOG_USEC"] = nil
        merged["JOURNAL_STREAM"] = nil
        merged.merge(environment) { _, new in new }
        if journal {
            var status = stat()
            fstat(errorPipe.fileHandleForWriting.fileDescriptor, &status)
            merged["JOURNAL_STREAM"] = "\(status.st_dev):\(status.st_ino)"
        }
        process.environment = merged
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errorPipe
        errorPipe.fileHandleForReading.readabilityHandler = { [collected] handle in
            collected.append(handle.availableData)
        }
        try process.run()
    }

    /// Everything the daemon wrote to stderr so far.
    var stderr: String { collected.text }

    /// Waits until the process exits or `timeout` seconds pass; returns whether it exited.
    @discardableResult
    func waitForExit(timeout: TimeInterval) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if !process.isRunning {
            process.waitUntilExit()
            usleep(50_000)
            errorPipe.fileHandleForReading.readabilityHandler = nil
            collected.append(errorPipe.fileHandleForReading.readDataToEndOfFile())
        }
        return !process.isRunning
    }

    /// Waits until stderr contains `text`, or `timeout` seconds pass.
    func waitForLog(_ text: String, timeout: TimeInterval) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while Date() < deadline {
            if stderr.contains(text) { return true }
            if !process.isRunning { return stderr.contains(text) }
            usleep(20_000)
        }
        return false
    }

    /// The exit status once the daemon has exited normally; nil while it runs or after a signal killed it.
    var exitStatus: Int32? {
        guard !process.isRunning, process.terminationReason == .exit else { return nil }
        return process.terminationStatus
    }

    /// Sends `signal` to the daemon.
    func send(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Kills a daemon a failed test left running.
    func terminateIfRunning() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// Bytes a child process wrote, appended on the pipe's reader thread and read on the test thread.
final class CollectedOutput: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()

    func append(_ more: Data) {
        lock.withLock { data.append(more) }
    }

    var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
}

/// A temporary folder for one test's files, removed by `remove()`.
struct ScratchFolder {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("kinevoxd-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// Writes `text` to `name` in the folder and returns its path.
    func write(_ name: String, _ text: String) throws -> String {
        let file = url.appendingPathComponent(name)
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    /// Writes `samples` as a 16-bit mono WAV file `name` in the folder and returns its path.
    func writeWAV(_ name: String, samples: [Int16], sampleRate: Int = 16_000) throws -> String {
        func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xff) } }
        func le16(_ v: Int) -> [UInt8] { (0..<2).map { UInt8((v >> (8 * $0)) & 0xff) } }
        var bytes = Array("RIFF".utf8) + le32(36 + 2 * samples.count) + Array("WAVEfmt ".utf8)
        bytes += le32(16) + le16(1) + le16(1) + le32(sampleRate) + le32(2 * sampleRate) + le16(2) + le16(16)
        bytes += Array("data".utf8) + le32(2 * samples.count)
        for sample in samples { bytes += le16(Int(UInt16(bitPattern: sample))) }
        let file = url.appendingPathComponent(name)
        try Data(bytes).write(to: file)
        return file.path
    }

    func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}

/// Audio with no speech in it: `seconds` of digital silence, or of white noise at about −12 dBFS.
enum NoSpeech {
    static func silence(seconds: Double) -> [Int16] { [Int16](repeating: 0, count: Int(seconds * 16_000)) }

    static func whiteNoise(seconds: Double) -> [Int16] {
        var generator = SystemRandomNumberGenerator()
        return (0..<Int(seconds * 16_000)).map { _ in Int16.random(in: -8_000...8_000, using: &generator) }
    }
}

/// The committed fixtures of these tests (Tests/Fixtures/Daemon/, written by
/// Training/kinevox_train/fixtures/daemon.py).
enum DaemonFixtures {
    static let folder = DaemonProcess.repositoryRoot.appendingPathComponent("Tests/Fixtures/Daemon")
    /// A complete, tiny, random model file (front end, audio encoder, generator).
    static let tinyModel = folder.appendingPathComponent("tiny_model.safetensors").path
    /// The tiny model with an untrained understanding head whose threshold (1.0) rejects every utterance.
    static let tinyModelUnderstanding = folder.appendingPathComponent("tiny_model_understanding.safetensors").path
    /// The PyTorch twin's verdict on `walkForward` through `tinyModelUnderstanding` (action, confidence).
    static let understandingParity = folder.appendingPathComponent("understanding_parity.json").path
    /// "walk forward" spoken by espeak-ng: 16 kHz mono 16-bit, 0.5 s of quiet before, 1.2 s after.
    static let walkForward = folder.appendingPathComponent("walk_forward.wav").path

    /// The samples of a 16-bit mono WAV file (its data chunk).
    static func samples(ofWAV path: String) throws -> [Int16] {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var offset = 12
        while offset + 8 <= bytes.count {
            let id = String(decoding: bytes[offset..<offset + 4], as: UTF8.self)
            let size = Int(bytes[offset + 4]) | Int(bytes[offset + 5]) << 8 | Int(bytes[offset + 6]) << 16 | Int(bytes[offset + 7]) << 24
            if id == "data" {
                let data = bytes[(offset + 8)..<min(bytes.count, offset + 8 + size)]
                return stride(from: data.startIndex, to: data.endIndex - 1, by: 2).map {
                    Int16(bitPattern: UInt16(data[$0]) | UInt16(data[$0 + 1]) << 8)
                }
            }
            offset += 8 + size + (size & 1)
        }
        throw CocoaError(.fileReadCorruptFile)
    }
}

/// A TCP socket listening on a kernel-chosen loopback port, holding it so a daemon cannot bind it.
final class ListeningSocket {
    let port: Int
    private let fd: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
                bind(fd, pointer, length) == 0 && listen(fd, 4) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { close(fd); throw POSIXError(.EADDRINUSE) }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }
}

/// A test case that starts kinevoxd processes: each test gets a scratch folder, and every daemon it
/// launched is killed (if still running) and the folder removed after it.
class DaemonTestCase: XCTestCase {
    private(set) var scratch: ScratchFolder!
    private var daemons: [DaemonProcess] = []

    override func setUpWithError() throws {
        scratch = try ScratchFolder()
    }

    override func tearDown() {
        daemons.forEach { $0.terminateIfRunning() }
        scratch.remove()
    }

    /// Starts kinevoxd with `arguments` (see `DaemonProcess.init`).
    func launch(_ arguments: [String], environment: [String: String] = [:], journal: Bool = false) throws -> DaemonProcess {
        let daemon = try DaemonProcess(arguments: arguments, environment: environment, journal: journal)
        daemons.append(daemon)
        return daemon
    }
}
