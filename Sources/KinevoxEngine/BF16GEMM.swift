import CKinevoxKernels

/// Precision of the matrix products of `Linear` and `Conv1d`/`Conv2d` layers, chosen when a model is loaded
/// (`WeightStore.matmulPrecision`).
public enum MatmulPrecision: String, CaseIterable, Sendable {
    /// fp32 products (OpenBLAS sgemm): the default, and what the parity fixtures check.
    case fp32
    /// Inputs and weights rounded to bf16, products accumulated in fp32 (AVX-512 BF16). About twice the
    /// fp32 throughput, relative error about 1e-2 of each dot product's magnitude. Layers fall back to fp32 on a
    /// CPU without AVX-512 BF16 (`BF16GEMM.isSupported`).
    case bf16

    /// The precision layers bound with this one actually use on this CPU.
    public var effective: MatmulPrecision { self == .bf16 && !BF16GEMM.isSupported ? .fp32 : self }
}

/// The bf16 GEMM of CKinevoxKernels driven from Swift: fp32 activations are rounded to bf16 per call, weights are
/// packed once at load (`BF16PackedColumns`, `BF16PackedRows`), accumulation is fp32. A large product is split into
/// column ranges run by the calling thread's `GEMMThreads` team (the same team, parts and claiming as `BLAS.sgemm`),
/// else by the caller alone. Any thread may call; no allocation once a thread has seen its largest shape.
public enum BF16GEMM {
    /// Whether this CPU runs the kernels (AVX-512 F/BW/VL and BF16).
    public static let isSupported: Bool = kv_bf16_supported() != 0

    /// Whether layers bound from `weights` should pack bf16 copies of their weights.
    static func isRequested(by weights: WeightScope) -> Bool {
        weights.store.matmulPrecision == .bf16 && isSupported
    }

    /// Parts for an m × n × k product: 1 below the team's split threshold, else up to `partLimit` whole panels.
    static func partCount(m: Int, n: Int, k: Int) -> Int {
        let panels = (n + Int(KV_BF16_NR) - 1) / Int(KV_BF16_NR)
        return 2 * m * n * k < GEMMThreads.splitThresholdFLOPs ? 1 : Swift.max(1, Swift.min(GEMMThreads.partLimit, panels))
    }

    /// Output columns `[begin, end)` of part `part` of `parts` for an `n`-column product: whole 48-column panels,
    /// balanced. Any thread pool can drive the kernels with these ranges.
    public static func columnRange(n: Int, parts: Int, part: Int) -> Range<Int> {
        var begin = 0, end = 0
        kv_bf16_column_range(n, parts, part, &begin, &end)
        return begin ..< end
    }

    /// Runs the `parts` parts of `product` on the calling thread's team (each part claimed by whichever thread is
    /// free), or on the caller alone without a team or while another thread uses it.
    static func run(_ product: BF16Product, parts: Int) {
        withUnsafePointer(to: product) { GEMMThreads.runParts(parts, context: UnsafeRawPointer($0), runner: runBF16Part) }
    }

    /// `y[r] = W x[r] + b` for `rows` rows (row strides `ldx`, `ldy`), W packed in `weight`. The rounding of x to
    /// bf16 is split by rows over the calling thread's team when large, like the product.
    public static func affine(_ x: UnsafePointer<Float>, rows: Int, ldx: Int, weight: BF16PackedColumns,
                              bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, ldy: Int) {
        let k = weight.inFeatures, n = weight.outFeatures, pairs = kv_bf16_pairs(k)
        guard let a = kv_bf16_thread_rows(Swift.max(rows * pairs, 1)) else {
            preconditionFailure("BF16GEMM: out of memory for \(rows)×\(k) bf16 activations")
        }
        GEMMThreads.forEachPart(of: rows, elements: rows * k, BF16RowRounding(x: x, ldx: ldx, columns: k, pairRows: a))
        run(BF16Product(m: rows, n: n, k: k, a: a, lda: pairs, packedB: UnsafePointer(weight.panels), bias: bias, c: y, ldc: ldy),
            parts: partCount(m: rows, n: n, k: k))
    }

    /// Floats of arena scratch one `multiply` or `convolve` on the calling thread takes (a B-packing workspace per part).
    public static var multiplyScratchCount: Int { GEMMThreads.partLimit * kv_bf16_workspace_count() }

