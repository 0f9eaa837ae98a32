import CAllocationCounter
import Foundation
import KinevoxEngine
import KinevoxMotion
import KinevoxSpeech

/// Measures what the speech_embedding front end would cost if its CNN ran once over the whole mel map instead of
/// once per 76-frame window (windows every 8 frames overlap ~90 %). Every time-axis convolution is valid and the
/// time pools multiply to the window stride, so one pass gives exactly the per-window embeddings; the probe
/// checks that against the engine's own result and times both. `kinevox bench` reports it under "where the time
/// goes"; nothing here is used for inference.
struct FrontEndProbe: Encodable {
    /// Mean ms of the shipped front end (`SpeechEmbedding.embeddings(of:)`: mel + CNN per window).
    let perWindowMs: Double
    /// Mean ms of the CNN over the whole mel map (mel frames not included).
    let wholeMapCnnMs: Double
    /// Largest |difference| between the two embeddings.
    let maxAbsDifference: Float
    let audioSeconds: Double
    /// Heap allocations of one shipped front-end call (after warm-up).
    let perWindowAllocations: Int

    enum CodingKeys: String, CodingKey {
        case perWindowAllocations = "per_window_allocations"
        case perWindowMs = "per_window_ms", wholeMapCnnMs = "whole_map_cnn_ms",
             maxAbsDifference = "max_abs_difference", audioSeconds = "audio_s"
    }

    /// nil when the model's front end is not speech_embedding.
    static func measure(modelPath: String, samples: [Float], repeats: Int) throws -> FrontEndProbe? {
        let store = try WeightStore(path: modelPath)
        struct Kind: Decodable { let kind: String }
        guard try store.config(Kind.self, section: "frontend").kind == "speech_embedding" else { return nil }
        let frontEnd = try SpeechEmbedding(store.scope("frontend"), config: store.config(SpeechEmbeddingConfig.self, section: "frontend"))
        let config = frontEnd.config
        let stream = frontEnd.makeStream()
        stream.append(samples)
        let reference = stream.finish()
        let mel = stream.melFrames()
        let frames = mel.count / config.nMels
        let arena = ScratchArena()
        let melTensor = Tensor(shape: [1, frames, config.nMels])
        melTensor.data.update(from: mel, count: mel.count)
        let output = Tensor(shape: [reference.frames * config.embeddingDim])
        func wholeMap() {
            arena.reset()
            frontEnd.embedding.forward(melTensor.view, into: output.view, arena: arena)
        }
        wholeMap()
        // The whole-map output is channel-major [96, T]; the per-window one is [T, 96].
        var difference: Float = 0
        for t in 0 ..< reference.frames {
            for c in 0 ..< config.embeddingDim {
                difference = max(difference, abs(output.data[c * reference.frames + t] - reference.values[t * config.embeddingDim + c]))
            }
        }
        func mean(_ body: () -> Void) -> Double {
            body()
            let start = ProcessInfo.processInfo.systemUptime
            for _ in 0 ..< repeats { body() }
            return (ProcessInfo.processInfo.systemUptime - start) / Double(repeats) * 1000
        }
        let perWindow = mean { _ = frontEnd.embeddings(of: samples) }
        let allocationsBefore = kv_heap_allocation_count()
        _ = frontEnd.embeddings(of: samples)
        let allocations = Int(kv_heap_allocation_count() - allocationsBefore)
        let whole = mean(wholeMap)
        return FrontEndProbe(perWindowMs: perWindow, wholeMapCnnMs: whole, maxAbsDifference: difference,
                             audioSeconds: Double(samples.count) / 16_000, perWindowAllocations: allocations)
    }
}

/// Heap allocations of each stage of one generation after warm-up, counted stage by stage with the model file's
/// own layers (`InstructionModel` only reports the total). `kinevox bench` reports it next to its total.
struct StageAllocationProbe: Encodable {
    let frontend: Int
    let audioEncoder: Int
    let generator: Int
    let decoder: Int

    enum CodingKeys: String, CodingKey {
        case frontend, audioEncoder = "audio_encoder", generator, decoder
    }

    static func measure(modelPath: String, samples: [Float], frames: Int?) throws -> StageAllocationProbe {
        let store = try WeightStore(path: modelPath)
        let frontEnd = try loadSpeechFrontEnd(store)
        let encoder = try AudioEncoder(store.scope("audio_encoder"), config: store.config(AudioEncoderConfig.self, section: "audio_encoder"))
        let generator = try MotionGenerator(store: store)
        let arena = ScratchArena()
        var counts: [Int] = []
        for pass in 0 ..< 3 {  // two warm-up passes, then the counted one
            var marks = [kv_heap_allocation_count()]
            arena.reset()
            let features = frontEnd.features(of: samples, arena: arena)
            marks.append(kv_heap_allocation_count())
            let condition = encoder.encode(features, arena: arena)
            marks.append(kv_heap_allocation_count())
            let codes = try generator.generateCodes(condition: condition, seed: UInt64(pass), frames: frames)
            marks.append(kv_heap_allocation_count())
            _ = try generator.decode(codes)
            marks.append(kv_heap_allocation_count())
            counts = zip(marks.dropFirst(), marks).map { Int($0 - $1) }
        }
        return StageAllocationProbe(frontend: counts[0], audioEncoder: counts[1], generator: counts[2], decoder: counts[3])
    }
}
