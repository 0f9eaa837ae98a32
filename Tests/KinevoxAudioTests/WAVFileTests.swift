import Foundation
import XCTest
@testable import KinevoxAudio

/// WAV decoding and 16 kHz conversion, on files each test writes itself (sox, or bytes by hand).
final class WAVFileTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kinevox-audio-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(at: directory)
    }

    /// Runs sox (dither off) to synthesise a file from `format` output options and an effect chain.
    private func sox(_ name: String, _ format: [String], effects: [String]) throws -> String {
        let path = directory.appendingPathComponent(name).path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["sox", "-D", "-n"] + format + [path] + effects
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "sox failed for \(name)")
        return path
    }

    /// A 16-bit mono PCM WAV header followed by `samples`; `declaredBytes` overrides the data size.
    private func handWrittenWAV(_ name: String, samples: [Int16], declaredBytes: UInt32? = nil) throws -> String {
        func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }
        func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
        let dataBytes = UInt32(samples.count * 2)
        var bytes = Array("RIFF".utf8) + le32(36 + (declaredBytes ?? dataBytes)) + Array("WAVEfmt ".utf8)
        bytes += le32(16) + le16(1) + le16(1) + le32(16_000) + le32(32_000) + le16(2) + le16(16)
        bytes += Array("data".utf8) + le32(declaredBytes ?? dataBytes)
        for s in samples { bytes += le16(UInt16(bitPattern: s)) }
        let path = directory.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Max |x - 0.5 sin(2π·440·t)| over the middle of a 16 kHz signal (edges hold filter transients).
    private func sineError(_ samples: [Float], amplitude: Float = 0.5) -> Float {
        let middle = samples.count / 4..<(3 * samples.count / 4)
        return middle.map { abs(samples[$0] - amplitude * Float(sin(2 * Double.pi * 440 * Double($0) / 16_000))) }.max() ?? .infinity
    }

    func testSampleFormatsDecodeToTheSameSine() throws {
        // Dither is off (sox -D): the error is half a quantisation step, 1/256 for 8 bits.
        let formats: [(String, [String], Float)] = [
            ("u8.wav", ["-b", "8", "-e", "unsigned-integer"], 0.004),
            ("s16.wav", ["-b", "16"], 1e-3),
            ("s24.wav", ["-b", "24"], 1e-3),
            ("s32.wav", ["-b", "32"], 1e-3),
            ("f32.wav", ["-b", "32", "-e", "floating-point"], 1e-3),
        ]
        for (name, options, tolerance) in formats {
            let path = try sox(name, ["-r", "16000", "-c", "1"] + options, effects: ["synth", "1", "sine", "440", "vol", "0.5"])
            let samples = try WAVFile.readMono(path)
            XCTAssertEqual(samples.count, 16_000, name)
            XCTAssertLessThan(sineError(samples), tolerance, name)
        }
    }

    func testOtherRatesAreResampledTo16kHz() throws {
        for rate in [8_000, 22_050, 44_100, 48_000] {
            let path = try sox("r\(rate).wav", ["-r", "\(rate)", "-c", "1", "-b", "16"], effects: ["synth", "1", "sine", "440", "vol", "0.5"])
            let samples = try WAVFile.readMono(path)
            XCTAssertEqual(samples.count, 16_000, accuracy: 2, "rate \(rate)")
            // soxr HQ keeps the passband within ~1e-3 of the ideal sine.
            XCTAssertLessThan(sineError(samples), 5e-3, "rate \(rate)")
        }
    }

    func testStereoIsAveragedToMono() throws {
        // Left channel carries the sine, right is silent: the mono mix is half the sine.
        let path = try sox("stereo.wav", ["-r", "48000", "-c", "2", "-b", "16"],
                           effects: ["synth", "1", "sine", "440", "sine", "440", "vol", "0.5", "remix", "1", "0"])
        let decoded = try WAVFile.decode(path)
        XCTAssertEqual(decoded.channels, 2)
        let samples = try WAVFile.readMono(path)
        XCTAssertLessThan(sineError(samples, amplitude: 0.25), 5e-3)
    }

    func testTruncatedFileIsAnError() throws {
        let path = try handWrittenWAV("truncated.wav", samples: [Int16](repeating: 1000, count: 800), declaredBytes: 32_000)
        XCTAssertThrowsError(try WAVFile.readMono(path)) { error in
            XCTAssertEqual(error as? AudioError, .truncated(path: path, declaredFrames: 16_000, availableFrames: 800))
        }
    }

    func testSixChannelFloatIsAveraged() throws {
        // Six identical float channels at 22.05 kHz (sox writes WAVE_FORMAT_EXTENSIBLE): the mix is the sine.
        let path = try sox("six.wav", ["-r", "22050", "-c", "6", "-b", "32", "-e", "floating-point"],
                           effects: ["synth", "1", "sine", "440", "vol", "0.5"])
        XCTAssertEqual(try WAVFile.decode(path).channels, 6)
        XCTAssertLessThan(sineError(try WAVFile.readMono(path)), 5e-3)
    }

    func testFileCutShortIsAnError() throws {
        let path = try sox("cut.wav", ["-r", "16000", "-c", "1", "-b", "24"], effects: ["synth", "1", "sine", "440"])
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        try whole.prefix(whole.count - 3000).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try WAVFile.readMono(path)) { error in
            XCTAssertEqual(error as? AudioError, .truncated(path: path, declaredFrames: 16_000, availableFrames: 15_000))
        }
    }

    func testWrongHeaderIsAnError() throws {
        let path = directory.appendingPathComponent("text.wav").path
        try Data("this is not audio at all, just some words".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try WAVFile.readMono(path)) { error in
            guard case .unreadable(let p, _)? = error as? AudioError else { return XCTFail("got \(error)") }
            XCTAssertEqual(p, path)
        }
    }

    func testMissingFileIsAnError() {
        let path = directory.appendingPathComponent("absent.wav").path
        XCTAssertThrowsError(try WAVFile.readMono(path)) { error in
            guard case .unreadable? = error as? AudioError else { return XCTFail("got \(error)") }
        }
    }

    func testZeroSamplesIsAnError() throws {
        let path = try handWrittenWAV("empty.wav", samples: [])
        XCTAssertThrowsError(try WAVFile.readMono(path)) { error in
            XCTAssertEqual(error as? AudioError, .empty(path: path))
        }
    }

    /// Found by Fuzz/fuzz-wav: 80 stereo frames declared at 134,225,728 Hz resampled to an empty array, which
    /// readMono returned as if it were audio.
    func testFewFramesAtAHugeRateAreTooShort() throws {
        let input = "UklGRsQAAABXQVZFZm10IBAAAAABAAIAQB8ACIA+AAACAAgAZGF0YaAAAACCgpSVqai6usnI0tPZ2dnZ1dXMy7/Ar6+cnIiHcnJeXUtLPDwwMCkpJyYpKTAwOzxMSl5ecnKHh5ybr6/AwMzM1dXZ2tjY09PJyLq7qKmUlYCAa2xYV0ZGNzgtLSgoJicrKzM0QEFRUmVleXmPjaKjtbXExNDQ19fa2dfX0NDExLS1oqKOjnp5ZGVRUkFBMzMrKicnJygtLjc3RkZXV2tr"
        let path = directory.appendingPathComponent("huge-rate.wav").path
        try XCTUnwrap(Data(base64Encoded: input)).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try WAVFile.readMono(path)) { error in
            XCTAssertEqual(error as? AudioError, .tooShort(path: path, frames: 80, sampleRate: 134_225_728, outputRate: 16_000))
            XCTAssertEqual("\(error)", "audio file \(path) is too short: its 80 frames at 134225728 Hz give no sample at 16000 Hz")
        }
    }

    func testLongerThan30SecondsIsAnError() throws {
        let path = try sox("long.wav", ["-r", "8000", "-c", "1", "-b", "8"], effects: ["synth", "31", "sine", "440"])
        XCTAssertThrowsError(try WAVFile.readMono(path)) { error in
            XCTAssertEqual(error as? AudioError, .tooLong(path: path, seconds: 31, limitSeconds: 30))
        }
    }

    func testHandWrittenSamplesRoundTrip() throws {
        let values: [Int16] = [0, 1, -1, 16_384, -16_384, 32_767, -32_768]
        let path = try handWrittenWAV("exact.wav", samples: values)
        XCTAssertEqual(try WAVFile.readMono(path), values.map { Float($0) / 32768 })
    }
}