    /// `C = A · B + bias` with A the `m` rows from `firstRow` of `weight`, B the fp32 k × n matrix `b` (row stride
    /// `ldb`) and `bias` one value per row of C (or nil). C has row stride `ldc`. The packing workspaces come from
    /// `arena` and are returned to it.
    public static func multiply(_ weight: BF16PackedRows, firstRow: Int, rows m: Int, b: UnsafePointer<Float>, n: Int,
                                ldb: Int, bias: UnsafePointer<Float>?, c: UnsafeMutablePointer<Float>, ldc: Int, arena: ScratchArena) {
        precondition(firstRow >= 0 && firstRow + m <= weight.rows, "BF16GEMM: rows \(firstRow)..<\(firstRow + m) of \(weight.rows)")
        let k = weight.columns, pairs = kv_bf16_pairs(k)
        let parts = partCount(m: m, n: n, k: k), workspaceCount = kv_bf16_workspace_count()
        let mark = arena.mark()
        // Only the C kernel touches this memory (as uint32), so the arena's floats are not rebound.
        let workspace = UnsafeMutableRawPointer(arena.allocate(count: parts * workspaceCount)).assumingMemoryBound(to: UInt32.self)
        run(BF16Product(m: m, n: n, k: k, a: UnsafePointer(weight.pairRows + firstRow * pairs), lda: pairs, b: b, ldb: ldb,
                        bias: bias, c: c, ldc: ldc, workspace: workspace, workspaceCount: workspaceCount), parts: parts)
        arena.release(to: mark)
    }

    /// `multiply` with B the im2col matrix of a 1-D convolution over `input` (`weight.columns` must be
    /// `input.channels · input.kernel`), its columns packed straight from the input by each part: no im2col matrix
    /// is filled, and the products are the same as `multiply` on a filled one. `n` output positions.
    public static func convolve(_ weight: BF16PackedRows, firstRow: Int, rows m: Int, input: kv_conv1d_input, n: Int,
                                bias: UnsafePointer<Float>?, c: UnsafeMutablePointer<Float>, ldc: Int, arena: ScratchArena) {
        precondition(firstRow >= 0 && firstRow + m <= weight.rows, "BF16GEMM: rows \(firstRow)..<\(firstRow + m) of \(weight.rows)")
        precondition(weight.columns == input.channels * input.kernel, "BF16GEMM: \(weight.columns) weight columns for a \(input.channels)-channel, \(input.kernel)-tap input")
        let k = weight.columns, pairs = kv_bf16_pairs(k)
        let parts = partCount(m: m, n: n, k: k), workspaceCount = kv_bf16_workspace_count()
        let mark = arena.mark()
        let workspace = UnsafeMutableRawPointer(arena.allocate(count: parts * workspaceCount)).assumingMemoryBound(to: UInt32.self)
        withUnsafePointer(to: input) { input in
            run(BF16Product(m: m, n: n, k: k, a: UnsafePointer(weight.pairRows + firstRow * pairs), lda: pairs, convInput: input,
                            bias: bias, c: c, ldc: ldc, workspace: workspace, workspaceCount: workspaceCount), parts: parts)
        }
        arena.release(to: mark)
    }
}

/// Rounding of fp32 rows (row stride `ldx`, `columns` wide) to bf16 pair-rows, as `GEMMThreads.forEachPart` items.
private struct BF16RowRounding: PartitionedWork {
    let x: UnsafePointer<Float>, ldx: Int, columns: Int
    let pairRows: UnsafeMutablePointer<UInt32>

    func run(_ rows: Range<Int>) {
        let pairs = kv_bf16_pairs(columns)
        kv_bf16_convert_rows(x + rows.lowerBound * ldx, rows.count, columns, ldx, pairRows + rows.lowerBound * pairs, pairs)
    }
}

/// One bf16 product as its parts see it (on the dispatching thread's stack while they run).
struct BF16Product {
    var m: Int, n: Int, k: Int
    /// Pair-rows of A, row stride `lda` pairs.
    var a: UnsafePointer<UInt32>, lda: Int
    /// B pre-packed in panels (`BF16PackedColumns`), or nil with `b` below.
    var packedB: UnsafePointer<UInt32>? = nil
    /// B as fp32 row-major (row stride `ldb`), packed per block into workspace `part` (`workspaceCount` pairs each).
    var b: UnsafePointer<Float>? = nil, ldb = 0
    /// Or B the im2col matrix of this convolution input, packed the same way.
    var convInput: UnsafePointer<kv_conv1d_input>? = nil
    /// Per column of C with `packedB`, per row of C with `b` or `convInput`; nil for none.
    var bias: UnsafePointer<Float>?
    var c: UnsafeMutablePointer<Float>, ldc: Int
    var workspace: UnsafeMutablePointer<UInt32>? = nil, workspaceCount = 0
}

