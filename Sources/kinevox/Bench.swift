import ArgumentParser
import CAllocationCounter
import Foundation
import KinevoxEngine
import KinevoxModel

/// `kinevox bench` (docs: interfaces, CLI): times the whole pipeline (front end → audio encoder → generator →
/// decoder) on the given or the bundled sample utterances, one after another on one inference thread with
/// `--threads` BLAS threads, after warm-up. Prints a table, or one JSON object with `--json`.
/// Exit status 2 for bad usage or unreadable audio, 1 for any other failure, the cause as one line on stderr.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time the audio → motion pipeline (samples/s, latency percentiles, stages, memory).")

    @Option(help: "Model file (.safetensors); default: the bundled model.")
    var model: String?

    @Option(parsing: .upToNextOption, help: "WAV files to time; default: bundled spoken samples of 3 s and 6 s (espeak-ng).")
    var audio: [String] = []

    @Option(help: "Timed passes over all utterances (after warm-up).")
    var iterations: Int = 10

    @Option(help: "Untimed passes first (plan scratch memory, warm caches).")
    var warmup: Int = 2

    @Option(help: "CPU threads for inference.")
    var threads: Int = 2

    @Option(help: "Fix the motion length in frames (20 fps) for comparable runs; default: the length estimator's choice.")
    var frames: Int?

    @Option(help: "Sampling seed of the first generation (each later one adds 1).")
    var seed: UInt64 = 0

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be 1–256") }
        guard (1...100_000).contains(iterations) else { throw ValidationError("--iterations must be 1–100000") }
        guard (0...1000).contains(warmup) else { throw ValidationError("--warmup must be 0–1000") }
        if let frames, frames < 1 { throw ValidationError("--frames must be at least 1") }
    }

    func run() throws {
        do {
            let report = try measure()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                FileHandle.standardOutput.write(try encoder.encode(report) + Data("\n".utf8))
            } else {
                print(report.table)
            }
        } catch {
            let failure = error as? BenchFailure ?? BenchFailure(status: 1, message: "\(error)")
            FileHandle.standardError.write(Data("kinevox bench: \(failure.message.replacingOccurrences(of: "\n", with: " "))\n".utf8))
            throw ExitCode(failure.status)
        }
    }

    private func measure() throws -> BenchReport {
        let utterances = audio.isEmpty ? try BenchSamples.bundled() : try BenchSamples.load(paths: audio)
        let bundled = BundledFile.defaultModel
        let modelPath = model ?? bundled.locate(configDirectory: nil) ?? bundled.candidates(configDirectory: nil)[0]
        BLAS.setThreadCount(threads)
        let instructionModel: InstructionModel
        let loadStarted = ProcessInfo.processInfo.systemUptime
        do {
            instructionModel = try InstructionModel(path: modelPath)
        } catch {
            let reason = "\(error)"
            throw BenchFailure(status: 1, message: reason.contains(modelPath) ? reason : "model \(modelPath): \(reason)")
        }
        let loadSeconds = ProcessInfo.processInfo.systemUptime - loadStarted
        if let frames, frames > instructionModel.maxFrames {
            throw BenchFailure(status: 2, message: "--frames \(frames) exceeds the model's longest motion (\(instructionModel.maxFrames) frames)")
        }

        var seed = self.seed
        func generate(_ utterance: BenchUtterance) throws -> InstructionResult {
            defer { seed &+= 1 }
            do {
                return try instructionModel.generate(samples: utterance.samples, seed: seed, frames: frames)
            } catch {
                throw BenchFailure(status: 1, message: "\(utterance.name): \(error)")
            }
        }
        for _ in 0 ..< warmup { for utterance in utterances { _ = try generate(utterance) } }

        var runs = utterances.map { BenchRun(utterance: $0) }
        let cpuBefore = ProcessCPU.seconds()
        let started = ProcessInfo.processInfo.systemUptime
        for _ in 0 ..< iterations {
            for index in runs.indices {
                let allocationsBefore = kv_heap_allocation_count()
                let result = try generate(runs[index].utterance)
                runs[index].allocations.append(Int(kv_heap_allocation_count() - allocationsBefore))
                runs[index].timings.append(result.timing)
                runs[index].motionFrames = result.motion.frameCount
            }
        }
        let wall = ProcessInfo.processInfo.systemUptime - started
        let cpu = ProcessCPU.seconds() - cpuBefore
        var report = BenchReport(model: modelPath, threads: threads, iterations: iterations, warmup: warmup, fixedFrames: frames,
                                 loadSeconds: loadSeconds, runs: runs, wallSeconds: wall, cpuSeconds: cpu)
        report.frontendProbe = try utterances.compactMap {
            try FrontEndProbe.measure(modelPath: modelPath, samples: $0.samples, repeats: 5)
        }
        report.stageAllocations = try StageAllocationProbe.measure(modelPath: modelPath, samples: utterances[0].samples, frames: frames)
        return report
    }
}

