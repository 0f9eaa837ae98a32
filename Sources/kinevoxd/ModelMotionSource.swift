import Foundation
import KinevoxAudio
import KinevoxModel
import KinevoxMotion
import KinevoxServer
import Logging

/// The daemon's motion source: an utterance (microphone or upload, any rate) resampled to 16 kHz and
/// run through the model. Logs one line per utterance with its stage timings; the pipeline records the
/// same timings in `/metrics`. An utterance the model's understanding head rejects gets no motion. `reply(to:)` is called on the inference worker thread only;
/// `secondsInFlight` from any thread (the watchdog timer).
final class ModelMotionSource: MotionSource, @unchecked Sendable {
    private let model: InstructionModel
    private let seed: UInt64
    private let logger: Logger
    private let lock = NSLock()
    private var startedAt: TimeInterval?

    /// How long the utterance being generated has been running, nil when the worker is idle.
    var secondsInFlight: TimeInterval? {
        lock.withLock { startedAt.map { ProcessInfo.processInfo.systemUptime - $0 } }
    }

    init(model: InstructionModel, seed: UInt64, logger: Logger) {
        self.model = model
        self.seed = seed
        self.logger = logger
    }

    func reply(to utterance: KinevoxServer.Utterance) throws -> MotionReply {
        try run(utterance, speculative: false)
    }

    /// A speculative run (early endpointing) on the utterance so far: the reply and whether `gate` finds the
    /// model confident that it understood. Inference worker thread only.
    func speculativeReply(to utterance: KinevoxServer.Utterance, gate: ConfidenceGate) throws -> (reply: MotionReply, confident: Bool) {
        let reply = try run(utterance, speculative: true)
        return (reply, gate.isConfident(reply.understanding))
    }

    private func run(_ utterance: KinevoxServer.Utterance, speculative: Bool) throws -> MotionReply {
        let inputStarted = ProcessInfo.processInfo.systemUptime
        lock.withLock { startedAt = inputStarted }
        defer { lock.withLock { startedAt = nil } }
        var samples = utterance.samples.withUnsafeBufferPointer { floatSamples(fromS16: $0) }
        if utterance.sampleRate != 16_000 {
            samples = try resample(samples, from: Double(utterance.sampleRate))
        }
        let inputSeconds = ProcessInfo.processInfo.systemUptime - inputStarted
        let result = try model.generate(samples: samples, seed: seed)
        var stages = ["input": inputSeconds]
        for stage in result.timing.stages { stages[stage.name] = stage.seconds }
        let origin: String
        switch utterance.origin {
        case .microphone: origin = "microphone"
        case .upload(let client): origin = "upload from client \(client)"
        }
        let timings = (["input"] + result.timing.stages.map(\.name))
            .map { "\($0) \(Self.ms(stages[$0]!))" }.joined(separator: ", ")
        let kind = speculative ? "speculative run" : "utterance"
        let heard = result.understanding.map {
            ($0.understood ? "understood \($0.action)" : "not understood (nearest \($0.action))")
                + String(format: ", confidence %.2f; ", $0.confidence)
        } ?? ""
        let total = "total \(Self.ms(inputSeconds + result.timing.total)) ms"
        switch (result.motion, result.understanding) {
        case (let motion?, let understanding):
            let joints = Self.jointFrames(motion)
            logger.info("\(kind) (\(origin), \(utterance.durationMs) ms of audio) → \(joints.count) frames; \(heard)\(timings), \(total)")
            return MotionReply(clip: try MotionClip(frames: joints, stageSeconds: stages), understanding: understanding)
        case (nil, let understanding?):
            logger.info("\(kind) (\(origin), \(utterance.durationMs) ms of audio) → no motion; \(heard)\(timings), \(total)")
            return MotionReply(notUnderstood: understanding)
        case (nil, nil):  // generate leaves the motion out only for an utterance its head did not understand
            throw MotionError("the model made no motion and gave no understanding")
        }
    }

    /// The motion's flat T×22×3 joint array as frames of joint positions.
    private static func jointFrames(_ motion: Motion) -> [[SIMD3<Float>]] {
        let joints = motion.joints
        return (0..<motion.frameCount).map { frame in
            (0..<Skeleton.jointCount).map { joint in
                let base = (frame * Skeleton.jointCount + joint) * 3
                return SIMD3(joints[base], joints[base + 1], joints[base + 2])
            }
        }
    }

    private static func ms(_ seconds: Double) -> String { String(format: "%.1f", seconds * 1000) }
}
