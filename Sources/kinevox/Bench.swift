import ArgumentParser
import CAllocationCounter
import Foundation
import KinevoxCapture
import KinevoxEngine
import KinevoxModel
import KinevoxServer

/// `kinevox bench` (docs: interfaces, CLI): times the whole pipeline (front end → audio encoder → generator →
/// decoder) on the given or the bundled sample utterances, one after another on one inference thread with
/// `--threads` GEMM threads (the model's `GEMMThreads`), after warm-up, plus one utterance of the longest length planned
/// for (the first one tiled). Every model plans its scratch at load for `--plan-seconds`, as kinevoxd does before
/// `READY=1`; the first utterance of a freshly loaded model is timed and its heap allocations counted apart
/// (`first_utterances`), against that utterance's steady-state p50. With `--frontend-only`, the speech front end
/// alone (`FrontEndBench`). Prints a table, or one JSON object with `--json`.
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

    @Option(help: "Untimed passes first (warm caches).")
    var warmup: Int = 2

    @Option(help: "Longest utterance the scratch memory is planned for at load, in seconds; default: kinevoxd's default limit (the longer of [vad] max_utterance_ms and [server] max_upload_seconds), cut to what the audio encoder accepts.")
    var planSeconds: Double = Swift.max(Double(VADConfig().maxUtteranceMs) / 1000, ServerConfig().maxUploadSeconds)

    @Option(help: "CPU threads for inference.")
    var threads: Int = 2

    @Option(help: "Utterances in flight at once, each on its own inference thread with its own copy of the model (throughput mode; use --threads 1).")
    var workers: Int = 1

    @Option(help: "Precision of the matrix products: fp32, or bf16 (AVX-512 BF16; fp32 on a CPU without it).")
    var precision: MatmulPrecision = .fp32

    @Option(help: "Fix the motion length in frames (20 fps) for comparable runs; default: the length estimator's choice.")
    var frames: Int?

    @Option(parsing: .unconditional, help: "Sampling seed (≥ 0) of the first generation (each later one adds 1).",
            transform: Generate.parseSeed)
    var seed: UInt64 = 0

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Flag(help: "Time the speech front end alone; --model may then be a front-end file (Models/whisper-base-encoder.safetensors).")
    var frontendOnly = false

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be 1–256") }
        guard (1...100_000).contains(iterations) else { throw ValidationError("--iterations must be 1–100000") }
        guard (0...1000).contains(warmup) else { throw ValidationError("--warmup must be 0–1000") }
        guard (1...64).contains(workers) else { throw ValidationError("--workers must be 1–64") }
        if let frames, frames < 1 { throw ValidationError("--frames must be at least 1") }
        guard planSeconds > 0 && planSeconds <= 600 else { throw ValidationError("--plan-seconds must be in (0, 600]") }
    }

    func run() throws {
        do {
            var utterances = audio.isEmpty ? try BenchSamples.bundled() : try BenchSamples.load(paths: audio)
            let bundled = BundledFile.defaultModel
            let modelPath = model ?? bundled.locate(configDirectory: nil) ?? bundled.candidates(configDirectory: nil)[0]
            if frontendOnly {
                try emit(try FrontEndBench(path: modelPath, threads: threads, precision: precision).measure(
                    utterances, warmup: warmup, iterations: iterations))
            } else {
                // planned for as long as asked, or as the audio encoder's positions allow
                let accepted = try BenchWorker.load(modelPath: modelPath, threads: 1, precision: precision).maxSamples
                let planned = min(planSeconds, Double(accepted ?? .max) / 16_000)
                utterances.append(BenchSamples.tiled(utterances[0], seconds: planned))
                try emit(try measure(utterances, modelPath: modelPath, planSeconds: planned))
            }
        } catch {
            let failure = error as? BenchFailure ?? BenchFailure(status: 1, message: "\(error)")
            FileHandle.standardError.write(Data("kinevox bench: \(failure.message.replacingOccurrences(of: "\n", with: " "))\n".utf8))
            throw ExitCode(failure.status)
        }
    }

    /// Prints `report` as JSON (`--json`) or as its table.
    private func emit<Report: Encodable>(_ report: Report) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            FileHandle.standardOutput.write(try encoder.encode(report) + Data("\n".utf8))
        } else if let report = report as? CustomStringConvertible {
            print(report.description)
        }
    }

    /// Fresh model loads whose first generation `first_utterances` times, per utterance.
    static let starts = 5

    private func measure(_ utterances: [BenchUtterance], modelPath: String, planSeconds: Double) throws -> BenchReport {
        let planSamples = Int(planSeconds * 16_000)
        // Before anything else warms the process: each utterance as the first one of `Self.starts` freshly loaded,
        // planned models, then `iterations` more on the last of them (its steady state under the same machine load).
        let firsts = try utterances.map { utterance in
            let fresh = {
                try BenchWorker(modelPath: modelPath, threads: self.threads, precision: self.precision, utterances: [utterance],
                                frames: self.frames, seed: self.seed, countAllocations: true, planSamples: planSamples)
            }
            var first = BenchRun(utterance: utterance), worker = try fresh()
            for start in 0 ..< Self.starts {
                if start > 0 { worker = try fresh() }
                try worker.run(passes: 1)
                first.timings += worker.runs[0].timings
                first.allocations += worker.runs[0].allocations
                first.arenaGrowths += worker.runs[0].arenaGrowths
            }
            worker.runs = [BenchRun(utterance: utterance)]
            try worker.run(passes: iterations)
            return BenchReport.FirstUtterance(first: first, steady: worker.runs[0])
        }
        let loadStarted = ProcessInfo.processInfo.systemUptime
        let benchWorkers = try (0 ..< workers).map { index in
            try BenchWorker(modelPath: modelPath, threads: threads, precision: precision, utterances: utterances, frames: frames,
                            seed: seed &+ UInt64(index) &* 1_000_003, countAllocations: workers == 1, planSamples: planSamples)
        }
        let loadSeconds = (ProcessInfo.processInfo.systemUptime - loadStarted) / Double(workers)
        for worker in benchWorkers { try worker.run(passes: warmup) }
        for worker in benchWorkers { worker.runs = utterances.map { BenchRun(utterance: $0) } }

        let cpuBefore = ProcessCPU.seconds()
        let started = ProcessInfo.processInfo.systemUptime
        if workers == 1 {
            try benchWorkers[0].run(passes: iterations)
        } else {
            let group = DispatchGroup()
            let failures = FailureList()
            for worker in benchWorkers {
                group.enter()
                let thread = Thread {
                    do { try worker.run(passes: iterations) } catch { failures.append(error) }
                    group.leave()
                }
                thread.stackSize = 8 << 20
                thread.start()
            }
            group.wait()
            if let failure = failures.first { throw failure }
        }
        let wall = ProcessInfo.processInfo.systemUptime - started
        let cpu = ProcessCPU.seconds() - cpuBefore
        var runs = benchWorkers[0].runs
        for worker in benchWorkers.dropFirst() {
            for index in runs.indices {
                runs[index].timings += worker.runs[index].timings
                runs[index].allocations += worker.runs[index].allocations
                runs[index].arenaGrowths += worker.runs[index].arenaGrowths
            }
        }
        var report = BenchReport(model: modelPath, precision: precision.effective, threads: threads, workers: workers, iterations: iterations, warmup: warmup, fixedFrames: frames,
                                 loadSeconds: loadSeconds, runs: runs, wallSeconds: wall, cpuSeconds: cpu)
        report.plannedSeconds = planSeconds
        report.scratchMb = Double(benchWorkers[0].plannedBytes) / 1e6
        report.firstUtterances = firsts
        report.stageAllocations = try StageAllocationProbe.measure(model: benchWorkers[0].model, samples: utterances[0].samples,
                                                                   frames: frames)
        return report
    }
}

