import CAllocationCounter
import Foundation
import KinevoxEngine
import KinevoxModel
import KinevoxSpeech

/// `kinevox bench --frontend-only`: the speech front end alone (audio → features, log-mel included) of a model
/// or front-end file, each utterance after warm-up on the calling thread and its `threads`-thread GEMM team,
/// heap allocations per utterance counted.
struct FrontEndBench {
    let path: String
    let precision: MatmulPrecision
    let frontEnd: any SpeechFrontEnd
    let team: GEMMThreads

    init(path: String, threads: Int, precision: MatmulPrecision) throws {
        do {
            let store = try WeightStore(path: path, matmulPrecision: precision)
            frontEnd = try FrontEndFile.loadFrontEnd(of: store, matmulPrecision: precision)
        } catch {
            let reason = "\(error)"
            throw BenchFailure(status: 1, message: reason.contains(path) ? reason : "\(path): \(reason)")
        }
        self.path = path
        self.precision = precision
        team = GEMMThreads(count: threads)
    }

    /// What `kinevox bench --frontend-only --json` prints (times in milliseconds).
    struct Report: Encodable, CustomStringConvertible {
        struct Utterance: Encodable {
            let name: String
            let audioSeconds: Double
            let frames: Int
            let latencyMs: LatencySummary
            /// Most heap allocations (malloc family, all threads) of one timed run.
            let heapAllocationsMax: Int
            let latenciesMs: [Double]
            enum CodingKeys: String, CodingKey {
                case name, frames, audioSeconds = "audio_seconds", latencyMs = "latency_ms", heapAllocationsMax = "heap_allocations_max"
                case latenciesMs = "latencies_ms"
            }
        }
        let frontend: String, precision: String, threads: Int, iterations: Int, featureDim: Int
        let utterances: [Utterance]
        enum CodingKeys: String, CodingKey {
            case frontend, precision, threads, iterations, utterances, featureDim = "feature_dim"
        }

        var description: String {
            var lines = ["front end of \(frontend), \(precision), \(threads) GEMM thread(s), \(iterations) timed runs each"]
            for u in utterances {
                lines.append(String(format: "  %.1f s → %d frames: p50 %.1f ms, min %.1f ms, %d heap allocations", u.audioSeconds,
                                    u.frames, u.latencyMs.p50, u.latencyMs.min, u.heapAllocationsMax))
            }
            return lines.joined(separator: "\n")
        }
    }

    func measure(_ utterances: [BenchUtterance], warmup: Int, iterations: Int) -> Report {
        let arena = ScratchArena()
        var latencies = [[Double]](repeating: [], count: utterances.count)
        var allocations = [Int](repeating: 0, count: utterances.count)
        var frames = [Int](repeating: 0, count: utterances.count)
        team.serving {
            for pass in 0 ..< warmup + iterations {
                for (index, utterance) in utterances.enumerated() {
                    arena.reset()
                    let allocationsBefore = kv_heap_allocation_count()
                    let started = ProcessInfo.processInfo.systemUptime
                    let features = frontEnd.featureView(of: utterance.samples, arena: arena)
                    let seconds = ProcessInfo.processInfo.systemUptime - started
                    let made = Int(kv_heap_allocation_count() - allocationsBefore)
                    guard pass >= warmup else { continue }
                    latencies[index].append(seconds * 1000)
                    allocations[index] = Swift.max(allocations[index], made)
                    frames[index] = features.shape[1]
                }
            }
        }
        return Report(frontend: path, precision: precision.effective.rawValue, threads: team.count, iterations: iterations,
                      featureDim: frontEnd.featureDim,
                      utterances: utterances.indices.map {
                          Report.Utterance(name: utterances[$0].name, audioSeconds: utterances[$0].seconds, frames: frames[$0],
                                           latencyMs: LatencySummary(latencies[$0]), heapAllocationsMax: allocations[$0],
                                           latenciesMs: latencies[$0])
                      })
    }
}
