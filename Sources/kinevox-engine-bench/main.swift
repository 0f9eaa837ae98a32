// kinevox-engine-bench: the engine's GEMM-bound layers (Linear, MultiheadAttention, Conv1d) at the shapes
// Kinevox runs, each next to raw cblas_sgemm doing the same GEMMs in the same run, with 1 and 2 OpenBLAS threads;
// then a check that a transformer forward allocates nothing after warm-up. Run in release:
//   swift run -c release kinevox-engine-bench
import CAllocationCounter
import Foundation
import KinevoxEngine

/// Seconds from a monotonic clock.
func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

/// Best seconds per call of `engine` and of `raw`, measured in alternating rounds of at least 30 ms each so
/// both see the same machine load (best-of smooths a shared machine).
func secondsPerCall(engine: () -> Void, raw: () -> Void) -> (engine: Double, raw: Double) {
    func round(_ body: () -> Void) -> Double {
        var calls = 0
        let start = now()
        var elapsed = 0.0
        repeat {
            body()
            calls += 1
            elapsed = now() - start
        } while elapsed < 0.03
        return elapsed / Double(calls)
    }
    engine()
    raw()
    var best = (engine: Double.infinity, raw: Double.infinity)
    for _ in 0 ..< 7 {
        best.engine = min(best.engine, round(engine))
        best.raw = min(best.raw, round(raw))
    }
    return best
}

/// Random weights for every benchmarked layer, written to a temporary safetensors file and loaded back the
/// way models are.
final class BenchWeights {
    var tensors: [(name: String, tensor: Tensor)] = []
    var random = SeededRandom(seed: 2026)

    func add(_ name: String, _ shape: [Int], scale: Float = 0.05) {
        let t = Tensor(shape: shape)
        for i in 0 ..< t.count { t.data[i] = (random.nextFloat() - 0.5) * 2 * scale }
        tensors.append((name, t))
    }

    func random(_ shape: Shape) -> Tensor {
        let t = Tensor(shape: shape.array)
        for i in 0 ..< t.count { t.data[i] = random.nextFloat() - 0.5 }
        return t
    }

    func load() throws -> WeightStore {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kinevox-engine-bench-\(getpid()).safetensors").path
        try SafetensorsFile.write(tensors, to: path)
        defer { unlink(path) }
        return try WeightStore(path: path)
    }
}

struct Row {
    let name: String
    let flops: Double
    let engine: Double
    let sgemm: Double
}

/// A run-time value the optimiser cannot fold (keeps the probe allocation real).
func unfoldableZeroOrOne() -> Int32 { getpid() % 2 }

func printRow(_ r: Row, threads: Int) {
    let e = r.flops / r.engine / 1e9, s = r.flops / r.sgemm / 1e9
    print(r.name.padding(toLength: 42, withPad: " ", startingAt: 0)
          + String(format: "%3d %9.3f %8.2f %8.2f %6.0f%%", threads, r.engine * 1e3, e, s, 100 * e / s))
}

let dims = [256, 512, 768]
let lengths = [25, 100, 200]
let convLengths = [50, 200]
let dilations = [1, 3, 9]
let channels = 512

let weights = BenchWeights()
for d in dims {
    weights.add("ffn\(d).weight", [4 * d, d]); weights.add("ffn\(d).bias", [4 * d])
    weights.add("mha\(d).in_proj_weight", [3 * d, d]); weights.add("mha\(d).in_proj_bias", [3 * d])
    weights.add("mha\(d).out_proj.weight", [d, d]); weights.add("mha\(d).out_proj.bias", [d])
}
for dilation in dilations {
    weights.add("conv\(dilation).weight", [channels, channels, 3]); weights.add("conv\(dilation).bias", [channels])
}
let layerD = 512, layerFF = 2048
for (name, shape) in [("self_attn.in_proj_weight", [3 * layerD, layerD]), ("self_attn.in_proj_bias", [3 * layerD]),
                      ("self_attn.out_proj.weight", [layerD, layerD]), ("self_attn.out_proj.bias", [layerD]),
                      ("linear1.weight", [layerFF, layerD]), ("linear1.bias", [layerFF]),
                      ("linear2.weight", [layerD, layerFF]), ("linear2.bias", [layerD]),
                      ("norm1.weight", [layerD]), ("norm1.bias", [layerD]), ("norm2.weight", [layerD]), ("norm2.bias", [layerD])] {
    weights.add("layer." + name, shape)
}
let store = try weights.load()
let ffn = try Dictionary(uniqueKeysWithValues: dims.map { ($0, try Linear(store.scope("ffn\($0)"), inFeatures: $0, outFeatures: 4 * $0)) })
let mha = try Dictionary(uniqueKeysWithValues: dims.map { ($0, try MultiheadAttention(store.scope("mha\($0)"), embedDim: $0, numHeads: $0 / 64)) })
let conv = try Dictionary(uniqueKeysWithValues: dilations.map {
    ($0, try Conv1d(store.scope("conv\($0)"), inChannels: channels, outChannels: channels, kernelSize: 3, padding: $0, dilation: $0))
})
let layer = try TransformerEncoderLayer(store.scope("layer"), dModel: layerD, numHeads: 8, dimFeedforward: layerFF, activation: .gelu)
try store.root.finish()

let arena = ScratchArena()
/// Output and operand buffers for the raw sgemm runs (sized for the largest case).
let rawA = weights.random(Shape(4 * 768 * 768)), rawB = weights.random(Shape(4 * 768 * 768)), rawC = weights.random(Shape(4 * 768 * 768))

func sgemm(_ m: Int, _ n: Int, _ k: Int, transposeB: Bool = false, ldc: Int? = nil) {
    BLAS.sgemm(transposeB: transposeB, m: m, n: n, k: k, a: rawA.data, lda: k, b: rawB.data, ldb: transposeB ? k : n,
               c: rawC.data, ldc: ldc ?? n)
}

