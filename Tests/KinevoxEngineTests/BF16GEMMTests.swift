import CKinevoxKernels
import XCTest
@testable import KinevoxEngine

/// The bf16 products (`MatmulPrecision.bf16`, CKinevoxKernels) against (1) their PyTorch twin in
/// Tests/Fixtures/Engine/bf16.safetensors (Training/kinevox_train/fixtures/bf16.py: bf16-rounded inputs and weights,
/// fp32 sums) and (2) OpenBLAS sgemm on odd shapes (M, N, K off the 8 × 48 tile and the 256 × 480 cache blocks,
/// K odd, K = 1 and 2), the larger ones split over a 2-thread `GEMMThreads` team.
///
/// Tolerances, as relative error max|Δ| / max|expected| (`relativeError`):
/// - against the same products of bf16-rounded values in fp32 (the twin, or sgemm on rounded copies): 1e-5. Products
///   of two bf16 values are exact in fp32, so only the order of the fp32 sums differs (~1e-7 · √K).
/// - against fp32 sgemm on the unrounded values: 1e-2. Rounding both operands to bf16 (8 significant bits, relative
///   error ≤ 2⁻⁹ each) moves each dot product by about 2⁻⁸ · √K of its terms' scale, a few 1e-3 of the result's scale
///   here; the test also requires an error above 1e-5, which fails if the layer silently multiplied in fp32.
/// Skipped on a CPU without AVX-512 BF16.
final class BF16GEMMTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(BF16GEMM.isSupported, "this CPU lacks AVX-512 BF16")
    }

    /// Splits the larger products below into parts run by two threads.
    private let team = GEMMThreads(count: 2)

    private func bf16Rounded(_ values: [Float]) -> [Float] {
        values.map { value in
            let bits = value.bitPattern
            return Float(bitPattern: (bits &+ 0x7fff &+ ((bits >> 16) & 1)) & 0xffff_0000)
        }
    }

    private func randomValues(_ count: Int, _ random: inout SeededRandom) -> [Float] {
        (0 ..< count).map { _ in random.nextFloat() * 2 - 1 }
    }

    private func error(_ actual: [Float], _ expected: [Float]) -> Float {
        actual.withUnsafeBufferPointer { a in expected.withUnsafeBufferPointer { e in relativeError(a, e) } }
    }

    /// fp32 sgemm reference: `x` [m, k] · `w`ᵀ ([n, k]) + bias per column.
    private func sgemmAffine(_ x: [Float], _ w: [Float], bias: [Float]?, m: Int, n: Int, k: Int) -> [Float] {
        var y = [Float](repeating: 0, count: m * n)
        x.withUnsafeBufferPointer { xp in w.withUnsafeBufferPointer { wp in y.withUnsafeMutableBufferPointer { yp in
            bias?.withUnsafeBufferPointer { bp in
                Linear.affine(xp.baseAddress!, rows: m, inFeatures: k, ldx: k, weight: wp.baseAddress!, bias: bp.baseAddress!,
                              outFeatures: n, y: yp.baseAddress!, ldy: n)
            } ?? Linear.affine(xp.baseAddress!, rows: m, inFeatures: k, ldx: k, weight: wp.baseAddress!, bias: nil,
                               outFeatures: n, y: yp.baseAddress!, ldy: n)
        } } }
        return y
    }

    func testLinearMatchesPyTorchTwin() throws {
        let store = try WeightStore(path: Fixtures.path("bf16.safetensors"), matmulPrecision: .bf16)
        let scope = store.scope("linear")
        let linear = try Linear(scope.scope("layer"), inFeatures: 301, outFeatures: 53)
        XCTAssertNotNil(linear.bf16Weight)
        let x = try scope.data("input"), expected = try scope.data("output")
        let arena = ScratchArena()
        assertClose(linear.forward(x.view, arena: arena), expected, tolerance: 1e-5, "Linear 301→53, 11 rows")
    }

    func testConv1dMatchesPyTorchTwin() throws {
        let store = try WeightStore(path: Fixtures.path("bf16.safetensors"), matmulPrecision: .bf16)
        let scope = store.scope("conv")
        let conv = try Conv1d(scope.scope("layer"), inChannels: 29, outChannels: 19, kernelSize: 11, stride: 2, padding: 5)
        XCTAssertNotNil(conv.kernel.bf16Weight)
        let x = try scope.data("input"), expected = try scope.data("output")
        let arena = ScratchArena()
        assertClose(conv.forward(x.view, arena: arena), expected, tolerance: 1e-5, "Conv1d 29→19 k11 s2, T=1000")
    }

    func testFP32PrecisionPacksNothing() throws {
        let store = try WeightStore(path: Fixtures.path("bf16.safetensors"))
        XCTAssertNil(try Linear(store.scope("linear.layer"), inFeatures: 301, outFeatures: 53).bf16Weight)
        XCTAssertEqual(MatmulPrecision.bf16.effective, .bf16)
    }

    /// (m, n, k): tile, panel and block edges, odd and tiny K, one shape over several N blocks and K blocks.
    private let shapes: [(m: Int, n: Int, k: Int)] = [
        (1, 1, 1), (3, 5, 2), (7, 47, 3), (8, 48, 16), (9, 49, 17), (13, 97, 255), (17, 50, 257), (5, 130, 513),
        (16, 481, 300), (150, 96, 768), (23, 1000, 33),
    ]

    func testAffineMatchesSgemmOnOddShapes() {
        var random = SeededRandom(seed: 11)
        for (m, n, k) in shapes {
            let x = randomValues(m * k, &random), w = randomValues(n * k, &random), bias = randomValues(n, &random)
            let packed = w.withUnsafeBufferPointer { BF16PackedColumns(weight: $0.baseAddress!, outFeatures: n, inFeatures: k) }
            var y = [Float](repeating: .nan, count: m * n)
            x.withUnsafeBufferPointer { xp in bias.withUnsafeBufferPointer { bp in y.withUnsafeMutableBufferPointer { yp in
                team.serving {
                    BF16GEMM.affine(xp.baseAddress!, rows: m, ldx: k, weight: packed, bias: bp.baseAddress!, y: yp.baseAddress!, ldy: n)
                }
            } } }
            let sameRounding = sgemmAffine(bf16Rounded(x), bf16Rounded(w), bias: bias, m: m, n: n, k: k)
            XCTAssertLessThanOrEqual(error(y, sameRounding), 1e-5, "m \(m) n \(n) k \(k) vs sgemm of rounded values")
            // The kernel's accumulate mode (C += A·B, no bias) on a random start, in two column ranges.
            let start = randomValues(m * n, &random), pairs = kv_bf16_pairs(k)
            var accumulated = start, rows = [UInt32](repeating: 0, count: m * pairs)
            x.withUnsafeBufferPointer { xp in rows.withUnsafeMutableBufferPointer { rp in accumulated.withUnsafeMutableBufferPointer { cp in
                kv_bf16_convert_rows(xp.baseAddress!, m, k, k, rp.baseAddress!, pairs)
                for part in 0 ..< 2 {
                    let range = BF16GEMM.columnRange(n: n, parts: 2, part: part)
                    kv_bf16_gemm_packed_b(m, n, k, rp.baseAddress!, pairs, packed.panels, nil, cp.baseAddress!, n,
                                          range.lowerBound, range.upperBound, 1)
                }
            } } }
            let product = sgemmAffine(bf16Rounded(x), bf16Rounded(w), bias: nil, m: m, n: n, k: k)
            XCTAssertLessThanOrEqual(error(accumulated, zip(start, product).map { $0 + $1 }), 1e-5, "m \(m) n \(n) k \(k) accumulated")
            let fp32 = sgemmAffine(x, w, bias: bias, m: m, n: n, k: k)
            let fp32Error = error(y, fp32)
            XCTAssertLessThanOrEqual(fp32Error, 1e-2, "m \(m) n \(n) k \(k) vs fp32 sgemm")
            if k > 2 { XCTAssertGreaterThan(fp32Error, 1e-5, "m \(m) n \(n) k \(k): no bf16 rounding seen") }
        }
    }

    /// The convolution-side kernel (weights as rows, fp32 B packed per call), with a row bias and with accumulation.
    func testMultiplyMatchesSgemmOnOddShapes() {
        var random = SeededRandom(seed: 12)
        let arena = ScratchArena()
        for (m, n, k) in shapes {
            let w = randomValues(m * k, &random), b = randomValues(k * n, &random), bias = randomValues(m, &random)
            let start = randomValues(m * n, &random)
            let packed = w.withUnsafeBufferPointer { BF16PackedRows(weight: $0.baseAddress!, rows: m, columns: k) }
            var y = [Float](repeating: .nan, count: m * n), accumulated = start
            b.withUnsafeBufferPointer { bp in bias.withUnsafeBufferPointer { biasp in
                y.withUnsafeMutableBufferPointer { yp in
                    team.serving {
                        BF16GEMM.multiply(packed, firstRow: 0, rows: m, b: bp.baseAddress!, n: n, ldb: n, bias: biasp.baseAddress!,
                                          c: yp.baseAddress!, ldc: n, arena: arena)
                    }
                }
                accumulated.withUnsafeMutableBufferPointer { cp in
                    arena.reset()
                    let workspace = UnsafeMutableRawPointer(arena.allocate(count: kv_bf16_workspace_count()))
                        .assumingMemoryBound(to: UInt32.self)
                    kv_bf16_gemm_b_fp32(m, n, k, packed.pairRows, kv_bf16_pairs(k), bp.baseAddress!, n, nil, cp.baseAddress!, n,
                                        0, n, 1, workspace)
                }
            } }
            // Reference: C = W · B as (Bᵀ Wᵀ)ᵀ with sgemm, on rounded and on unrounded values.
            func reference(_ w: [Float], _ b: [Float]) -> [Float] {
                var c = [Float](repeating: 0, count: m * n)
                w.withUnsafeBufferPointer { wp in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                    BLAS.sgemm(m: m, n: n, k: k, a: wp.baseAddress!, lda: k, b: bp.baseAddress!, ldb: n, c: cp.baseAddress!, ldc: n)
                } } }
                return c
            }
            let rounded = reference(bf16Rounded(w), bf16Rounded(b))
            let withBias = (0 ..< m * n).map { rounded[$0] + bias[$0 / n] }
            XCTAssertLessThanOrEqual(error(y, withBias), 1e-5, "m \(m) n \(n) k \(k) with bias vs sgemm of rounded values")
            XCTAssertLessThanOrEqual(error(accumulated, zip(start, rounded).map { $0 + $1 }), 1e-5, "m \(m) n \(n) k \(k) accumulated")
            let fp32 = reference(w, b)
            let fp32Error = error(y, (0 ..< m * n).map { fp32[$0] + bias[$0 / n] })
            XCTAssertLessThanOrEqual(fp32Error, 1e-2, "m \(m) n \(n) k \(k) vs fp32 sgemm")
        }
    }

    /// `affine` on a 2-thread team (rounding of x split by rows, product split by columns) against the caller alone,
    /// above the split sizes: every element is rounded and summed the same way, so equal bit for bit.
    func testAffineSplitOverTeamEqualsCallerAlone() {
        var random = SeededRandom(seed: 14)
        for (m, n, k) in [(150, 96, 768), (401, 100, 333)] {
            XCTAssertGreaterThanOrEqual(m * k, GEMMThreads.parallelElementCount)
            let x = randomValues(m * k, &random), w = randomValues(n * k, &random), bias = randomValues(n, &random)
            let packed = w.withUnsafeBufferPointer { BF16PackedColumns(weight: $0.baseAddress!, outFeatures: n, inFeatures: k) }
            var alone = [Float](repeating: .nan, count: m * n), split = alone
            x.withUnsafeBufferPointer { xp in bias.withUnsafeBufferPointer { bp in
                alone.withUnsafeMutableBufferPointer { yp in
                    BF16GEMM.affine(xp.baseAddress!, rows: m, ldx: k, weight: packed, bias: bp.baseAddress!, y: yp.baseAddress!, ldy: n)
                }
                split.withUnsafeMutableBufferPointer { yp in
                    team.serving {
                        BF16GEMM.affine(xp.baseAddress!, rows: m, ldx: k, weight: packed, bias: bp.baseAddress!, y: yp.baseAddress!, ldy: n)
                    }
                }
            } }
            XCTAssertEqual(split, alone, "m \(m) n \(n) k \(k)")
        }
    }

    /// `convolve` (im2col columns packed straight from a 1-D convolution's input) against `multiply` on the filled
    /// im2col matrix, split over the team: both pack the same bf16 values into the same blocks, so equal bit for bit.
    /// Strides 1 and 2 (vector loads) and 3 and 5 (gathers), dilation, padding wider than the kernel, K odd and across
    /// the 256-deep block, N across the 480-wide block.
    func testConvolveMatchesMultiplyOnFilledColumns() {
        struct Geometry { var channels, width, kernel, stride, dilation, padding, rows: Int }
        let geometries = [
            Geometry(channels: 3, width: 50, kernel: 3, stride: 1, dilation: 1, padding: 1, rows: 5),
            Geometry(channels: 64, width: 1000, kernel: 3, stride: 2, dilation: 1, padding: 0, rows: 19),
            Geometry(channels: 101, width: 700, kernel: 3, stride: 2, dilation: 2, padding: 3, rows: 13),
            Geometry(channels: 1, width: 4000, kernel: 10, stride: 5, dilation: 1, padding: 0, rows: 8),
            Geometry(channels: 7, width: 90, kernel: 4, stride: 3, dilation: 1, padding: 5, rows: 9),
            Geometry(channels: 16, width: 64, kernel: 1, stride: 1, dilation: 1, padding: 0, rows: 8),
            Geometry(channels: 5, width: 20, kernel: 8, stride: 1, dilation: 3, padding: 12, rows: 3),
        ]
        var random = SeededRandom(seed: 13)
        let arena = ScratchArena()
        for g in geometries {
            let n = (g.width + 2 * g.padding - g.dilation * (g.kernel - 1) - 1) / g.stride + 1, k = g.channels * g.kernel
            let x = randomValues(g.channels * g.width, &random), w = randomValues(g.rows * k, &random), bias = randomValues(g.rows, &random)
            var columns = [Float](repeating: 0, count: k * n)
            for c in 0 ..< g.channels {
                for j in 0 ..< g.kernel {
                    for t in 0 ..< n {
                        let at = t * g.stride + j * g.dilation - g.padding
                        if at >= 0 && at < g.width { columns[(c * g.kernel + j) * n + t] = x[c * g.width + at] }
                    }
                }
            }
            let packed = w.withUnsafeBufferPointer { BF16PackedRows(weight: $0.baseAddress!, rows: g.rows, columns: k) }
            var filled = [Float](repeating: .nan, count: g.rows * n), direct = filled
            team.serving {
                columns.withUnsafeBufferPointer { b in bias.withUnsafeBufferPointer { biasp in filled.withUnsafeMutableBufferPointer { c in
                    BF16GEMM.multiply(packed, firstRow: 0, rows: g.rows, b: b.baseAddress!, n: n, ldb: n, bias: biasp.baseAddress!,
                                      c: c.baseAddress!, ldc: n, arena: arena)
                } } }
                x.withUnsafeBufferPointer { xp in bias.withUnsafeBufferPointer { biasp in direct.withUnsafeMutableBufferPointer { c in
                    let input = kv_conv1d_input(x: xp.baseAddress!, channels: g.channels, width: g.width, kernel: g.kernel,
                                                stride: g.stride, dilation: g.dilation, padding: g.padding)
                    BF16GEMM.convolve(packed, firstRow: 0, rows: g.rows, input: input, n: n, bias: biasp.baseAddress!,
                                      c: c.baseAddress!, ldc: n, arena: arena)
                } } }
            }
            XCTAssertEqual(direct, filled, "\(g)")
        }
    }

    /// Self-attention loaded with bf16 products (input projection and out_proj) against the fp32 PyTorch output of
    /// layers.safetensors: within the bf16 tolerance (2e-2: two products in a row, plus softmax) and visibly not fp32.
    func testSelfAttentionWithBF16Projections() throws {
        let store = try WeightStore(path: Fixtures.path("layers.safetensors"), matmulPrecision: .bf16)
        let attention = try MultiheadAttention(store.scope("mha.layer"), embedDim: 32, numHeads: 4)
        XCTAssertNotNil(attention.bf16InProj)
        XCTAssertNotNil(attention.outProj.bf16Weight)
        let x = try store.scope("mha").data("input"), expected = try store.scope("mha").data("output")
        let arena = ScratchArena()
        let y = arena.tensor(x.view.shape)
        attention.forward(x.view, into: y, arena: arena)
        let error = relativeError(UnsafeBufferPointer(start: y.data, count: y.count), UnsafeBufferPointer(start: expected.data, count: expected.count))
        XCTAssertLessThanOrEqual(error, 2e-2)
        XCTAssertGreaterThan(error, 1e-5, "no bf16 rounding seen")
    }

    /// Grouped, strided, dilated and bias-free convolutions (Conv1d and Conv2d cases of layers.safetensors) loaded with
    /// bf16 products against PyTorch's fp32 output: within 1e-2 and visibly rounded (> 1e-5).
    func testGroupedConvolutionsWithBF16Products() throws {
        let store = try WeightStore(path: Fixtures.path("layers.safetensors"), matmulPrecision: .bf16)
        let arena = ScratchArena()
        func check(_ name: String, _ forward: (TensorView) -> TensorView) throws {
            let x = try store.scope(name).data("input"), expected = try store.scope(name).data("output")
            let y = forward(x.view)
            let error = relativeError(UnsafeBufferPointer(start: y.data, count: y.count),
                                      UnsafeBufferPointer(start: expected.data, count: expected.count))
            XCTAssertLessThanOrEqual(error, 1e-2, name)
            XCTAssertGreaterThan(error, 1e-5, "\(name): no bf16 rounding seen")
        }
        let conv1d = try Conv1d(store.scope("conv1d_strided_groups.layer"), inChannels: 8, outChannels: 12, kernelSize: 4,
                                stride: 2, padding: 2, groups: 2)
        XCTAssertNotNil(conv1d.kernel.bf16Weight)
        try check("conv1d_strided_groups") { conv1d.forward($0, arena: arena) }
        let dilated = try Conv2d(store.scope("conv2d_groups_dilated.layer"), inChannels: 4, outChannels: 6, kernelSize: (3, 2),
                                 padding: (2, 1), dilation: (2, 1), groups: 2)
        try check("conv2d_groups_dilated") { dilated.forward($0, arena: arena) }
        let depthwise = try Conv2d(store.scope("conv2d_depthwise.layer"), inChannels: 5, outChannels: 5, kernelSize: (3, 3),
                                   stride: (2, 2), padding: (1, 1), groups: 5, bias: false)
        try check("conv2d_depthwise") { depthwise.forward($0, arena: arena) }
    }

    func testColumnRangesCoverEveryColumnOnce() {
        for n in [1, 47, 48, 49, 96, 500, 3072] {
            for parts in 1 ... 5 {
                let ranges = (0 ..< parts).map { BF16GEMM.columnRange(n: n, parts: parts, part: $0) }
                XCTAssertEqual(ranges.first?.lowerBound, 0)
                XCTAssertEqual(ranges.last?.upperBound, n)
                for (a, b) in zip(ranges, ranges.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound, "n \(n) parts \(parts)") }
                XCTAssert(ranges.allSatisfy { $0.lowerBound % 48 == 0 || $0.isEmpty }, "n \(n) parts \(parts): ranges start on panels")
            }
        }
    }
}