/// `--precision fp32|bf16` (bench and generate).
extension MatmulPrecision: ExpressibleByArgument {}

/// One inference thread's model and results. With several workers each has its own `InstructionModel`
/// (not thread-safe) and runs on its own thread; heap allocations are counted only with one worker.
final class BenchWorker {
    let model: InstructionModel
    /// Scratch bytes the model held once planned at load.
    let plannedBytes: Int
    let utterances: [BenchUtterance]
    let frames: Int?
    let countAllocations: Bool
    var seed: UInt64
    var runs: [BenchRun]

    /// Loads the model and plans its scratch for `planSamples` (16 kHz).
    init(modelPath: String, threads: Int, precision: MatmulPrecision, utterances: [BenchUtterance], frames: Int?, seed: UInt64,
         countAllocations: Bool, planSamples: Int) throws {
        model = try Self.load(modelPath: modelPath, threads: threads, precision: precision)
        if let frames, frames > model.maxFrames {
            throw BenchFailure(status: 2, message: "--frames \(frames) exceeds the model's longest motion (\(model.maxFrames) frames)")
        }
        plannedBytes = model.planScratch(maxSamples: planSamples)
        self.utterances = utterances
        self.frames = frames
        self.seed = seed
        self.countAllocations = countAllocations
        runs = utterances.map { BenchRun(utterance: $0) }
    }

