import CAllocationCounter
import KinevoxModel

/// Heap allocations of each stage of one generation after warm-up, counted at the stage ends `InstructionModel`
/// reports (`generate(…, stageEnded:)`). `kinevox bench` reports it next to its total.
struct StageAllocationProbe: Encodable {
    let frontend: Int
    let audioEncoder: Int
    let generator: Int
    let decoder: Int

    enum CodingKeys: String, CodingKey {
        case frontend, audioEncoder = "audio_encoder", generator, decoder
    }

    static func measure(model: InstructionModel, samples: [Float], frames: Int?) throws -> StageAllocationProbe {
        var marks = [UInt](repeating: 0, count: 5)  // filled in place: the probe itself allocates nothing per pass
        for pass in 0 ..< 3 {  // two warm-up passes, then the counted one
            var stage = 0
            marks[0] = kv_heap_allocation_count()
            _ = try model.generate(samples: samples, seed: UInt64(pass), frames: frames) { _ in
                stage += 1
                marks[stage] = kv_heap_allocation_count()
            }
        }
        let counts = zip(marks.dropFirst(), marks).map { Int($0 - $1) }
        return StageAllocationProbe(frontend: counts[0], audioEncoder: counts[1], generator: counts[2], decoder: counts[3])
    }
}
