import Foundation
import XCTest

/// A kinevoxd started from the build folder as a child process, with its stderr collected.
/// Used by the tests on the test thread only.
final class DaemonProcess {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The debug kinevoxd that `swift build --build-tests` built beside the tests.
    static let executable = repositoryRoot.appendingPathComponent(".build/debug/kinevoxd")

    let process = Process()
    private let errorPipe = Pipe()
    private let collected = CollectedOutput()

    init(arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = Self.executable
        process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment
        merged["NOTIFY_SOCKET"] = nil
        merged["WATCHDOG_USEC"] = nil
        merged["JOURNAL_STREAM"] = nil
        merged.merge(environment) { _, new in new }
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

    func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}