    /// The model file at `modelPath`, or a `BenchFailure` naming it.
    static func load(modelPath: String, threads: Int, precision: MatmulPrecision) throws -> InstructionModel {
        do {
            return try InstructionModel(path: modelPath, threads: threads, matmulPrecision: precision)
        } catch {
            let reason = "\(error)"
            throw BenchFailure(status: 1, message: reason.contains(modelPath) ? reason : "model \(modelPath): \(reason)")
        }
    }

    /// Generates every utterance `passes` times, recording timings (and allocations).
    func run(passes: Int) throws {
        for _ in 0 ..< passes {
            for index in runs.indices {
                let allocationsBefore = kv_heap_allocation_count()
                let growthsBefore = model.scratchAllocationCount
                let result: InstructionResult
                do {
                    result = try model.generate(samples: runs[index].utterance.samples, seed: seed, frames: frames, force: true)
                } catch {
                    throw BenchFailure(status: 1, message: "\(runs[index].utterance.name): \(error)")
                }
                seed &+= 1
                if countAllocations { runs[index].allocations.append(Int(kv_heap_allocation_count() - allocationsBefore)) }
                runs[index].arenaGrowths += model.scratchAllocationCount - growthsBefore
                runs[index].timings.append(result.timing)
                runs[index].motionFrames = result.motion?.frameCount ?? 0
            }
        }
    }
}

/// Errors thrown on worker threads, collected for the main thread.
final class FailureList: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [Error] = []
    func append(_ error: Error) { lock.lock(); errors.append(error); lock.unlock() }
    var first: Error? { lock.lock(); defer { lock.unlock() }; return errors.first }
}

/// The timed generations of one utterance.
struct BenchRun {
    let utterance: BenchUtterance
    var timings: [InstructionTiming] = []
    /// Heap allocations (malloc family, all threads) during each timed generation.
    var allocations: [Int] = []
    /// Times the model's scratch arenas grew during these generations (each growth is also a heap allocation).
    var arenaGrowths = 0
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
struct BenchReport: Encodable, CustomStringConvertible {
    struct Utterance: Encodable {
        let name: String
        let audioSeconds: Double
        let motionFrames: Int
        let samplesPerS: Double
        let latencyMs: LatencySummary
        let stagesMs: [String: Double]
        /// nil when not counted (several workers).
        let heapAllocationsPerUtterance: Double?
        let latenciesMs: [Double]

