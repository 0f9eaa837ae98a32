import Foundation
import KinevoxCapture
import KinevoxServer
import Logging

/// The VAD loop: on its own thread ("kinevox-vad") it drains the capture ring, cuts utterances with
/// the energy VAD and segmenter, and hands each one to `onUtterance` (on this thread). It also turns the
/// capture thread's overrun count into the xrun metric. `start` and `stop` run on the main thread.
final class MicrophoneListener {
    private let capture: AudioCapture
    private var segmenter: UtteranceSegmenter
    private let metrics: ServerMetrics
    private let onUtterance: (KinevoxCapture.Utterance) -> Void
    private let stopRequested = NSCondition()
    private var stopping = false
    private var finished = false

    /// Idle wait between ring reads when no samples are ready (one capture period at most).
    private let idleWait: TimeInterval

    init(capture: AudioCapture, vad: VADConfig, metrics: ServerMetrics,
         onUtterance: @escaping (KinevoxCapture.Utterance) -> Void) throws {
        self.capture = capture
        self.segmenter = try UtteranceSegmenter(config: vad)
        self.metrics = metrics
        self.onUtterance = onUtterance
        idleWait = Double(max(capture.configuration.periodMs, 2)) / 2_000
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "kinevox-vad"
        thread.start()
    }

    /// Ends the loop; returns once the thread has left it.
    func stop() {
        stopRequested.lock()
        stopping = true
        stopRequested.broadcast()
        while !finished { stopRequested.wait() }
        stopRequested.unlock()
    }

    private func run() {
        var buffer = [Int16](repeating: 0, count: max(capture.configuration.sampleRate / 10, 256))
        var overrunsSeen = 0
        while !isStopping {
            let count = buffer.withUnsafeMutableBufferPointer { capture.read(into: $0) }
            let overruns = capture.overrunCount
            for _ in overrunsSeen..<max(overruns, overrunsSeen) { metrics.recordCaptureXrun() }
            overrunsSeen = max(overruns, overrunsSeen)
            if count > 0 {
                let utterances = buffer.withUnsafeBufferPointer { segmenter.push(UnsafeBufferPointer(rebasing: $0[..<count])) }
                utterances.forEach(onUtterance)
                continue
            }
            if capture.reachedEndOfInput {
                segmenter.finish().forEach(onUtterance)
                break
            }
            waitUnlessStopped(idleWait)
        }
        stopRequested.lock()
        finished = true
        stopRequested.broadcast()
        stopRequested.unlock()
    }

    private var isStopping: Bool {
        stopRequested.lock()
        defer { stopRequested.unlock() }
        return stopping
    }

    private func waitUnlessStopped(_ seconds: TimeInterval) {
        stopRequested.lock()
        if !stopping { _ = stopRequested.wait(until: Date(timeIntervalSinceNow: seconds)) }
        stopRequested.unlock()
    }
}
