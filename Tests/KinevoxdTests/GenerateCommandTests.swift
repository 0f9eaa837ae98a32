import Foundation
import XCTest

/// `kinevox generate` as a process, on the tiny model: formats, determinism, exit statuses, and nothing
/// half-written at `--output`.
final class GenerateCommandTests: XCTestCase {
    private var scratch: ScratchFolder!

    override func setUpWithError() throws { scratch = try ScratchFolder() }
    override func tearDown() { scratch.remove() }

    private struct Run {
        let status: Int32
        let stdout: Data
        let stderr: String
    }

    private func generate(_ arguments: [String]) throws -> Run {
        let process = Process()
        process.executableURL = DaemonProcess.buildFolder.appendingPathComponent("kinevox")
        process.arguments = ["generate"] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: stdout, stderr: stderr)
    }

    private let model = ["--model", DaemonFixtures.tinyModel]

    func testJSONMotionOnStdoutIsDeterministicPerSeed() throws {
        let first = try generate(["--audio", DaemonFixtures.walkForward, "--seed", "3"] + model)
        XCTAssertEqual(first.status, 0, first.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: first.stdout) as? [String: Any])
        XCTAssertEqual(object["format"] as? String, "kinevox.motion.v1")
        XCTAssertEqual(object["fps"] as? Int, 20)
        XCTAssertEqual((object["joints"] as? [String])?.first, "pelvis")
        let frames = try XCTUnwrap(object["frames"] as? [[[Double]]])
        XCTAssertFalse(frames.isEmpty)
        XCTAssertTrue(frames.allSatisfy { $0.count == 22 && $0.allSatisfy { $0.count == 3 } })
        let timing = try XCTUnwrap(object["timing_ms"] as? [String: Double])
        XCTAssertEqual(Set(timing.keys), ["audio_encoder", "generator", "decoder", "total"])

        let again = try generate(["--audio", DaemonFixtures.walkForward, "--seed", "3", "--format", "npy"] + model)
        let twice = try generate(["--audio", DaemonFixtures.walkForward, "--seed", "3", "--format", "npy"] + model)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(again.stdout, twice.stdout, "same seed and audio, same bytes")
        XCTAssertEqual(again.stdout.count, 128 + frames.count * 22 * 3 * 4, "npy header + T×22×3 float32")
    }

    func testOutputFileFormats() throws {
        for (format, check) in [("bvh", "HIERARCHY"), ("hml263", "NUMPY")] {
            let path = scratch.url.appendingPathComponent("motion.\(format)").path
            let run = try generate(["--audio", DaemonFixtures.walkForward, "--format", format, "--output", path] + model)
            XCTAssertEqual(run.status, 0, run.stderr)
            XCTAssertTrue(run.stdout.isEmpty)
            let written = try Data(contentsOf: URL(fileURLWithPath: path))
            XCTAssertTrue(String(decoding: written.prefix(16), as: UTF8.self).contains(check), format)
        }
    }

    func testUnreadableAudioExits2AndWritesNothing() throws {
        let output = scratch.url.appendingPathComponent("motion.json").path
        let bogus = try scratch.write("speech.wav", "not a wav file")
        let run = try generate(["--audio", bogus, "--output", output] + model)
        XCTAssertEqual(run.status, 2)
        XCTAssertTrue(run.stderr.hasPrefix("kinevox generate: cannot read audio file \(bogus): "), run.stderr)
        XCTAssertEqual(run.stderr.components(separatedBy: bogus).count, 2, "the path once: \(run.stderr)")
        XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output))
    }

    func testAudioWithoutSpeechExits2BeforeTheModelRuns() throws {
        let output = scratch.url.appendingPathComponent("motion.json").path
        for (name, samples) in [("silence", NoSpeech.silence(seconds: 2)), ("noise", NoSpeech.whiteNoise(seconds: 2))] {
            let wav = try scratch.writeWAV("\(name).wav", samples: samples)
            // A model path that does not exist: reaching the model would exit 1 instead.
            let run = try generate(["--audio", wav, "--output", output, "--model", scratch.url.appendingPathComponent("none").path])
            XCTAssertEqual(run.status, 2, "\(name): \(run.stderr)")
            XCTAssertTrue(run.stderr.contains("\(wav): no speech found"), run.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: output))
        }
    }

    /// A model whose understanding head rejects the utterance (the fixture's threshold is 1.0): exit 3, one line on
    /// stderr naming the audio and the nearest action, nothing written; `--force` makes the motion anyway.
    func testNotUnderstoodExits3UnlessForced() throws {
        let output = scratch.url.appendingPathComponent("motion.json").path
        let head = ["--model", DaemonFixtures.tinyModelUnderstanding]
        let run = try generate(["--audio", DaemonFixtures.walkForward, "--output", output] + head)
        XCTAssertEqual(run.status, 3, run.stderr)
        XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
        XCTAssertTrue(run.stderr.hasPrefix("kinevox generate: \(DaemonFixtures.walkForward): not understood (nearest action bow, confidence 0.84)"),
                      run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output))

        let forced = try generate(["--audio", DaemonFixtures.walkForward, "--output", output, "--force"] + head)
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: output))
    }

    func testNegativeSeedIsExplained() throws {
        let run = try generate(["--audio", DaemonFixtures.walkForward, "--seed", "-1"] + model)
        XCTAssertEqual(run.status, 2)
        XCTAssertTrue(run.stderr.contains("--seed must be a whole number ≥ 0, got -1"), run.stderr)
        XCTAssertFalse(run.stderr.contains("Missing value"), run.stderr)
    }

    func testMissingModelExits1AndWritesNothing() throws {
        let output = scratch.url.appendingPathComponent("motion.json").path
        let absent = scratch.url.appendingPathComponent("absent.safetensors").path
        let run = try generate(["--audio", DaemonFixtures.walkForward, "--model", absent, "--output", output])
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.stderr.contains(absent), run.stderr)
        XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.url.path), [], "nothing written")
    }
}