        enum CodingKeys: String, CodingKey {
            case name, audioSeconds = "audio_s", motionFrames = "motion_frames", samplesPerS = "samples_per_s",
                 latencyMs = "latency_ms", stagesMs = "stages_ms",
                 heapAllocationsPerUtterance = "heap_allocations_per_utterance", latenciesMs = "latencies_ms"
        }
    }

    let model: String
    /// Precision the matrix products ran in ("fp32" or "bf16"; bf16 asked for on a CPU without it reports fp32).
    let precision: String
    let threads: Int
    /// Utterances in flight at once (inference threads, each with its own model copy).
    let workers: Int
    let iterations: Int
    let warmup: Int
    let fixedFrames: Int?
    let loadMs: Double
    let samplesPerS: Double
    let latencyMs: LatencySummary
    let stagesMs: [String: Double]
    /// Heap allocations (malloc family, all threads) per timed generation; nil with several workers.
    let heapAllocationsPerUtterance: Double?
    /// Times the scratch arenas grew during the timed generations, all workers (0 when warm-up planned them).
    let arenaGrowths: Int
    /// CPU seconds of the whole process per wall second while timing (2.0 = two cores busy).
    let cpuCoresBusy: Double
    let rssMb: Double
    let peakRssMb: Double
    let utterances: [Utterance]
    /// Heap allocations per stage of one generation of the first utterance (after warm-up).
    var stageAllocations: StageAllocationProbe?
    /// Longest utterance the scratch was planned for at load (seconds), and the scratch then held (MB).
    var plannedSeconds = 0.0
    var scratchMb = 0.0
    /// Each utterance as the first generation of a freshly loaded model, against its steady state.
    var firstUtterances: [FirstUtterance] = []

    /// The first generation of freshly loaded, planned models (what kinevoxd's first command costs after `READY=1`):
    /// audio in → motion out (end of speech → first frame, less the daemon's queueing), p50 over `Bench.starts` loads,
    /// its ratio to the p50 of the generations of that utterance on the last model right after (1.10 is 10 % slower),
    /// the most heap allocations of one, and the arena growths of all.
    struct FirstUtterance: Encodable {
        let name: String, latencyMs: Double, ratio: Double, heapAllocations: Int, arenaGrowths: Int

        init(first: BenchRun, steady: BenchRun) {
            name = first.utterance.name
            latencyMs = LatencySummary(first.timings.map { $0.total * 1000 }).p50
            ratio = latencyMs / LatencySummary(steady.timings.map { $0.total * 1000 }).p50
            heapAllocations = first.allocations.max() ?? 0
            arenaGrowths = first.arenaGrowths
        }

        enum CodingKeys: String, CodingKey {
            case name, latencyMs = "latency_ms", ratio, heapAllocations = "heap_allocations", arenaGrowths = "arena_growths"
        }
    }

    enum CodingKeys: String, CodingKey {
        case model, precision, threads, workers, iterations, warmup, fixedFrames = "fixed_frames", loadMs = "load_ms",
             samplesPerS = "samples_per_s", latencyMs = "latency_ms", stagesMs = "stages_ms",
             heapAllocationsPerUtterance = "heap_allocations_per_utterance", arenaGrowths = "arena_growths", cpuCoresBusy = "cpu_cores_busy",
             rssMb = "rss_mb", peakRssMb = "peak_rss_mb", utterances,
             stageAllocations = "stage_allocations", plannedSeconds = "planned_s", scratchMb = "scratch_mb",
             firstUtterances = "first_utterances"
    }

