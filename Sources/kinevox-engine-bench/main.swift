// kinevox-engine-bench: the engine's GEMM-bound layers (Linear, MultiheadAttention, Conv1d) at the shapes
// Kinevox runs on a 1- and a 2-thread `GEMMThreads` team, each next to raw cblas_sgemm doing the same GEMMs in the
// same run with OpenBLAS's own threading at the same thread count; then single GEMMs around the split threshold
// (team vs caller alone vs OpenBLAS threads); then a check that transformer and conv-stack inferences allocate
// nothing after warm-up at 1 and 2 threads; then the bf16 products (BF16Bench.swift, `--bf16` for that
// section alone). Run in release:
//   swift run -c release kinevox-engine-bench
import CAllocationCounter
import COpenBLAS
import Foundation
import KinevoxEngine

if CommandLine.arguments.contains("--bf16") {  // only the bf16 section (BF16Bench.swift)
    try runBF16Comparison()
    exit(0)
}

/// Seconds from a monotonic clock.
func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

/// Best seconds per call of `engine` and of `raw`, measured in alternating rounds (`bestSecondsPerCall`) so
/// both see the same machine load (best-of smooths a shared machine).
func secondsPerCall(engine: () -> Void, raw: () -> Void) -> (engine: Double, raw: Double) {
    withoutActuallyEscaping(engine) { engine in
        withoutActuallyEscaping(raw) { raw in
            let best = bestSecondsPerCall([engine, raw])
            return (best[0], best[1])
        }
    }
}

/// Seeded random inputs of the benchmarked layers (their weights come from a random `WeightStore`, bound by the layers
/// themselves).
final class BenchInputs {
    var random = SeededRandom(seed: 2026)

    func random(_ shape: Shape) -> Tensor {
        let t = Tensor(shape: shape.array)
        for i in 0 ..< t.count { t.data[i] = random.nextFloat() - 0.5 }
        return t
    }
}

/// One benchmark case: an engine call and the raw GEMMs it performs, with its useful GEMM FLOPs.
struct Case {
    let name: String
    let flops: Double
    let engine: () -> Void
    let raw: () -> Void
}

/// Builds the engine call on a fresh arena twice: the first call plans the arena (warm-up), the second is the
/// one timed, which then never grows the arena. The returned closure keeps the arena (and so its views) alive.
func planned(_ make: (ScratchArena) -> () -> Void) -> () -> Void {
    let arena = ScratchArena()
    make(arena)()
    arena.reset()
    let call = make(arena)
    return { withExtendedLifetime(arena) { call() } }
}

/// A run-time value the optimiser cannot fold (keeps the probe allocation real).
func unfoldableZeroOrOne() -> Int32 { getpid() % 2 }

let dims = [256, 512, 768]
let lengths = [25, 100, 200]
let convLengths = [50, 200]
let dilations = [1, 3, 9]
let channels = 512

let inputs = BenchInputs()
let layerD = 512, layerFF = 2048
let store = WeightStore(randomSeed: 2026)
let ffn = try Dictionary(uniqueKeysWithValues: dims.map { ($0, try Linear(store.scope("ffn\($0)"), inFeatures: $0, outFeatures: 4 * $0)) })
let mha = try Dictionary(uniqueKeysWithValues: dims.map { ($0, try MultiheadAttention(store.scope("mha\($0)"), embedDim: $0, numHeads: $0 / 64)) })
let conv = try Dictionary(uniqueKeysWithValues: dilations.map {
    ($0, try Conv1d(store.scope("conv\($0)"), inChannels: channels, outChannels: channels, kernelSize: 3, padding: $0, dilation: $0))
})
let layer = try TransformerEncoderLayer(store.scope("layer"), dModel: layerD, numHeads: 8, dimFeedforward: layerFF, activation: .gelu)

/// Operand and output buffers for the raw sgemm runs (sized for the largest case).
let rawA = inputs.random(Shape(4 * 768 * 768)), rawB = inputs.random(Shape(4 * 768 * 768)), rawC = inputs.random(Shape(4 * 768 * 768))