/// The timed generations of one utterance.
struct BenchRun {
    let utterance: BenchUtterance
    var timings: [InstructionTiming] = []
    /// Heap allocations (malloc family, all threads) during each timed generation.
    var allocations: [Int] = []
    var motionFrames = 0
}

/// Percentiles of a list of milliseconds (linear interpolation between closest ranks).
struct LatencySummary: Encodable {
    let p50: Double, p90: Double, p99: Double, mean: Double, min: Double, max: Double

    init(_ values: [Double]) {
        let sorted = values.sorted()
        func percentile(_ p: Double) -> Double {
            guard sorted.count > 1 else { return sorted.first ?? 0 }
            let rank = p / 100 * Double(sorted.count - 1)
            let low = Int(rank.rounded(.down)), high = Swift.min(low + 1, sorted.count - 1)
            return sorted[low] + (sorted[high] - sorted[low]) * (rank - Double(low))
        }
        p50 = percentile(50); p90 = percentile(90); p99 = percentile(99)
        mean = sorted.isEmpty ? 0 : sorted.reduce(0, +) / Double(sorted.count)
        min = sorted.first ?? 0; max = sorted.last ?? 0
    }
}

/// Mean milliseconds per stage, by the stage names of logs and `/metrics`.
func meanStages(_ timings: [InstructionTiming]) -> [String: Double] {
    var sums: [String: Double] = [:]
    for timing in timings { for (name, seconds) in timing.stages { sums[name, default: 0] += seconds * 1000 } }
    return sums.mapValues { $0 / Double(Swift.max(1, timings.count)) }
}

/// What `kinevox bench --json` prints (snake_case keys; times in milliseconds).
struct BenchReport: Encodable {
    struct Utterance: Encodable {
        let name: String
        let audioSeconds: Double
        let motionFrames: Int
        let samplesPerS: Double
        let latencyMs: LatencySummary
        let stagesMs: [String: Double]
        let heapAllocationsPerUtterance: Double
        let latenciesMs: [Double]

        enum CodingKeys: String, CodingKey {
            case name, audioSeconds = "audio_s", motionFrames = "motion_frames", samplesPerS = "samples_per_s",
                 latencyMs = "latency_ms", stagesMs = "stages_ms",
                 heapAllocationsPerUtterance = "heap_allocations_per_utterance", latenciesMs = "latencies_ms"
        }
    }

    let model: String
    let threads: Int
    let iterations: Int
    let warmup: Int
    let fixedFrames: Int?
    let loadMs: Double
    let samplesPerS: Double
    let latencyMs: LatencySummary
    let stagesMs: [String: Double]
    let heapAllocationsPerUtterance: Double
    /// CPU seconds of the whole process per wall second while timing (2.0 = two cores busy).
    let cpuCoresBusy: Double
    let rssMb: Double
    let peakRssMb: Double
    let utterances: [Utterance]
    /// Per utterance: the speech_embedding CNN per window (shipped) vs once over the whole mel map.
    var frontendProbe: [FrontEndProbe] = []
    /// Heap allocations per stage of one generation of the first utterance (after warm-up).
    var stageAllocations: StageAllocationProbe?

    enum CodingKeys: String, CodingKey {
        case model, threads, iterations, warmup, fixedFrames = "fixed_frames", loadMs = "load_ms",
             samplesPerS = "samples_per_s", latencyMs = "latency_ms", stagesMs = "stages_ms",
             heapAllocationsPerUtterance = "heap_allocations_per_utterance", cpuCoresBusy = "cpu_cores_busy",
             rssMb = "rss_mb", peakRssMb = "peak_rss_mb", utterances, frontendProbe = "frontend_probe",
             stageAllocations = "stage_allocations"
    }