    init(model: String, precision: MatmulPrecision, threads: Int, workers: Int, iterations: Int, warmup: Int, fixedFrames: Int?, loadSeconds: Double,
         runs: [BenchRun], wallSeconds: Double, cpuSeconds: Double) {
        self.model = model
        self.precision = precision.rawValue
        self.threads = threads
        self.workers = workers
        self.iterations = iterations
        self.warmup = warmup
        self.fixedFrames = fixedFrames
        loadMs = loadSeconds * 1000
        let all = runs.flatMap(\.timings)
        samplesPerS = Double(all.count) / wallSeconds
        latencyMs = LatencySummary(all.map { $0.total * 1000 })
        stagesMs = meanStages(all)
        let allocations = runs.flatMap(\.allocations)
        heapAllocationsPerUtterance = allocations.isEmpty ? nil : Double(allocations.reduce(0, +)) / Double(allocations.count)
        arenaGrowths = runs.map(\.arenaGrowths).reduce(0, +)
        cpuCoresBusy = cpuSeconds / wallSeconds
        let memory = ProcessMemory.read()
        rssMb = memory.rssMb
        peakRssMb = memory.peakRssMb
        utterances = runs.map { run in
            let totals = run.timings.map { $0.total * 1000 }
            return Utterance(name: run.utterance.name, audioSeconds: run.utterance.seconds, motionFrames: run.motionFrames,
                             samplesPerS: Double(totals.count) / (totals.reduce(0, +) / 1000),
                             latencyMs: LatencySummary(totals), stagesMs: meanStages(run.timings),
                             heapAllocationsPerUtterance: run.allocations.isEmpty ? nil
                                 : Double(run.allocations.reduce(0, +)) / Double(run.allocations.count),
                             latenciesMs: totals)
        }
    }

    /// The human-readable form.
    var description: String {
        func cell(_ text: String, _ width: Int) -> String {
            text.count >= width ? String(text.prefix(width)) : String(repeating: " ", count: width - text.count) + text
        }
        func row(_ name: String, _ cells: [String]) -> String {
            let label = name.count >= 44 ? String(name.prefix(44)) : name + String(repeating: " ", count: 44 - name.count)
            return label + cells.map { cell($0, 10) }.joined()
        }
        let stageNames = ["frontend", "audio_encoder", "generator", "decoder"]
        var lines = ["model \(model), \(precision), \(workers) worker(s) × \(threads) GEMM thread(s), \(iterations) timed pass(es) after \(warmup) warm-up, "
                     + (fixedFrames.map { "motion fixed at \($0) frames" } ?? "motion length from the estimator")]
        lines.append(row("utterance", ["frames", "p50 ms", "p99 ms", "frontend", "encoder", "generator", "decoder", "allocs"]))
        for u in utterances {
            let stages = stageNames.map { String(format: "%.2f", u.stagesMs[$0] ?? 0) }
            lines.append(row(u.name, ["\(u.motionFrames)", String(format: "%.1f", u.latencyMs.p50), String(format: "%.1f", u.latencyMs.p99)]
                             + stages + [u.heapAllocationsPerUtterance.map { String(format: "%.0f", $0) } ?? "-"]))
        }
        lines.append(String(format: "scratch planned at load for %.1f s: %.1f MB; first utterance of a freshly loaded model (p50 of %d loads):",
                            plannedSeconds, scratchMb, Bench.starts))
        for f in firstUtterances {
            lines.append("  \(f.name): " + String(format: "%.1f ms = %.2f × its p50; %d heap allocations, %d arena growths",
                                                  f.latencyMs, f.ratio, f.heapAllocations, f.arenaGrowths))
        }
        if let a = stageAllocations {
            lines.append("heap allocations by stage (first utterance): front end \(a.frontend), audio encoder \(a.audioEncoder), "
                         + "generator \(a.generator), decoder \(a.decoder)")
        }
        lines.append(String(format: "all: %.2f samples/s, latency p50 %.1f ms, p99 %.1f ms; %.2f cores busy; RSS %.1f MB (peak %.1f MB); ",
                            samplesPerS, latencyMs.p50, latencyMs.p99, cpuCoresBusy, rssMb, peakRssMb)
                     + (heapAllocationsPerUtterance.map { String(format: "%.0f heap allocations per utterance", $0) }
                        ?? "heap allocations not counted with several workers")
                     + "; \(arenaGrowths) arena growth(s) while timing")
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
