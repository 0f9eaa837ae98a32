import Foundation
import KinevoxCapture
import KinevoxServer
import Logging

/// The VAD loop: on its own thread ("kinevox-vad") it drains the capture ring, cuts utterances with
/// the energy VAD and segmenter, and hands its events (pauses, closed utterances) to the early endpointer
/// (on this thread), which submits or plays them. It also turns the capture thread's overrun count into the
/// xrun metric. `start` and `stop` run on the main thread; `wake` on any.
final class MicrophoneListener {
    private let capture: AudioCapture
    private var segmenter: UtteranceSegmenter
    private let metrics: ServerMetrics
    private var endpointer: EarlyEndpointer!
    private let stopRequested = NSCondition()
    private var stopping = false
    private var finished = false
    private var woken = false

    /// Idle wait between ring reads when no samples are ready (one capture period at most).
    private let idleWait: TimeInterval

    /// `speculate` runs the model on the utterance so far (on the inference worker) and says whether the
    /// result is confident.
    init(capture: AudioCapture, vad: VADConfig, metrics: ServerMetrics, pipeline: MotionPipeline,
         speculate: @escaping (KinevoxServer.Utterance) throws -> (reply: MotionReply, confident: Bool)) throws {
        self.capture = capture
        self.segmenter = try UtteranceSegmenter(config: vad)
        self.metrics = metrics
        idleWait = Double(max(capture.configuration.periodMs, 2)) / 2_000
        endpointer = EarlyEndpointer(pipeline: pipeline, metrics: metrics, sampleRate: capture.configuration.sampleRate,
                                     run: speculate, wake: { [weak self] in self?.wake() })
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
            if endpointer.poll() { segmenter.endEarly() }
            if count > 0 {
                let events = buffer.withUnsafeBufferPointer { segmenter.pushEvents(UnsafeBufferPointer(rebasing: $0[..<count])) }
                for event in events where endpointer.handle(event) { segmenter.endEarly() }
                continue
            }
            if capture.reachedEndOfInput {
                for utterance in segmenter.finish() { _ = endpointer.handle(.closed(utterance)) }
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

    /// Ends the current idle wait early (a speculative run finished). Any thread.
    func wake() {
        stopRequested.lock()
        woken = true
        stopRequested.broadcast()
        stopRequested.unlock()
    }

    private func waitUnlessStopped(_ seconds: TimeInterval) {
        stopRequested.lock()
        if !stopping && !woken { _ = stopRequested.wait(until: Date(timeIntervalSinceNow: seconds)) }
        woken = false
        stopRequested.unlock()
    }
}
