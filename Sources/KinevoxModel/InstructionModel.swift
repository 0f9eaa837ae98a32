import Foundation
import KinevoxEngine
import KinevoxMotion
import KinevoxSpeech

/// How long each stage of one generation took, in seconds.
public struct InstructionTiming: Equatable, Sendable {
    /// Speech front end: 16 kHz samples → feature frames.
    public var frontend: Double = 0
    /// Audio encoder: features → condition tokens.
    public var audioEncoder: Double = 0
    /// Length estimate, masked and residual transformers: condition → motion codes.
    public var generator: Double = 0
    /// RVQ-VAE decoder and HumanML3D features → joints.
    public var decoder: Double = 0
    /// All of the above.
    public var total: Double = 0

    /// The stages by the names used in logs and in `/metrics` (`kinevox_stage_latency_seconds{stage=…}`).
    public var stages: [(name: String, seconds: Double)] {
        [("frontend", frontend), ("audio_encoder", audioEncoder), ("generator", generator), ("decoder", decoder)]
    }
}

/// One spoken instruction turned into motion, with what it cost.
public struct InstructionResult: Sendable {
    /// The motion: HumanML3D-263 features and 22 joints per frame at 20 fps; nil when the model did not understand
    /// the utterance (`understanding.understood` false) and the caller did not force a motion.
    public let motion: Motion?
    /// What the model understood, from its understanding head; nil for a model file without one.
    public let understanding: Understanding?
    public let timing: InstructionTiming
}

/// The whole model of one `.safetensors` file: speech front end (speech_embedding, WavLM or Whisper, by
/// `frontend.kind`; embedded, or in the file its `frontend.file` names, see `FrontEndFile`) → audio encoder
/// → motion generator (length estimator, masked and residual transformers, RVQ-VAE decoder).
///
/// Loading binds every tensor of the file and refuses missing, extra or mis-shaped ones with a message
/// naming the tensor. `generate` is deterministic for a given seed. Not thread-safe: one inference
/// thread calls `generate` at a time (kinevoxd's worker, or the `kinevox` CLI's main thread); its GEMMs
/// run on that thread and the model's own `GEMMThreads` team.
public final class InstructionModel {
    /// The model file this was loaded from.
    public let path: String
    /// What the model can be asked to do, as the JSON object of the file's `kinevox.commands` metadata
    /// (`{"examples":[…],"actions":[{"action":…,"say":[…]},…],"styles":[…]}`), or nil when the file has none.
    public let commandsJSON: String?
    /// The metadata key of `commandsJSON`.
    public static let commandsKey = "kinevox.commands"
    private let frontEnd: any SpeechFrontEnd
    private let encoder: AudioEncoder
    private let generator: MotionGenerator
    private let understandingHead: UnderstandingHead?
    private let arena = ScratchArena()
    private let gemmThreads: GEMMThreads

    /// Opens and binds the model file at `path`; every tensor in it must be used by some layer. `threads` CPU
    /// threads (the calling one included) share each large GEMM of `generate`. `matmulPrecision` chooses fp32 or
    /// bf16 products for the Linear, convolution and self-attention input-projection layers (bf16 falls back to
    /// fp32 on a CPU without AVX-512 BF16).
    public init(path: String, threads: Int = 1, matmulPrecision: MatmulPrecision = .fp32) throws {
        self.path = path
        gemmThreads = GEMMThreads(count: threads)
        let store = try WeightStore(path: path, matmulPrecision: matmulPrecision)
        commandsJSON = try Self.commands(in: store)
        frontEnd = try FrontEndFile.loadFrontEnd(of: store, matmulPrecision: matmulPrecision)
        encoder = try AudioEncoder(store: store)
        generator = try MotionGenerator(store: store)
        understandingHead = try UnderstandingHead.bindIfPresent(
            store, conditionFloats: encoder.config.dim * encoder.config.numCondTokens)
        try store.root.finish()
    }

    /// The actions the understanding head can name, empty for a model without a head.
    public var understoodActions: [String] { understandingHead?.actions ?? [] }

    /// Longest motion the generator makes, in frames (20 fps).
    public var maxFrames: Int { generator.maxFrames }

    /// Times the model's scratch arenas have asked the system for memory: it rises only while they grow (an
    /// utterance longer than `planScratch` planned for, or any first one without a plan), so `kinevox bench`
    /// reports its change as arena growth.
    public var scratchAllocationCount: Int { arena.systemAllocationCount + generator.scratchAllocationCount }