/// The engine's GEMM (`BLAS.sgemm`, split over the calling thread's team) on the raw buffers.
func engineSgemm(_ m: Int, _ n: Int, _ k: Int, transposeB: Bool = false) {
    BLAS.sgemm(transposeB: transposeB, m: m, n: n, k: k, a: rawA.data, lda: k, b: rawB.data, ldb: transposeB ? k : n,
               c: rawC.data, ldc: n)
}

/// Raw cblas_sgemm on the raw buffers, threaded by OpenBLAS as set by `withOpenBLASThreads`.
func sgemm(_ m: Int, _ n: Int, _ k: Int, transposeB: Bool = false) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k), 1,
                rawA.data, Int32(k), rawB.data, Int32(transposeB ? k : n), 0, rawC.data, Int32(n))
}

/// Runs `body` with OpenBLAS's own thread pool at `threads`, then puts OpenBLAS back to the single thread the engine
/// relies on.
func withOpenBLASThreads(_ threads: Int, _ body: () -> Void) {
    openblas_set_num_threads(Int32(threads))
    body()
    openblas_set_num_threads(1)
}

/// 1- and 2-thread teams.
let teams = [1: GEMMThreads(count: 1), 2: GEMMThreads(count: 2)]

var load = [Double](repeating: 0, count: 3)
_ = getloadavg(&load, 3)
print("KinevoxEngine (GEMMThreads team; OpenBLAS single-threaded) vs raw cblas_sgemm threaded by OpenBLAS at the same")
print("thread count (same GEMMs, same run). GF/s = useful GEMM FLOPs / time.")
print(String(format: "machine: %d CPUs online, load average %.2f (timings are best of 7 alternating rounds)",
             sysconf(Int32(_SC_NPROCESSORS_ONLN)), load[0]))
var cases: [Case] = []
for d in dims {
    for t in lengths {
        let x = inputs.random(Shape(t, d)), layer = ffn[d]!
        let engine = planned { arena in
            let y = arena.tensor(Shape(t, 4 * d))
            return { layer.forward(x.view, into: y) }
        }
        cases.append(Case(name: "Linear \(d)->\(4 * d), T=\(t)", flops: 2.0 * Double(t * 4 * d * d), engine: engine,
                          raw: { sgemm(t, 4 * d, d, transposeB: true) }))
    }
}
for d in dims {
    for t in lengths {
        let x = inputs.random(Shape(1, t, d)), attention = mha[d]!, heads = d / 64
        let engine = planned { arena in
            let y = arena.tensor(Shape(1, t, d))
            return { attention.forward(x.view, into: y, arena: arena) }
        }
        let raw = {
            sgemm(t, 3 * d, d, transposeB: true)
            for _ in 0 ..< heads {
                sgemm(t, t, 64, transposeB: true)
                sgemm(t, 64, t)
            }
            sgemm(t, d, d, transposeB: true)
        }
        let gemmFlops: Int = t * 3 * d * d + 2 * t * t * d + t * d * d
        cases.append(Case(name: "MultiheadAttention d=\(d) h=\(heads), T=\(t)", flops: 2.0 * Double(gemmFlops), engine: engine, raw: raw))
    }
}
for dilation in dilations {
    for t in convLengths {
        let x = inputs.random(Shape(1, channels, t)), layer = conv[dilation]!
        let engine = planned { arena in
            let y = arena.tensor(Shape(1, channels, t))
            return { layer.forward(x.view, into: y, arena: arena) }
        }
        cases.append(Case(name: "Conv1d 512->512 k3 dil=\(dilation), T=\(t)", flops: 2.0 * Double(channels * 3 * channels * t),
                          engine: engine, raw: { sgemm(channels, t, 3 * channels) }))
    }
}

