// The bf16 section of kinevox-engine-bench (`kinevox-engine-bench --bf16` runs it alone): Linear and Conv1d at the
// WavLM-Base shapes of the paper-sized model, loaded with fp32 and with bf16 products (on a 1- and a 2-thread
// `GEMMThreads` team), next to raw cblas_sgemm doing the same fp32 GEMMs with OpenBLAS's own threads.
import COpenBLAS
import Foundation
import KinevoxEngine

/// Raw row-major cblas_sgemm, C = A·op(B).
func rawSgemm(transposeB: Bool = false, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>,
              ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(lda),
                b, Int32(ldb), 0, c, Int32(ldc))
}

/// Best seconds per call of each body, measured in alternating rounds of at least 30 ms each (best of 7) so all
/// see the same machine load.
func bestSecondsPerCall(_ bodies: [() -> Void]) -> [Double] {
    var best = [Double](repeating: .infinity, count: bodies.count)
    for body in bodies { body() }
    for _ in 0 ..< 7 {
        for (index, body) in bodies.enumerated() {
            var calls = 0
            let start = now()
            var elapsed = 0.0
            repeat {
                body()
                calls += 1
                elapsed = now() - start
            } while elapsed < 0.03
            best[index] = min(best[index], elapsed / Double(calls))
        }
    }
    return best
}

/// Prints GF/s of bf16 layers, the same layers in fp32 and raw sgemm, WavLM-Base shapes, 1 and 2 threads.
func runBF16Comparison() throws {
    guard BF16GEMM.isSupported else {
        print("bf16: this CPU lacks AVX-512 BF16; the bf16 comparison is skipped")
        return
    }
    let hidden = 768, ffn = 3072, channels = 512
    let tokens = [150, 300]  // 3 s and 6 s of audio at WavLM's 50 frames/s
    let linearShapes = [(hidden, hidden), (hidden, 3 * hidden), (hidden, ffn), (ffn, hidden)]
    // Feature-extractor convolutions (k3 s2 at the four lengths of a 6 s utterance, then k2 s2) and the first one.
    let convShapes: [(inChannels: Int, kernel: Int, stride: Int, outLength: Int)] =
        [(1, 10, 5, 19199), (channels, 3, 2, 9599), (channels, 3, 2, 4799), (channels, 3, 2, 2399), (channels, 3, 2, 1199),
         (channels, 2, 2, 599), (channels, 2, 2, 299)]
    let inputs = BenchInputs()
    let stores = [MatmulPrecision.fp32, .bf16].map { WeightStore(randomSeed: 2026, matmulPrecision: $0) }

    let raw = (a: inputs.random(Shape(ffn * 300)), b: inputs.random(Shape(hidden * hidden / 16 * 128)),
               c: inputs.random(Shape(channels * 19199)), columns: inputs.random(Shape(channels * 3 * 9599)))
    var cases: [(name: String, flops: Double, bodies: [() -> Void])] = []
    for (i, o) in linearShapes {
        let layers = try stores.map { try Linear($0.scope("linear\(i)x\(o)"), inFeatures: i, outFeatures: o) }
        for t in tokens {
            let x = inputs.random(Shape(t, i)), y = inputs.random(Shape(t, o))
            cases.append(("Linear \(i)->\(o), T=\(t)", 2.0 * Double(t * i * o), [
                { layers[1].forward(x.view, into: y.view) },
                { layers[0].forward(x.view, into: y.view) },
                { rawSgemm(transposeB: true, m: t, n: o, k: i, a: raw.a.data, lda: i, b: raw.b.data, ldb: i, c: raw.c.data, ldc: o) },
            ]))
        }
    }
    for (index, c) in convShapes.enumerated() {
        let layers = try stores.map {
            try Conv1d($0.scope("conv\(index)"), inChannels: c.inChannels, outChannels: channels, kernelSize: c.kernel,
                       stride: c.stride, bias: false)
        }
        let inLength = (c.outLength - 1) * c.stride + c.kernel, k = c.inChannels * c.kernel
        let x = inputs.random(Shape(1, c.inChannels, inLength))
        let bodies = layers.reversed().map { layer in
            planned { arena in
                let y = arena.tensor(Shape(1, channels, c.outLength))
                return { layer.forward(x.view, into: y, arena: arena) }
            }
        }
        cases.append(("Conv1d \(c.inChannels)->512 k\(c.kernel) s\(c.stride), T'=\(c.outLength)",
                      2.0 * Double(channels * k * c.outLength), bodies + [{
            rawSgemm(m: channels, n: c.outLength, k: k, a: raw.b.data, lda: k, b: raw.columns.data, ldb: c.outLength,
                       c: raw.c.data, ldc: c.outLength)
        }]))
    }
    let positional = try stores.map {
        try Conv1d($0.scope("posconv"), inChannels: hidden, outChannels: hidden, kernelSize: 128, padding: 64, groups: 16)
    }
    for t in tokens {
        let x = inputs.random(Shape(1, hidden, t)), k = hidden / 16 * 128
        let bodies = positional.reversed().map { layer in
            planned { arena in
                let y = arena.tensor(Shape(1, hidden, t + 1))
                return { layer.forward(x.view, into: y, arena: arena) }
            }
        }
        cases.append(("Conv1d 768 k128 g16 (pos.), T=\(t)", 2.0 * Double(hidden * k * (t + 1)), bodies + [{
            for g in 0 ..< 16 {
                rawSgemm(m: hidden / 16, n: t + 1, k: k, a: raw.b.data + g * 48 * k, lda: k, b: raw.columns.data,
                           ldb: t + 1, c: raw.c.data, ldc: t + 1)
            }
        }]))
    }

    let teams = [1: GEMMThreads(count: 1), 2: GEMMThreads(count: 2)]
    print("bf16 products (AVX-512 BF16, fp32 accumulation) vs the same layers in fp32 (both on a GEMMThreads team) vs raw "
          + "cblas_sgemm (OpenBLAS threads); GF/s of useful FLOPs, best of 7 alternating rounds")
    print("case".padding(toLength: 38, withPad: " ", startingAt: 0)
          + "|  1 thread: bf16   fp32  sgemm  bf16/sgemm |  2 threads: bf16   fp32  sgemm  bf16/sgemm")
    for c in cases {
        var line = c.name.padding(toLength: 38, withPad: " ", startingAt: 0)
        for threads in [1, 2] {
            let team = teams[threads]!
            let bodies = [{ team.serving(c.bodies[0]) }, { team.serving(c.bodies[1]) }, { withOpenBLASThreads(threads, c.bodies[2]) }]
            let rates = bestSecondsPerCall(bodies).map { c.flops / $0 / 1e9 }
            line += String(format: "| %16.1f %6.1f %6.1f %10.2fx ", rates[0], rates[1], rates[2], rates[0] / rates[2])
        }
        print(line)
    }
}
