import CAllocationCounter
import KinevoxEngine
import KinevoxMotion
import KinevoxSpeech

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

    static func measure(modelPath: String, threads: Int, precision: MatmulPrecision, samples: [Float], frames: Int?) throws
        -> StageAllocationProbe {
        let store = try WeightStore(path: modelPath, matmulPrecision: precision)
        let frontEnd = try loadSpeechFrontEnd(store)
        let encoder = try AudioEncoder(store.scope("audio_encoder"), config: store.config(AudioEncoderConfig.self, section: "audio_encoder"))
        let generator = try MotionGenerator(store: store)
        let arena = ScratchArena()
        let gemmThreads = GEMMThreads(count: threads)
        var marks = [UInt](repeating: 0, count: 5)  // filled in place: the probe itself allocates nothing per pass
        for pass in 0 ..< 3 {  // two warm-up passes, then the counted one (stages as `InstructionModel.generate` runs them)
            marks[0] = kv_heap_allocation_count()
            arena.reset()
            let features = gemmThreads.serving { frontEnd.featureView(of: samples, arena: arena) }
            marks[1] = kv_heap_allocation_count()
            let condition = gemmThreads.serving { encoder.encode(features, arena: arena) }
            marks[2] = kv_heap_allocation_count()
            let codes = try gemmThreads.serving {
                try generator.generateCodes(condition: UnsafeBufferPointer(condition.buffer), seed: UInt64(pass), frames: frames)
            }
            marks[3] = kv_heap_allocation_count()
            _ = try gemmThreads.serving { try generator.decode(codes) }
            marks[4] = kv_heap_allocation_count()
        }
        let counts = zip(marks.dropFirst(), marks).map { Int($0 - $1) }
        return StageAllocationProbe(frontend: counts[0], audioEncoder: counts[1], generator: counts[2], decoder: counts[3])
    }
}
