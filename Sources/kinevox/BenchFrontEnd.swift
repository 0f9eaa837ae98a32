import ArgumentParser
import CAllocationCounter
import Foundation
import KinevoxEngine
import KinevoxModel
import KinevoxSpeech

/// `kinevox bench-frontend`: times the speech front end alone (audio → features, log-mel included) on the given
/// or the bundled 3 s and 6 s utterances, after warm-up, with `--threads` GEMM threads; counts heap allocations
/// per utterance. The file may be a front-end file (Models/whisper-base-encoder.safetensors) or a whole model.
/// Prints a table, or one JSON object with `--json`. Exit status 2 for bad usage or unreadable audio, else 1.
struct BenchFrontEnd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-frontend", abstract: "Time the speech front end alone (ms per utterance, heap allocations).")

    @Option(help: "Front-end or model file (.safetensors).")
    var frontend = "Models/whisper-base-encoder.safetensors"

    @Option(parsing: .upToNextOption, help: "WAV files to time; default: bundled spoken samples of 3 s and 6 s (espeak-ng).")
    var audio: [String] = []

    @Option(help: "Timed passes over all utterances (after warm-up).")
    var iterations: Int = 20

    @Option(help: "Untimed passes first (plan scratch memory, warm caches).")
    var warmup: Int = 3

    @Option(help: "CPU threads (the calling one and its GEMM team).")
    var threads: Int = 1

    @Option(help: "Precision of the matrix products: fp32, or bf16 (AVX-512 BF16; fp32 on a CPU without it).")
    var precision: MatmulPrecision = .fp32

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be 1–256") }
        guard (1...100_000).contains(iterations) else { throw ValidationError("--iterations must be 1–100000") }
        guard (0...1000).contains(warmup) else { throw ValidationError("--warmup must be 0–1000") }
    }

    struct Report: Encodable {
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
    }

    func run() throws {
        do {
            let report = try measure()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                FileHandle.standardOutput.write(try encoder.encode(report) + Data("\n".utf8))
            } else {
                print("\(report.frontend), \(report.precision), \(report.threads) thread(s), \(report.iterations) runs each")
                for u in report.utterances {
                    print(String(format: "  %.1f s → %d frames: p50 %.1f ms, min %.1f ms, %d heap allocations", u.audioSeconds, u.frames,
                                 u.latencyMs.p50, u.latencyMs.min, u.heapAllocationsMax))
                }
            }
        } catch {
            let failure = error as? BenchFailure ?? BenchFailure(status: 1, message: "\(error)")
            FileHandle.standardError.write(Data("kinevox bench-frontend: \(failure.message.replacingOccurrences(of: "\n", with: " "))\n".utf8))
            throw ExitCode(failure.status)
        }
    }

    private func measure() throws -> Report {
        let utterances = audio.isEmpty ? try BenchSamples.bundled() : try BenchSamples.load(paths: audio)
        let store = try WeightStore(path: frontend, matmulPrecision: precision)
        let frontEnd = try FrontEndFile.loadFrontEnd(of: store, matmulPrecision: precision)
        let team = GEMMThreads(count: threads)
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
        return Report(frontend: frontend, precision: precision.effective.rawValue, threads: threads, iterations: iterations,
                      featureDim: frontEnd.featureDim,
                      utterances: utterances.indices.map {
                          Report.Utterance(name: utterances[$0].name, audioSeconds: utterances[$0].seconds, frames: frames[$0],
                                           latencyMs: LatencySummary(latencies[$0]), heapAllocationsMax: allocations[$0],
                                           latenciesMs: latencies[$0])
                      })
    }
}