var load = [Double](repeating: 0, count: 3)
_ = getloadavg(&load, 3)
print("KinevoxEngine vs raw cblas_sgemm (same GEMMs, same run). GF/s = useful GEMM FLOPs / time.")
print(String(format: "machine: %d CPUs online, load average %.2f (timings are best of 7 alternating rounds)",
             sysconf(Int32(_SC_NPROCESSORS_ONLN)), load[0]))
print("case".padding(toLength: 42, withPad: " ", startingAt: 0) + "thr   ms/call   engine    sgemm   ratio")
print("".padding(toLength: 42, withPad: " ", startingAt: 0) + "                  GF/s     GF/s")
for threads in [1, 2] {
    BLAS.setThreadCount(threads)
    for d in dims {
        for t in lengths {
            let x = weights.random(Shape(t, d))
            let layer = ffn[d]!
            arena.reset()
            let y = arena.tensor(Shape(t, 4 * d))
            let time = secondsPerCall(engine: { layer.forward(x.view, into: y) }, raw: { sgemm(t, 4 * d, d, transposeB: true) })
            printRow(Row(name: "Linear \(d)->\(4 * d), T=\(t)", flops: 2.0 * Double(t * 4 * d * d), engine: time.engine, sgemm: time.raw), threads: threads)
        }
    }
    for d in dims {
        for t in lengths {
            let x = weights.random(Shape(1, t, d))
            let attention = mha[d]!
            arena.reset()
            let y = arena.tensor(Shape(1, t, d))
            let heads = d / 64
            let time = secondsPerCall(engine: { attention.forward(x.view, into: y, arena: arena) }, raw: {
                sgemm(t, 3 * d, d, transposeB: true)
                for _ in 0 ..< heads {
                    sgemm(t, t, 64, transposeB: true)
                    sgemm(t, 64, t)
                }
                sgemm(t, d, d, transposeB: true)
            })
            let flops = 2.0 * Double(t * 3 * d * d + 2 * t * t * d + t * d * d)
            printRow(Row(name: "MultiheadAttention d=\(d) h=\(heads), T=\(t)", flops: flops, engine: time.engine, sgemm: time.raw), threads: threads)
        }
    }
    for dilation in dilations {
        for t in convLengths {
            let x = weights.random(Shape(1, channels, t))
            let layer = conv[dilation]!
            arena.reset()
            let y = arena.tensor(Shape(1, channels, t))
            let time = secondsPerCall(engine: { layer.forward(x.view, into: y, arena: arena) }, raw: { sgemm(channels, t, 3 * channels) })
            let flops = 2.0 * Double(channels * 3 * channels * t)
            printRow(Row(name: "Conv1d 512->512 k3 dil=\(dilation), T=\(t)", flops: flops, engine: time.engine, sgemm: time.raw), threads: threads)
        }
    }
}

// The counter must see allocations at all, or a zero below would prove nothing.
let countBefore = Int(kv_heap_allocation_count())
let probe = [Float](repeating: 1, count: 1000 + Int(unfoldableZeroOrOne()))
let probeSeen = Int(kv_heap_allocation_count()) - countBefore
precondition(probe.count > 0)

// Allocation check: warm up (the arena plans its memory), then count heap allocations over many forwards.
let tokens = 100
let input = weights.random(Shape(2, tokens, layerD))
var mask = [Bool](repeating: false, count: 2 * tokens)
for j in 80 ..< tokens { mask[tokens + j] = true }
var allocationFree = probeSeen > 0
print("allocation counter self-check: one 1000-float array counted as \(probeSeen) allocation(s)")
for threads in [1, 2] {
    BLAS.setThreadCount(threads)
    let planning = ScratchArena()
    func transformerInference() {
        planning.reset()
        let x = planning.tensor(input.view.shape)
        x.copy(from: input.view)
        layer.forward(x, keyPaddingMask: mask, arena: planning)
    }
    for _ in 0 ..< 2 { transformerInference() }
    let arenaBefore = planning.systemAllocationCount
    let heapBefore = Int(kv_heap_allocation_count())
    let iterations = 50
    let start = now()
    for _ in 0 ..< iterations { transformerInference() }
    let elapsed = now() - start
    let heapDelta = Int(kv_heap_allocation_count()) - heapBefore
    let arenaDelta = planning.systemAllocationCount - arenaBefore
    // OpenBLAS's threaded level-3 driver mallocs a job array per multi-threaded GEMM: measure it on a raw call.
    let rawBefore = Int(kv_heap_allocation_count())
    for _ in 0 ..< 10 { sgemm(2 * tokens, layerFF, layerD, transposeB: true) }
    let rawPerCall = Double(Int(kv_heap_allocation_count()) - rawBefore) / 10
    if threads == 1 { allocationFree = allocationFree && heapDelta == 0 && arenaDelta == 0 && rawPerCall == 0 }
    print(String(format: "TransformerEncoderLayer d=%d ff=%d B=2 T=%d (key padding mask), %d thread(s): %.2f ms/forward; ",
                 layerD, layerFF, tokens, threads, elapsed / Double(iterations) * 1e3)
          + "after warm-up, \(iterations) forwards made \(heapDelta) heap allocations, \(arenaDelta) arena growths "
          + "(arena \(planning.capacity * 4 / 1024) KiB); raw cblas_sgemm alone: \(rawPerCall) heap allocations per call")
}
print(allocationFree
      ? "zero-allocation check: PASS (1 thread: nothing allocates after warm-up; the engine runs the same code at any thread count, so at 2 threads the allocations are OpenBLAS's per-GEMM job arrays)"
      : "zero-allocation check: FAIL")