print("case".padding(toLength: 38, withPad: " ", startingAt: 0) + "|  1 thread: engine  sgemm GF/s  ratio |  2 threads: engine  sgemm GF/s  ratio")
for c in cases {
    var line = c.name.padding(toLength: 38, withPad: " ", startingAt: 0)
    for threads in [1, 2] {
        let time = secondsPerCall(engine: { teams[threads]!.serving(c.engine) }, raw: { withOpenBLASThreads(threads, c.raw) })
        let e = c.flops / time.engine / 1e9, r = c.flops / time.raw / 1e9
        line += String(format: "| %18.1f %11.1f %5.0f%% ", e, r, 100 * e / r)
    }
    print(line)
}

// Single GEMMs at the generator's and decoder's shapes from just above the split threshold up: the 2-thread team, the
// caller alone (1-thread team), and OpenBLAS's own 2 threads.
print("")
print("single GEMM m×n×k          MFLOP | 2-thread team  caller alone  OpenBLAS 2 threads GF/s | team/alone")
let sweep = [(30, 512, 256, true), (60, 512, 128, true), (120, 128, 256, true), (60, 512, 256, true), (120, 512, 256, true),
             (60, 1536, 512, true), (120, 512, 512, true), (120, 1024, 512, true), (120, 2048, 512, true), (240, 2048, 512, true),
             (512, 60, 1536, false), (263, 60, 1536, false)]
for (m, n, k, transposeB) in sweep {
    let flops = 2.0 * Double(m * n * k)
    let team = secondsPerCall(engine: { teams[2]!.serving { engineSgemm(m, n, k, transposeB: transposeB) } },
                              raw: { teams[1]!.serving { engineSgemm(m, n, k, transposeB: transposeB) } })
    let threaded = secondsPerCall(engine: { withOpenBLASThreads(2) { sgemm(m, n, k, transposeB: transposeB) } },
                                  raw: { withOpenBLASThreads(2) { sgemm(m, n, k, transposeB: transposeB) } }).engine
    let name = "\(m)×\(n)×\(k)" + (transposeB ? " (Bᵀ)" : "")
    print(String(format: "%@ %8.2f | %13.1f %13.1f %19.1f      | %6.2f", name.padding(toLength: 24, withPad: " ", startingAt: 0),
                 flops / 1e6, flops / team.engine / 1e9, flops / team.raw / 1e9, flops / threaded / 1e9, team.raw / team.engine))
}
print("(split threshold: \(GEMMThreads.splitThresholdFLOPs / 1_000_000) MFLOP; smaller GEMMs run on the caller alone)")

// The counter must see allocations at all, or a zero below would prove nothing.
let countBefore = Int(kv_heap_allocation_count())
let probe = [Float](repeating: 1, count: 1000 + Int(unfoldableZeroOrOne()))
let probeSeen = Int(kv_heap_allocation_count()) - countBefore
precondition(probe.count > 0)

// Allocation check: warm up (the arena plans its memory), then count heap allocations over many inferences of
// two workloads: a transformer layer with a key padding mask, and a decoder-style conv stack (dilated convs,
// ReLU, nearest upsampling, softmax, top-k and sampling).
let tokens = 100
let input = inputs.random(Shape(2, tokens, layerD))
var mask = [Bool](repeating: false, count: 2 * tokens)
for j in 80 ..< tokens { mask[tokens + j] = true }
let frames = 50
let convInput = inputs.random(Shape(1, channels, frames))
let upsample = UpsampleNearest1d(scaleFactor: 2)
var sampler = SeededRandom(seed: 1)
var sampledSum = 0

func transformerInference(_ arena: ScratchArena) {
    arena.reset()
    let x = arena.tensor(input.view.shape)
    x.copy(from: input.view)
    layer.forward(x, keyPaddingMask: mask, arena: arena)
}

func convStackInference(_ arena: ScratchArena) {
    arena.reset()
    var x = arena.tensor(convInput.view.shape)
    x.copy(from: convInput.view)
    for dilation in dilations {
        x = conv[dilation]!.forward(x, arena: arena)
        Activation.relu.apply(x)
    }
    x = upsample.forward(x, arena: arena)
    x = conv[1]!.forward(x, arena: arena)
    let logits = x[0]
    topKFilter(logits, k: 10, arena: arena)
    softmax(logits)
    sampledSum &+= sampler.sampleCategorical(probabilities: UnsafeBufferPointer(start: logits.data, count: logits.shape.last))
}

