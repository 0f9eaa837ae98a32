import Foundation
import XCTest

/// kinevoxd as a process: refusals at start (status and one clear line), sd_notify datagrams, and
/// stopping on SIGTERM/SIGINT within 2 s.
final class DaemonLifecycleTests: DaemonTestCase {

    /// A configuration for `modelPath` on a kernel-chosen port, capturing from an ALSA device that never
    /// opens (as on a machine without a sound card); `extra` is appended.
    private func config(modelPath: String, listen: String = "127.0.0.1:0", device: String = "hw:99",
                        extra: String = "") throws -> String {
        try scratch.write("kinevox.toml", """
            [capture]
            device = "\(device)"
            [model]
            path = "\(modelPath)"
            threads = 1
            [server]
            listen = "\(listen)"
            \(extra)
            """)
    }

    private func workingModel() -> String { DaemonFixtures.tinyModel }

    func testUnknownKeyIsRefusedWithFileLineAndStatus2() throws {
        let path = try config(modelPath: workingModel(), extra: "[log]\nlevel = \"info\"\nverbose = true\n")
        let daemon = try launch(["--config", path])
        XCTAssertTrue(daemon.waitForExit(timeout: 10))
        XCTAssertEqual(daemon.exitStatus, 2)
        XCTAssertTrue(daemon.stderr.contains("\(path):10: [log] verbose: unknown key"), daemon.stderr)
        XCTAssertEqual(daemon.stderr.split(separator: "\n").count, 1, "one line: \(daemon.stderr)")
    }

    func testBadValueIsRefusedWithFileLineAndStatus2() throws {
        let path = try config(modelPath: workingModel(), extra: "[log]\nlevel = \"loud\"\n")
        let daemon = try launch(["--config", path])
        XCTAssertTrue(daemon.waitForExit(timeout: 10))
        XCTAssertEqual(daemon.exitStatus, 2)
        XCTAssertTrue(daemon.stderr.contains("\(path):9: [log] level: \"loud\" is not a log level"), daemon.stderr)
    }

    func testUnderJournaldLinesCarryThePriorityPrefixInsteadOfATimestamp() throws {
        let path = try config(modelPath: workingModel(), extra: "[log]\nlevel = \"loud\"\n")
        let daemon = try launch(["--config", path], journal: true)
        XCTAssertTrue(daemon.waitForExit(timeout: 10))
        XCTAssertEqual(daemon.exitStatus, 2)
        XCTAssertTrue(daemon.stderr.hasPrefix("<3>kinevoxd: \(path):9: "), daemon.stderr)
    }

    func testMissingConfigAndBadUsageExit2() throws {
        let missing = try launch(["--config", scratch.url.appendingPathComponent("absent.toml").path])
        XCTAssertTrue(missing.waitForExit(timeout: 10))
        XCTAssertEqual(missing.exitStatus, 2)
        XCTAssertTrue(missing.stderr.contains("absent.toml: cannot read the configuration file (no such file)"), missing.stderr)
        let usage = try launch(["--frobnicate"])
        XCTAssertTrue(usage.waitForExit(timeout: 10))
        XCTAssertEqual(usage.exitStatus, 2)
        XCTAssertTrue(usage.stderr.contains("unknown argument --frobnicate"), usage.stderr)
    }

    func testUnknownCaptureDeviceIsRefusedWithStatus2() throws {
        let path = try config(modelPath: workingModel(), device: "nosuchpcm")
        let daemon = try launch(["--config", path])
        XCTAssertTrue(daemon.waitForExit(timeout: 10))
        XCTAssertEqual(daemon.exitStatus, 2)
        XCTAssertTrue(daemon.stderr.contains("\(path):2: [capture] device: ALSA knows no PCM named \"nosuchpcm\""), daemon.stderr)
    }

    func testOutOfRangeServerValueIsRefusedAtItsLine() throws {
        let path = try config(modelPath: workingModel(), extra: "max_clients = 0\n")
        let daemon = try launch(["--config", path])
        XCTAssertTrue(daemon.waitForExit(timeout: 10))
        XCTAssertEqual(daemon.exitStatus, 2)
        XCTAssertTrue(daemon.stderr.contains("\(path):8: [server] max_clients: 0 is out of range"), daemon.stderr)
    }

