import Foundation
import KinevoxCapture
import KinevoxMotion
import KinevoxServer

/// Whether a speculative result may play before the hangover: the model's confidence that it understood
/// the utterance (its understanding head), against `[vad] early_end_confidence`.
struct ConfidenceGate: Sendable {
    /// `[vad] early_end_confidence` (0–1).
    let threshold: Double

    /// Confident: understood with at least `threshold` confidence. A model without an understanding head
    /// (nil) is confident only at threshold 0 (the confirmed pause alone decides).
    func isConfident(_ understanding: Understanding?) -> Bool {
        guard let understanding else { return threshold <= 0 }
        return understanding.understood && Double(understanding.confidence) >= threshold
    }
}

/// Early endpointing on the VAD thread: at each `pause` of the segmenter it starts a speculative run of the
/// utterance so far on the inference worker; the result plays as soon as the pause is confirmed
/// (`pauseHeld`) and the gate says confident, or, failing that, when the hangover closes the utterance (the
/// speculative result is used then, unless speech came back). Speech resuming before playback drops the
/// result silently: nothing reaches viewers for it. All methods run on the VAD thread except the worker's
/// completion, which only posts into a locked mailbox and calls `wake`.
final class EarlyEndpointer {
    private let pipeline: MotionPipeline
    private let metrics: ServerMetrics
    private let sampleRate: Int
    private let run: (KinevoxServer.Utterance) throws -> (reply: MotionReply, confident: Bool)
    private let wake: () -> Void
    private let mailbox = NSLock()
    private var finished: [(token: Int, result: (reply: MotionReply, confident: Bool)?)] = []
    private var nextToken = 1
    /// The speculation for the open utterance, if any.
    private var current: Speculation?
    /// Speculations whose utterance the hangover closed while their run was still going: played when it ends.
    private var closedWaiting: [Int: Speculation] = [:]

    private struct Speculation {
        let token: Int
        let utterance: KinevoxServer.Utterance
        var result: (reply: MotionReply, confident: Bool)?
        var done = false
        var held = false
    }

    /// `run` is called on the inference worker; `wake` (any thread) makes the VAD loop call `poll` soon.
    init(pipeline: MotionPipeline, metrics: ServerMetrics, sampleRate: Int,
         run: @escaping (KinevoxServer.Utterance) throws -> (reply: MotionReply, confident: Bool), wake: @escaping () -> Void) {
        self.pipeline = pipeline
        self.metrics = metrics
        self.sampleRate = sampleRate
        self.run = run
        self.wake = wake
    }

    /// Handles one segmenter event; returns true when the open utterance was played early, so the
    /// segmenter must end it (`endEarly`).
    func handle(_ event: SegmenterEvent) -> Bool {
        switch event {
        case .pause(let cut):
            drop()
            let token = nextToken
            nextToken += 1
            let utterance = KinevoxServer.Utterance(samples: cut.samples, sampleRate: sampleRate, origin: .microphone)
            current = Speculation(token: token, utterance: utterance)
            metrics.recordSpeculativeRun(.started)
            pipeline.perform { [run, mailbox, wake] in
                let result = try? run(utterance)
                mailbox.withLock { self.finished.append((token, result)) }
                wake()
            }
            return false
        case .pauseHeld:
            current?.held = true
            return playIfConfident()
        case .resumed:
            drop()
            return false
        case .closed(let cut):
            guard let speculation = current else {
                pipeline.submit(KinevoxServer.Utterance(samples: cut.samples, sampleRate: sampleRate, origin: .microphone))
                return false
            }
            // The hangover is the upper bound: the speculative result plays now (or as soon as its run ends),
            // whatever its confidence.
            current = nil
            if speculation.done {
                publish(speculation, fallback: cut.samples)
            } else {
                closedWaiting[speculation.token] = speculation
            }
            return false
        }
    }

    /// Takes finished speculative runs from the mailbox; returns true when one was played early.
    func poll() -> Bool {
        let results = mailbox.withLock { () -> [(token: Int, result: (reply: MotionReply, confident: Bool)?)] in
            defer { finished.removeAll() }
            return finished
        }
        var playedEarly = false
        for (token, result) in results {
            if var waiting = closedWaiting.removeValue(forKey: token) {
                waiting.result = result
                publish(waiting, fallback: waiting.utterance.samples)
            } else if token == current?.token {
                current?.done = true
                current?.result = result
                playedEarly = playIfConfident() || playedEarly
            }
        }
        return playedEarly
    }

    private func playIfConfident() -> Bool {
        guard let speculation = current, speculation.held, speculation.done,
              let result = speculation.result, result.confident else { return false }
        current = nil
        publish(speculation, fallback: speculation.utterance.samples)
        return true
    }

    /// Plays a speculation's result; a failed run falls back to a normal run of `fallback` (the closed
    /// utterance's audio, or the speculated audio).
    private func publish(_ speculation: Speculation, fallback: [Int16]) {
        if let result = speculation.result {
            metrics.recordSpeculativeRun(.used)
            pipeline.publish(result.reply, for: speculation.utterance)
        } else {
            metrics.recordSpeculativeRun(.dropped)
            pipeline.submit(KinevoxServer.Utterance(samples: fallback, sampleRate: sampleRate, origin: .microphone))
        }
    }

    private func drop() {
        guard current != nil else { return }
        current = nil
        metrics.recordSpeculativeRun(.dropped)
    }
}