    init(model: String, threads: Int, iterations: Int, warmup: Int, fixedFrames: Int?, loadSeconds: Double,
         runs: [BenchRun], wallSeconds: Double, cpuSeconds: Double) {
        self.model = model
        self.threads = threads
        self.iterations = iterations
        self.warmup = warmup
        self.fixedFrames = fixedFrames
        loadMs = loadSeconds * 1000
        let all = runs.flatMap(\.timings)
        samplesPerS = Double(all.count) / wallSeconds
        latencyMs = LatencySummary(all.map { $0.total * 1000 })
        stagesMs = meanStages(all)
        let allocations = runs.flatMap(\.allocations)
        heapAllocationsPerUtterance = Double(allocations.reduce(0, +)) / Double(Swift.max(1, allocations.count))
        cpuCoresBusy = cpuSeconds / wallSeconds
        let memory = ProcessMemory.read()
        rssMb = memory.rssMb
        peakRssMb = memory.peakRssMb
        utterances = runs.map { run in
            let totals = run.timings.map { $0.total * 1000 }
            return Utterance(name: run.utterance.name, audioSeconds: run.utterance.seconds, motionFrames: run.motionFrames,
                             samplesPerS: Double(totals.count) / (totals.reduce(0, +) / 1000),
                             latencyMs: LatencySummary(totals), stagesMs: meanStages(run.timings),
                             heapAllocationsPerUtterance: Double(run.allocations.reduce(0, +)) / Double(Swift.max(1, run.allocations.count)),
                             latenciesMs: totals)
        }
    }

    /// The human-readable form.
    var table: String {
        func cell(_ text: String, _ width: Int) -> String {
            text.count >= width ? String(text.prefix(width)) : String(repeating: " ", count: width - text.count) + text
        }
        func row(_ name: String, _ cells: [String]) -> String {
            let label = name.count >= 44 ? String(name.prefix(44)) : name + String(repeating: " ", count: 44 - name.count)
            return label + cells.map { cell($0, 10) }.joined()
        }
        let stageNames = ["frontend", "audio_encoder", "generator", "decoder"]
        var lines = ["model \(model), \(threads) thread(s), \(iterations) timed pass(es) after \(warmup) warm-up, "
                     + (fixedFrames.map { "motion fixed at \($0) frames" } ?? "motion length from the estimator")]
        lines.append(row("utterance", ["frames", "p50 ms", "p99 ms", "frontend", "encoder", "generator", "decoder", "allocs"]))
        for u in utterances {
            let stages = stageNames.map { String(format: "%.2f", u.stagesMs[$0] ?? 0) }
            lines.append(row(u.name, ["\(u.motionFrames)", String(format: "%.1f", u.latencyMs.p50), String(format: "%.1f", u.latencyMs.p99)]
                             + stages + [String(format: "%.0f", u.heapAllocationsPerUtterance)]))
        }
        for probe in frontendProbe {
            lines.append(String(format: "front end, %.0f s: %.1f ms as shipped (CNN per window); CNN once over the whole mel map %.1f ms (max |diff| %.1e); %d heap allocations per front-end call",
                                probe.audioSeconds, probe.perWindowMs, probe.wholeMapCnnMs, probe.maxAbsDifference, probe.perWindowAllocations))
        }
        if let a = stageAllocations {
            lines.append("heap allocations by stage (first utterance): front end \(a.frontend), audio encoder \(a.audioEncoder), "
                         + "generator \(a.generator), decoder \(a.decoder)")
        }
        lines.append(String(format: "all: %.2f samples/s, latency p50 %.1f ms, p99 %.1f ms; %.2f cores busy; RSS %.1f MB (peak %.1f MB); %.0f heap allocations per utterance",
                            samplesPerS, latencyMs.p50, latencyMs.p99, cpuCoresBusy, rssMb, peakRssMb, heapAllocationsPerUtterance))
        return lines.joined(separator: "\n")
    }
}

/// User + system CPU seconds of this process (all threads).
enum ProcessCPU {
    static func seconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) * 1e-6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}

/// Resident memory of this process from /proc/self/status, in MB (10^6 bytes).
struct ProcessMemory {
    var rssMb = 0.0
    var peakRssMb = 0.0

    static func read() -> ProcessMemory {
        var memory = ProcessMemory()
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return memory }
        for line in status.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, let kib = Double(fields[1]) else { continue }
            if fields[0] == "VmRSS:" { memory.rssMb = kib * 1024 / 1e6 }
            if fields[0] == "VmHWM:" { memory.peakRssMb = kib * 1024 / 1e6 }
        }
        return memory
    }
}
