import XCTest
@testable import KinevoxAudio

/// Streaming resampling and s16 conversion used by capture and push-to-talk PCM.
final class ResamplerTests: XCTestCase {
    private func sine(rate: Double, seconds: Double) -> [Float] {
        (0..<Int(rate * seconds)).map { Float(0.5 * sin(2 * Double.pi * 440 * Double($0) / rate)) }
    }

    func testStreamingEqualsWholeSignal() throws {
        let input = sine(rate: 48_000, seconds: 0.5)
        let whole = try resample(input, from: 48_000)
        let streaming = try Resampler(inputRate: 48_000)
        var pieces: [Float] = []
        var start = 0
        for size in [1, 7, 480, 1000, 4801, 3] + Array(repeating: 2000, count: 20) where start < input.count {
            let end = min(start + size, input.count)
            pieces += try streaming.process(Array(input[start..<end]))
            start = end
        }
        pieces += try streaming.finish()
        XCTAssertEqual(pieces.count, whole.count)
        // The filter is the same; only floating-point block boundaries differ.
        XCTAssertLessThan(zip(pieces, whole).map { abs($0 - $1) }.max()!, 1e-5)
        XCTAssertEqual(whole.count, 8_000, accuracy: 1)
    }

    func testSameRatePassesThrough() throws {
        let input = sine(rate: 16_000, seconds: 0.1)
        XCTAssertEqual(try resample(input, from: 16_000), input)
    }

    func testInvalidRateIsAnError() {
        XCTAssertThrowsError(try Resampler(inputRate: 0)) { error in
            XCTAssertEqual(error as? AudioError, .invalidSampleRate(0))
        }
    }

    func testS16Conversion() {
        let s16: [Int16] = [0, 1, -1, 32_767, -32_768, 12_345]
        let floats = s16.withUnsafeBufferPointer { floatSamples(fromS16: $0) }
        XCTAssertEqual(floats, s16.map { Float($0) / 32768 })
        XCTAssertEqual(s16Samples(from: floats), s16)
        XCTAssertEqual(s16Samples(from: [2, -2]), [32_767, -32_768])
    }

    func testDownmixAveragesChannels() {
        XCTAssertEqual(downmixToMono([1, 0, 0.5, 0.5, -1, 1], channels: 2), [0.5, 0.5, 0])
    }
}