var allocationFree = probeSeen > 0
print("")
print("allocation counter self-check: one 1000-float array counted as \(probeSeen) allocation(s)")
for threads in [1, 2] {
    let team = teams[threads]!
    // For reference: OpenBLAS's threaded level-3 driver mallocs a job array per multi-threaded GEMM.
    var rawPerCall = 0.0, enginePerCall = 0.0
    withOpenBLASThreads(threads) {
        for _ in 0 ..< 2 { sgemm(2 * tokens, layerFF, layerD, transposeB: true) }
        let before = Int(kv_heap_allocation_count())
        for _ in 0 ..< 10 { sgemm(2 * tokens, layerFF, layerD, transposeB: true) }
        rawPerCall = Double(Int(kv_heap_allocation_count()) - before) / 10
    }
    team.serving {
        for _ in 0 ..< 2 { engineSgemm(2 * tokens, layerFF, layerD, transposeB: true) }
        let before = Int(kv_heap_allocation_count())
        for _ in 0 ..< 10 { engineSgemm(2 * tokens, layerFF, layerD, transposeB: true) }
        enginePerCall = Double(Int(kv_heap_allocation_count()) - before) / 10
    }
    print("\(threads) thread(s): GEMM \(2 * tokens)x\(layerFF)x\(layerD): \(enginePerCall) heap allocations per call on the engine's team, "
          + "\(rawPerCall) per raw cblas_sgemm with OpenBLAS's own \(threads) thread(s)")
    allocationFree = allocationFree && enginePerCall == 0
    for (name, inference) in [("TransformerEncoderLayer d=512 ff=2048 B=2 T=100 (key padding mask)", transformerInference),
                              ("Conv1d stack 512ch dil 1/3/9 + upsample + conv, T=50 + top-k + sample", convStackInference)] {
        let arena = ScratchArena()
        let iterations = 30
        var heapDelta = 0, arenaDelta = 0, elapsed = 0.0
        team.serving {
            for _ in 0 ..< 2 { inference(arena) }
            let arenaBefore = arena.systemAllocationCount
            let heapBefore = Int(kv_heap_allocation_count())
            let start = now()
            for _ in 0 ..< iterations { inference(arena) }
            elapsed = now() - start
            heapDelta = Int(kv_heap_allocation_count()) - heapBefore
            arenaDelta = arena.systemAllocationCount - arenaBefore
        }
        allocationFree = allocationFree && heapDelta == 0 && arenaDelta == 0
        print(String(format: "  %@: %.2f ms/inference; ", name, elapsed / Double(iterations) * 1e3)
              + "after warm-up, \(iterations) inferences made \(heapDelta) heap allocations, \(arenaDelta) arena growths "
              + "(arena \(arena.capacity * 4 / 1024) KiB)")
    }
}
print(allocationFree
      ? "zero-allocation check: PASS (1 and 2 threads: nothing allocates after warm-up)"
      : "zero-allocation check: FAIL")

/// User + system CPU seconds of this process (all threads).
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6
}

// Idle cost: after a burst of GEMMs the 2-thread team's worker polls for up to 0.1 ms, then sleeps.
teams[2]!.serving { for _ in 0 ..< 20 { engineSgemm(2 * tokens, layerFF, layerD, transposeB: true) } }
let idleStart = now(), idleCPUStart = processCPUSeconds()
usleep(2_000_000)
let idleShare = (processCPUSeconds() - idleCPUStart) / (now() - idleStart)
print(String(format: "idle: the whole process (2-thread team, OpenBLAS's own idle threads) used %.2f %% of a core over 2 s after its last GEMM",
             idleShare * 100))

print("")
try runBF16Comparison()