/// Computes the columns of part `part` of `parts` of the `BF16Product` at `context` (a `GEMMJob.partRunner`).
private let runBF16Part: @convention(c) (UnsafeRawPointer?, Int, Int) -> Void = { context, part, parts in
    guard let product = context?.assumingMemoryBound(to: BF16Product.self).pointee else { return }
    let columns = BF16GEMM.columnRange(n: product.n, parts: parts, part: part)
    guard !columns.isEmpty else { return }
    if let packedB = product.packedB {
        kv_bf16_gemm_packed_b(product.m, product.n, product.k, product.a, product.lda, packedB, product.bias, product.c,
                              product.ldc, columns.lowerBound, columns.upperBound, 0)
    } else if let b = product.b, let workspace = product.workspace {
        kv_bf16_gemm_b_fp32(product.m, product.n, product.k, product.a, product.lda, b, product.ldb, product.bias, product.c,
                            product.ldc, columns.lowerBound, columns.upperBound, 0, workspace + part * product.workspaceCount)
    } else if let input = product.convInput, let workspace = product.workspace {
        kv_bf16_gemm_conv1d(product.m, product.n, product.a, product.lda, input, product.bias, product.c, product.ldc,
                            columns.lowerBound, columns.upperBound, 0, workspace + part * product.workspaceCount)
    }
}

/// Storage for `count` bf16 pairs (at least one), 64-byte aligned for the kernels' zmm loads; release it with
/// `UnsafeMutableRawPointer(pointer).deallocate()`.
private func allocateBF16Pairs(_ count: Int) -> UnsafeMutablePointer<UInt32> {
    let count = Swift.max(count, 1)
    return UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64).bindMemory(to: UInt32.self, capacity: count)
}

/// A `Linear` weight W [outFeatures, inFeatures] packed once as bf16 column panels of Wᵀ (the right-hand operand of
/// `x Wᵀ`). Immutable after creation; any thread may read it.
public final class BF16PackedColumns {
    public let inFeatures: Int
    public let outFeatures: Int
    /// `kv_bf16_packed_b_count(inFeatures, outFeatures)` pairs, 64-byte aligned.
    let panels: UnsafeMutablePointer<UInt32>

    /// Packs row-major `weight` [outFeatures, inFeatures]. Requires `BF16GEMM.isSupported`.
    public init(weight: UnsafePointer<Float>, outFeatures: Int, inFeatures: Int) {
        precondition(BF16GEMM.isSupported, "BF16PackedColumns: this CPU lacks AVX-512 BF16")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        panels = allocateBF16Pairs(kv_bf16_packed_b_count(inFeatures, outFeatures))
        kv_bf16_pack_b(weight, inFeatures, outFeatures, 1, inFeatures, panels)
    }

    /// The packed copy of `weight` when `weights` was loaded with bf16 precision on a CPU that supports it, else nil.
    static func ifRequested(by weights: WeightScope, weight: Tensor, outFeatures: Int, inFeatures: Int) -> BF16PackedColumns? {
        BF16GEMM.isRequested(by: weights) ? BF16PackedColumns(weight: weight.data, outFeatures: outFeatures, inFeatures: inFeatures) : nil
    }

    deinit { UnsafeMutableRawPointer(panels).deallocate() }
}

/// A weight matrix [rows, columns] (e.g. a convolution's [outChannels, inChannels / groups · kernel]) rounded once
/// to bf16 pair-rows (the left-hand operand of `W · im2col`). Immutable after creation; any thread may read it.
public final class BF16PackedRows {
    public let rows: Int
    public let columns: Int
    /// `rows × kv_bf16_pairs(columns)` pairs, 64-byte aligned.
    let pairRows: UnsafeMutablePointer<UInt32>

    /// Rounds row-major `weight` [rows, columns]. Requires `BF16GEMM.isSupported`.
    public init(weight: UnsafePointer<Float>, rows: Int, columns: Int) {
        precondition(BF16GEMM.isSupported, "BF16PackedRows: this CPU lacks AVX-512 BF16")
        self.rows = rows
        self.columns = columns
        let pairs = kv_bf16_pairs(columns)
        pairRows = allocateBF16Pairs(rows * pairs)
        kv_bf16_convert_rows(weight, rows, columns, columns, pairRows, pairs)
    }

    /// The rounded copy of `weight` when `weights` was loaded with bf16 precision on a CPU that supports it, else nil.
    static func ifRequested(by weights: WeightScope, weight: Tensor, rows: Int, columns: Int) -> BF16PackedRows? {
        BF16GEMM.isRequested(by: weights) ? BF16PackedRows(weight: weight.data, rows: rows, columns: columns) : nil
    }

    deinit { UnsafeMutableRawPointer(pairRows).deallocate() }
}
