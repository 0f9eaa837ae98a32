import KinevoxServer
import XCTest

/// `ClientInput` without sockets: the same state machine the server runs per client.
final class ClientInputTests: XCTestCase {
    private func send(_ input: ClientInput, _ text: String, now: Double = 0) -> [ClientInput.Event] {
        Array(text.utf8).withUnsafeBytes { input.receive($0, isBinary: false, isFinal: true, now: now) }
    }

    private func sendAudio(_ input: ClientInput, _ samples: [Int16], fragments: Int = 1) -> [ClientInput.Event] {
        let bytes = samples.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] }
        let size = (bytes.count + fragments - 1) / fragments
        var events: [ClientInput.Event] = []
        for start in stride(from: 0, to: bytes.count, by: size) {
            let end = min(start + size, bytes.count)
            events += bytes[start..<end].withUnsafeBytes { input.receive($0, isBinary: true, isFinal: end == bytes.count, now: 0) }
        }
        return events
    }

    func testFragmentedUploadArrivesWhole() {
        let input = ClientInput(config: ServerConfig())
        XCTAssertEqual(send(input, #"{"type":"audio.begin","sample_rate":16000}"#), [])
        XCTAssertEqual(sendAudio(input, [1, -2, 300, -32768], fragments: 3), [])
        XCTAssertEqual(send(input, #"{"type":"audio.end"}"#), [.upload(samples: [1, -2, 300, -32768], sampleRate: 16000)])
    }

    func testUploadRateLimitCountsTheLastMinute() {
        var config = ServerConfig()
        config.maxUploadsPerMinute = 1
        let input = ClientInput(config: config)
        let begin = #"{"type":"audio.begin","sample_rate":16000}"#
        XCTAssertEqual(send(input, begin, now: 0), [])
        XCTAssertEqual(send(input, #"{"type":"audio.end"}"#), [.refusal("empty upload: no audio between audio.begin and audio.end")])
        XCTAssertEqual(send(input, begin, now: 30), [.refusal("upload refused: more than 1 uploads per minute")])
        XCTAssertEqual(sendAudio(input, [5]), [], "chunks of a refused upload are ignored")
        XCTAssertEqual(send(input, #"{"type":"audio.end"}"#), [])
        XCTAssertEqual(send(input, begin, now: 61), [])
    }
}
