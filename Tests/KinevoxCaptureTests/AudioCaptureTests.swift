import Foundation
import Synchronization
import XCTest
@testable import KinevoxCapture

/// Collects capture events from the capture thread for inspection by the test thread.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [CaptureEvent] = []
    func append(_ event: CaptureEvent) { lock.lock(); stored.append(event); lock.unlock() }
    var events: [CaptureEvent] { lock.lock(); defer { lock.unlock() }; return stored }
}

final class AudioCaptureTests: XCTestCase {
    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("kinevox-capture-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    /// Deterministic test audio: a chirp plus pseudo-random noise, covering the full s16 range.
    private func knownSamples(count: Int) -> [Int16] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        return (0..<count).map { i in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let noise = Double(Int64(bitPattern: state) >> 51) // ±4096
            let tone = 20_000 * sin(Double(i) * Double(i) * 1e-6)
            if i % 4_001 == 0 { return i % 2 == 0 ? Int16.max : Int16.min }
            return Int16(max(-32_768, min(32_767, tone + noise)))
        }
    }

    /// Fails with the first differing index instead of printing whole arrays.
    private func assertSameSamples(_ got: [Int16], _ expected: [Int16], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, expected.count, "sample count", file: file, line: line)
        if let i = (0..<min(got.count, expected.count)).first(where: { got[$0] != expected[$0] }) {
            XCTFail("first difference at sample \(i): \(got[i]) instead of \(expected[i])", file: file, line: line)
        }
    }

    private func run(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "\(arguments.joined(separator: " ")) failed")
    }

    /// Writes `samples` as a 16 kHz mono 16-bit WAV through sox (an independent encoder).
    private func writeWAV(_ samples: [Int16], name: String) throws -> String {
        let raw = scratch.appendingPathComponent(name + ".in.raw")
        try samples.withUnsafeBytes { Data($0) }.write(to: raw)
        let wav = scratch.appendingPathComponent(name + ".wav").path
        try run(["sox", "-t", "raw", "-r", "16000", "-c", "1", "-e", "signed", "-b", "16", raw.path, wav])
        return wav
    }

    /// Reads everything a capture delivers until its file source ends (or `timeout` passes).
    private func drain(_ capture: AudioCapture, timeout: TimeInterval) -> [Int16] {
        var out: [Int16] = []
        var buffer = [Int16](repeating: 0, count: 1_024)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let n = buffer.withUnsafeMutableBufferPointer { capture.read(into: $0) }
            out.append(contentsOf: buffer[0..<n])
            if n == 0 {
                if capture.reachedEndOfInput && capture.ring.count == 0 { break }
                usleep(2_000)
            }
        }
        return out
    }

    /// sox writes the WAV (an independent encoder), KinevoxAudio reads it, ALSA's file plugin carries it.
    func testFileSourceDeliversTheWAVSampleExactThroughALSA() throws {
        let samples = knownSamples(count: 16_000 * 3 + 77)
        let wav = try writeWAV(samples, name: "exact")
        let events = EventLog()
        let capture = try AudioCapture(.init(source: CaptureSource(deviceSetting: "file:" + wav, filePace: .fast),
                                             ringSeconds: 0.25),
                                       log: { events.append($0) })
        capture.start()
        let captured = drain(capture, timeout: 20)
        capture.stop()
        XCTAssertEqual(captured.count, samples.count, "past EOF ALSA returns zeros; the source must stop at the end")
        assertSameSamples(captured, samples)
        XCTAssertEqual(capture.ring.droppedSamples, 0)
        XCTAssertTrue(events.events.contains(.endOfInput(samples: samples.count)), "\(events.events)")
        XCTAssertTrue(events.events.contains(.opened(source: "file:" + wav, periodFrames: 320)), "\(events.events)")
    }

    func testRealTimePaceTakesAboutTheFileDuration() throws {
        let samples = knownSamples(count: 8_000)
        let wav = try writeWAV(samples, name: "paced")
        let capture = try AudioCapture(.init(source: .file(path: wav, pace: .realTime), periodMs: 20),
                                       log: { _ in })
        let begin = Date()
        capture.start()
        let captured = drain(capture, timeout: 10)
        let elapsed = Date().timeIntervalSince(begin)
        capture.stop()
        assertSameSamples(captured, samples)
        XCTAssertGreaterThanOrEqual(elapsed, 0.45, "0.5 s of audio must not arrive faster than real time")
    }

    func testMissingDeviceIsReportedAndRetriedWithBackoff() throws {
        let events = EventLog()
        let capture = try AudioCapture(.init(source: .device("kinevox_no_such_pcm"),
                                             initialRetryDelay: 0.05, maxRetryDelay: 0.2),
                                       log: { events.append($0) })
        capture.start()
        Thread.sleep(forTimeInterval: 0.8)
        let begin = Date()
        capture.stop()
        XCTAssertLessThan(Date().timeIntervalSince(begin), 0.5, "stop must not wait out the backoff")
        let failures = events.events.compactMap { event -> (CaptureError, Double)? in
            if case .openFailed(let error, let delay) = event { return (error, delay) }
            return nil
        }
        XCTAssertGreaterThanOrEqual(failures.count, 3)
        XCTAssertTrue(failures[0].0.message.contains("\"kinevox_no_such_pcm\""), failures[0].0.message)
        let delays: [Double] = failures.prefix(4).map { $0.1 }
        XCTAssertEqual(delays, Array([0.05, 0.1, 0.2, 0.2].prefix(delays.count)))
        XCTAssertFalse(capture.reachedEndOfInput)
    }

    func testSourceThatAppearsLaterIsPickedUpOnRetry() throws {
        let samples = knownSamples(count: 4_000)
        let wav = scratch.appendingPathComponent("late.wav").path
        let events = EventLog()
        let appearsLater: SampleDecoder = { path in
            guard FileManager.default.fileExists(atPath: path) else { throw CaptureError("\(path) does not exist yet") }
            return try wavSampleDecoder(path)
        }
        let capture = try AudioCapture(.init(source: .file(path: wav, pace: .fast), initialRetryDelay: 0.05),
                                       decode: appearsLater, log: { events.append($0) })
        capture.start()
        let deadline = Date().addingTimeInterval(5)
        while !events.events.contains(where: { if case .openFailed = $0 { return true } else { return false } }),
              Date() < deadline {
            usleep(10_000)
        }
        let written = try writeWAV(samples, name: "late-written")
        try FileManager.default.moveItem(atPath: written, toPath: wav)
        let captured = drain(capture, timeout: 10)
        capture.stop()
        assertSameSamples(captured, samples)
        XCTAssertTrue(events.events.contains { if case .openFailed = $0 { return true } else { return false } })
    }

    func testStopEndsAnEndlessCaptureQuickly() throws {
        let wav = try writeWAV(knownSamples(count: 16_000 * 60), name: "long")
        let capture = try AudioCapture(.init(source: .file(path: wav, pace: .realTime)), log: { _ in })
        capture.start()
        Thread.sleep(forTimeInterval: 0.3)
        let begin = Date()
        capture.stop()
        XCTAssertLessThan(Date().timeIntervalSince(begin), 0.2)
        XCTAssertFalse(capture.reachedEndOfInput)
        XCTAssertGreaterThan(capture.ring.count, 16_000 / 10)
    }

    func testListenerCutsTheSameUtterancesThroughALSAAsOffline() throws {
        var signal = SignalBuilder(seconds: 12, seed: 3)
        signal.addNoise(dbfs: -50)
        for (start, end) in [(1.0, 2.5), (4.0, 4.8), (7.0, 10.5)] { signal.addVoiced(dbfs: -20, from: start, to: end, depth: 0.5) }
        let pcm = signal.pcm
        let wav = try writeWAV(pcm, name: "listen")
        let capture = try AudioCapture(.init(source: .file(path: wav, pace: .fast), ringSeconds: 0.5),
                                       log: { _ in })
        let listener = try UtteranceListener(capture: capture, config: VADConfig(), pollMs: 5)
        var live: [Utterance] = []
        listener.run { live.append($0) }
        let offline = try UtteranceSegmenter.utterances(in: pcm, config: VADConfig())
        XCTAssertEqual(live.count, 3)
        XCTAssertTrue(live == offline, "ALSA capture changed the utterances")
        XCTAssertEqual(listener.position, pcm.count / 160 * 160)
    }

    private struct Truth: Decodable { let speech_s: [[Double]] }

    /// Runs a fixture of Tests/Fixtures/Capture through ALSA's file plugin and the VAD loop, and checks
    /// each utterance's speech against the fixture's truth within `tolerance` seconds.
    private func assertFixtureCut(_ name: String, pace: FilePace, tolerance: Double,
                                  file: StaticString = #filePath, line: UInt = #line) throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures/Capture")
        let truth = try JSONDecoder().decode(Truth.self, from: Data(contentsOf: fixtures.appendingPathComponent(name + ".json")))
        let capture = try AudioCapture(.init(source: .file(path: fixtures.appendingPathComponent(name + ".wav").path, pace: pace)),
                                       log: { _ in })
        let listener = try UtteranceListener(capture: capture, config: VADConfig(), pollMs: 5)
        var utterances: [Utterance] = []
        listener.run { utterances.append($0) }
        let spans = utterances.map { (Double($0.speechStartSample) / 16_000, Double($0.speechEndSample) / 16_000) }
        XCTAssertEqual(utterances.count, truth.speech_s.count, "\(spans)", file: file, line: line)
        for (u, span) in zip(spans, truth.speech_s) {
            XCTAssertEqual(u.0, span[0], accuracy: tolerance, "start", file: file, line: line)
            XCTAssertEqual(u.1, span[1], accuracy: tolerance, "end", file: file, line: line)
        }
    }

    /// Real speech: two espeak-ng instructions in pink noise (20 dB SNR), written by
    /// `python -m kinevox_train.vadbench.fixture`, through ALSA and the VAD loop.
    func testSpokenCommandsInNoiseAreCutAtTheirSpeech() throws {
        try assertFixtureCut("two_commands", pace: .fast, tolerance: 0.05)
    }

    /// Never deaf: four instructions (espeak-ng and flite voices, −22 to −34 dBFS) from the first sample on,
    /// with digitally silent gaps, at real-time pace (the noise tracker used to start at the speech's level
    /// and stay there, finding only the first one). Tolerance: the benchmark's 200 ms.
    func testRecordingStartingInSpeechWithDigitallySilentGapsYieldsEveryUtterance() throws {
        try assertFixtureCut("speech_first_silent_gaps", pace: .realTime, tolerance: 0.2)
    }

    func testListenerStopsOnRequest() throws {
        let capture = try AudioCapture(.init(source: .device("kinevox_no_such_pcm"), initialRetryDelay: 0.05), log: { _ in })
        let listener = try UtteranceListener(capture: capture, config: VADConfig(), pollMs: 10)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { listener.stop() }
        let begin = Date()
        listener.run { _ in XCTFail("no audio, no utterance") }
        XCTAssertLessThan(Date().timeIntervalSince(begin), 2)
    }

    func testBadSettingsAreRefused() {
        XCTAssertThrowsError(try AudioCapture(.init(source: .device("default"), sampleRate: 100), log: { _ in }))
        XCTAssertThrowsError(try AudioCapture(.init(source: .device("default"), periodMs: 0), log: { _ in }))
    }
}