    /// Bytes of scratch memory the model holds now (front end and audio encoder, generator).
    public var scratchBytes: Int { (arena.capacity + generator.scratchCapacity) * MemoryLayout<Float>.size }

    /// Longest utterance (16 kHz samples) the audio encoder's position table takes, nil when any length goes; one
    /// frame short of the table, as front ends round their last frame up.
    public var maxSamples: Int? { encoder.maxFrames.map { Int(Double($0 - 1) * frontEnd.frameMilliseconds * 16) } }

    /// Plans the scratch memory at load, like whisper.cpp sizing its buffers at their worst case: runs the front end,
    /// audio encoder and understanding head once on `maxSamples` of silence (the longest utterance the program accepts, 16 kHz; cut to
    /// `self.maxSamples`), so that no utterance up to that length grows an arena; the generator plans its own at load.
    /// Returns `scratchBytes`. Call before serving, on the inference thread or before it starts.
    @discardableResult
    public func planScratch(maxSamples: Int) -> Int {
        let silence = [Float](repeating: 0, count: Swift.max(Swift.min(maxSamples, self.maxSamples ?? .max), 1))
        gemmThreads.serving {
            arena.reset()
            let condition = encoder.encode(frontEnd.featureView(of: silence, arena: arena), arena: arena)
            _ = understandingHead?.understand(condition, arena: arena)
            arena.reset()
        }
        return scratchBytes
    }

    /// Generates the motion for one instruction.
    ///
    /// Allocation: stage outputs live in the model's scratch arena and the generator's output arrays, so once
    /// warm (the arena grows, once, to the longest utterance seen so far) a generation makes no heap allocation,
    /// provided the previous result's motion has been released: its arrays are then reused in place. A motion
    /// still held when the next generation runs keeps its values, and that generation allocates fresh arrays.
    /// - Parameters:
    ///   - samples: the utterance, 16 kHz mono in [-1, 1].
    ///   - seed: sampling seed; the same seed and samples give the same motion bit for bit.
    ///   - frames: the motion length in frames, or nil to let the length estimator choose.
    ///   - force: make the motion even when the understanding head says the utterance was not understood.
    ///   - stageEnded: called on this thread as each stage ends, with its name (`InstructionTiming.stages`), for probes
    ///     such as `kinevox bench`'s allocations by stage.
    public func generate(samples: [Float], seed: UInt64, frames: Int? = nil, force: Bool = false,
                         stageEnded: (String) -> Void = { _ in }) throws -> InstructionResult {
        try gemmThreads.serving {
            try generateStages(samples: samples, seed: seed, frames: frames, force: force, stageEnded: stageEnded)
        }
    }

    private func generateStages(samples: [Float], seed: UInt64, frames: Int?, force: Bool,
                                stageEnded: (String) -> Void) throws -> InstructionResult {
        var timing = InstructionTiming()
        let started = Self.now()
        var mark = started
        func lap(_ stage: String) -> Double {
            let now = Self.now()
            defer { mark = now }
            stageEnded(stage)
            return now - mark
        }
        arena.reset()
        let features = frontEnd.featureView(of: samples, arena: arena)
        timing.frontend = lap("frontend")
        let condition = encoder.encode(features, arena: arena)
        let understanding = understandingHead?.understand(condition, arena: arena)
        timing.audioEncoder = lap("audio_encoder")
        if let understanding, !understanding.understood, !force {
            timing.total = Self.now() - started
            return InstructionResult(motion: nil, understanding: understanding, timing: timing)
        }
        let codes = try generator.generateCodes(condition: UnsafeBufferPointer(condition.buffer), seed: seed, frames: frames)
        timing.generator = lap("generator")
        let motion = try generator.decode(codes)
        timing.decoder = lap("decoder")
        timing.total = Self.now() - started
        return InstructionResult(motion: motion, understanding: understanding, timing: timing)
    }

    private static func now() -> Double { ProcessInfo.processInfo.systemUptime }

    /// The `kinevox.commands` metadata, checked to be a JSON object holding an `examples` list of strings.
    private static func commands(in store: WeightStore) throws -> String? {
        guard let text = store.metadata[commandsKey] else { return nil }
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              object["examples"] is [String]
        else {
            throw ModelMetadataError(description: "\(store.path): the \(commandsKey) metadata is not a JSON object with an \"examples\" list of strings")
        }
        return text
    }
}

/// A model file whose metadata is malformed (message names the file and key).
public struct ModelMetadataError: Error, CustomStringConvertible {
    public let description: String
}