    func testCorruptModelExits1WithOneLine() throws {
        let corrupt = try scratch.write("corrupt.safetensors", "\u{8}\0\0\0\0\0\0\0{\"a\":1}")
        let daemon = try launch(["--config", try config(modelPath: corrupt)])
        XCTAssertTrue(daemon.waitForExit(timeout: 10))
        XCTAssertEqual(daemon.exitStatus, 1)
        XCTAssertTrue(daemon.stderr.contains("cannot load the model: \(corrupt): "), daemon.stderr)
        XCTAssertEqual(daemon.stderr.split(separator: "\n").count, 1, "one line: \(daemon.stderr)")
    }

    func testPortInUseExits1WithOneLine() throws {
        let holder = try ListeningSocket()
        let daemon = try launch(["--config", try config(modelPath: workingModel(), listen: "127.0.0.1:\(holder.port)")])
        XCTAssertTrue(daemon.waitForExit(timeout: 20))
        XCTAssertEqual(daemon.exitStatus, 1)
        let errors = daemon.stderr.split(separator: "\n").filter { $0.contains("ERROR kinevoxd") }
        XCTAssertEqual(errors.count, 1, daemon.stderr)
        XCTAssertTrue(errors.first?.contains("port \(holder.port) is already in use") == true, daemon.stderr)
    }

    func testMissingModelExits1WithOneLine() throws {
        let absent = scratch.url.appendingPathComponent("absent.safetensors").path
        let daemon = try launch(["--config", try config(modelPath: absent)])
        XCTAssertTrue(daemon.waitForExit(timeout: 10))
        XCTAssertEqual(daemon.exitStatus, 1)
        XCTAssertTrue(daemon.stderr.contains("\(absent)"), daemon.stderr)
        XCTAssertEqual(daemon.stderr.split(separator: "\n").count, 1, "one line: \(daemon.stderr)")
    }

    func testNotifiesReadyWatchdogThenStoppingAndExitsWithin2sOnSIGTERM() throws {
        let socket = try NotifySocket(abstract: true, folder: scratch.url)
        let daemon = try launch(["--config", try config(modelPath: workingModel())],
                                environment: ["NOTIFY_SOCKET": socket.address, "WATCHDOG_USEC": "400000"])
        XCTAssertNotNil(socket.receive(containing: "READY=1", timeout: 30), daemon.stderr)
        XCTAssertNotNil(socket.receive(containing: "WATCHDOG=1", timeout: 2), "pings at half of WATCHDOG_USEC")
        let signalled = Date()
        daemon.send(SIGTERM)
        XCTAssertNotNil(socket.receive(containing: "STOPPING=1", timeout: 2))
        XCTAssertTrue(daemon.waitForExit(timeout: 2), "still running 2 s after SIGTERM")
        XCTAssertLessThan(Date().timeIntervalSince(signalled), 2.0)
        XCTAssertEqual(daemon.exitStatus, 0, daemon.stderr)
        let log = daemon.stderr
        let planned = try XCTUnwrap(log.range(of: "MiB planned for utterances up to"), log)
        XCTAssertLessThan(planned.lowerBound, try XCTUnwrap(log.range(of: "ready:"), log).lowerBound, "scratch planned before READY=1")
    }

    func testNotifiesOverAPathSocketAndStopsOnSIGINT() throws {
        let socket = try NotifySocket(abstract: false, folder: scratch.url)
        let daemon = try launch(["--config", try config(modelPath: workingModel())],
                                environment: ["NOTIFY_SOCKET": socket.address])
        XCTAssertNotNil(socket.receive(containing: "READY=1", timeout: 30), daemon.stderr)
        daemon.send(SIGINT)
        XCTAssertNotNil(socket.receive(containing: "STOPPING=1", timeout: 2))
        XCTAssertTrue(daemon.waitForExit(timeout: 2), "still running 2 s after SIGINT")
        XCTAssertEqual(daemon.exitStatus, 0, daemon.stderr)
    }
}
