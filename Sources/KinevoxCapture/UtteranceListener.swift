import Foundation
import Synchronization

/// The VAD loop: every `pollMs` it drains the capture ring into an `UtteranceSegmenter` and hands
/// each closed utterance on. `run` blocks the calling thread (the daemon's VAD thread) until `stop`
/// is called from any thread, or until a file source has ended and its last utterance was flushed.
/// Waking a few times per period rather than once per period keeps listening nearly free; the
/// hangover (hundreds of ms) dwarfs the added delay.
public final class UtteranceListener: @unchecked Sendable {
    public let capture: AudioCapture
    private var segmenter: UtteranceSegmenter
    private let pollMicroseconds: UInt32
    private let stopRequested = Atomic<Bool>(false)

    /// `capture` need not be started yet; `run` starts it. Throws for an invalid `config`.
    public init(capture: AudioCapture, config: VADConfig, pollMs: Int = 50) throws {
        self.capture = capture
        segmenter = try UtteranceSegmenter(config: config)
        pollMicroseconds = UInt32(max(1, pollMs) * 1_000)
    }

    /// Samples analysed so far.
    public var position: Int { segmenter.position }

    /// Captures and segments until stopped or the input ends; `onUtterance` runs on this thread.
    public func run(onUtterance: (Utterance) -> Void) {
        capture.start()
        var buffer = [Int16](repeating: 0, count: 16_384)
        while !stopRequested.load(ordering: .relaxed) {
            let ended = capture.reachedEndOfInput
            var got = 0
            repeat {
                got = buffer.withUnsafeMutableBufferPointer { capture.read(into: $0) }
                let closed = buffer.withUnsafeBufferPointer { segmenter.push(UnsafeBufferPointer(rebasing: $0[0..<got])) }
                closed.forEach(onUtterance)
            } while got == buffer.count
            if ended && capture.ring.count == 0 {
                segmenter.finish().forEach(onUtterance)
                break
            }
            usleep(pollMicroseconds)
        }
        capture.stop()
    }

    /// Asks `run` to return (within one poll interval). Any thread.
    public func stop() { stopRequested.store(true, ordering: .relaxed) }
}
