/// `torch.nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)` in eval mode (no dropout), bidirectional.
/// State dict: `in_proj_weight` [3E, E], `in_proj_bias` [3E], `out_proj.weight` [E, E], `out_proj.bias` [E].
/// Options per call: a key-padding mask (true = ignore that key, as in PyTorch) and an additive attention bias
/// (e.g. WavLM's relative position bias). Any thread after loading (scratch from the caller's arena).
public final class MultiheadAttention {
    public let embedDim: Int
    public let numHeads: Int
    public var headDim: Int { embedDim / numHeads }
    /// [3E, E]: query, key and value projections stacked.
    public let inProjWeight: Tensor
    /// [3E], nil without bias.
    public let inProjBias: Tensor?
    public let outProj: Linear
    /// bf16 panels of `inProjWeight` for self-attention when bound with `MatmulPrecision.bf16`, else nil.
    public let bf16InProj: BF16PackedColumns?

    public init(_ weights: WeightScope, embedDim: Int, numHeads: Int, bias: Bool = true) throws {
        precondition(numHeads > 0 && embedDim % numHeads == 0, "MultiheadAttention: \(embedDim) not divisible by \(numHeads) heads")
        self.embedDim = embedDim
        self.numHeads = numHeads
        inProjWeight = try weights.take("in_proj_weight", shape: [3 * embedDim, embedDim])
        inProjBias = bias ? try weights.take("in_proj_bias", shape: [3 * embedDim]) : nil
        outProj = try Linear(weights.scope("out_proj"), inFeatures: embedDim, outFeatures: embedDim, bias: bias)
        bf16InProj = BF16PackedColumns.ifRequested(by: weights, weight: inProjWeight, outFeatures: 3 * embedDim, inFeatures: embedDim)
    }

    /// Self-attention: `y = attention(x, x, x)` for `x` [B, T, E] into `y` [B, T, E] (no overlap with `x`).
    /// - Parameters:
    ///   - keyPaddingMask: [B·T] row-major [B, T]; true marks a padded key to ignore.
    ///   - attentionBias: added to the scaled scores: [H, T, T] (shared by the batch) or [B, H, T, T].
    public func forward(_ x: TensorView, into y: TensorView, keyPaddingMask: [Bool]? = nil,
                        attentionBias: TensorView? = nil, arena: ScratchArena) {
        precondition(x.shape.rank == 3 && x.shape[2] == embedDim && y.shape == x.shape, "MultiheadAttention(\(embedDim)): \(x.shape) → \(y.shape)")
        let batch = x.shape[0], length = x.shape[1], e = embedDim
        let mark = arena.mark()
        let qkv = arena.allocate(count: batch * length * 3 * e)
        if let bf16InProj {
            BF16GEMM.affine(x.data, rows: batch * length, ldx: e, weight: bf16InProj, bias: inProjBias?.data, y: qkv, ldy: 3 * e)
        } else {
            Linear.affine(x.data, rows: batch * length, inFeatures: e, ldx: e, weight: inProjWeight.data, bias: inProjBias?.data,
                          outFeatures: 3 * e, y: qkv, ldy: 3 * e)
        }
        let context = arena.tensor(x.shape)
        MultiheadAttention.attend(
            q: qkv, qStride: 3 * e, k: qkv + e, kStride: 3 * e, v: qkv + 2 * e, vStride: 3 * e,
            out: context.data, outStride: e, batch: batch, queryLength: length, keyLength: length,
            heads: numHeads, headDim: headDim, keyPaddingMask: keyPaddingMask, attentionBias: attentionBias, arena: arena)
        outProj.forward(context, into: y)
        arena.release(to: mark)
    }

    /// Attention of `query` [B, T, E] over `key`, `value` [B, S, E] into `y` [B, T, E]; mask [B, S], bias [H, T, S] or [B, H, T, S].
    public func forward(query: TensorView, key: TensorView, value: TensorView, into y: TensorView,
                        keyPaddingMask: [Bool]? = nil, attentionBias: TensorView? = nil, arena: ScratchArena) {
        let e = embedDim
        precondition(query.shape.rank == 3 && query.shape[2] == e && key.shape == value.shape && key.shape[2] == e
                     && key.shape[0] == query.shape[0] && y.shape == query.shape, "MultiheadAttention(\(e)): query \(query.shape), key \(key.shape)")
        let batch = query.shape[0], t = query.shape[1], s = key.shape[1]
        let mark = arena.mark()
        let q = arena.allocate(count: batch * t * e)
        let kv = arena.allocate(count: batch * s * 2 * e)
        let bias = inProjBias?.data
        Linear.affine(query.data, rows: batch * t, inFeatures: e, ldx: e, weight: inProjWeight.data, bias: bias, outFeatures: e, y: q, ldy: e)
        Linear.affine(key.data, rows: batch * s, inFeatures: e, ldx: e, weight: inProjWeight.data + e * e,
                      bias: bias.map { $0 + e }, outFeatures: e, y: kv, ldy: 2 * e)
        Linear.affine(value.data, rows: batch * s, inFeatures: e, ldx: e, weight: inProjWeight.data + 2 * e * e,
                      bias: bias.map { $0 + 2 * e }, outFeatures: e, y: kv + e, ldy: 2 * e)
        let context = arena.tensor(query.shape)
        MultiheadAttention.attend(
            q: q, qStride: e, k: kv, kStride: 2 * e, v: kv + e, vStride: 2 * e, out: context.data, outStride: e,
            batch: batch, queryLength: t, keyLength: s, heads: numHeads, headDim: headDim,
            keyPaddingMask: keyPaddingMask, attentionBias: attentionBias, arena: arena)
        outProj.forward(context, into: y)
        arena.release(to: mark)
    }

    /// Scaled dot-product attention on already projected `q` [B, T, H·D], `k`, `v` [B, S, H·D] (heads side by side
    /// in the last dimension, as PyTorch splits them) into `out` [B, T, H·D]: per head `softmax(q kᵀ / √D + bias,
    /// masked) v`. For models with their own projections (e.g. WavLM's q_proj/k_proj/v_proj).
    public static func attention(q: TensorView, k: TensorView, v: TensorView, into out: TensorView, heads: Int,
                                 keyPaddingMask: [Bool]? = nil, attentionBias: TensorView? = nil, arena: ScratchArena) {
        precondition(q.shape.rank == 3 && k.shape == v.shape && k.shape[0] == q.shape[0] && k.shape[2] == q.shape[2]
                     && out.shape == q.shape && q.shape[2] % heads == 0, "attention: q \(q.shape), k \(k.shape), v \(v.shape)")
        let e = q.shape[2]
        attend(q: q.data, qStride: e, k: k.data, kStride: e, v: v.data, vStride: e, out: out.data, outStride: e,
               batch: q.shape[0], queryLength: q.shape[1], keyLength: k.shape[1], heads: heads, headDim: e / heads,
               keyPaddingMask: keyPaddingMask, attentionBias: attentionBias, arena: arena)
    }

    /// The attention core over row-strided q, k, v, out (strides in floats between consecutive tokens). When the
    /// calling thread has a `GEMMThreads` team and the work is large enough, the (batch, head) pairs are split over
    /// the team, each part with its own scores buffer; else the heads run in turn, each GEMM split over the team.
    static func attend(
        q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, kStride: Int, v: UnsafePointer<Float>, vStride: Int,
        out: UnsafeMutablePointer<Float>, outStride: Int, batch: Int, queryLength t: Int, keyLength s: Int,
        heads: Int, headDim d: Int, keyPaddingMask: [Bool]?, attentionBias: TensorView?, arena: ScratchArena
    ) {
        if let keyPaddingMask { precondition(keyPaddingMask.count == batch * s, "key padding mask of \(keyPaddingMask.count) for [\(batch), \(s)]") }
        if let attentionBias {
            precondition(attentionBias.shape == Shape(heads, t, s) || attentionBias.shape == Shape(batch, heads, t, s),
                         "attention bias \(attentionBias.shape) for \(heads) heads, \(t) queries, \(s) keys")
        }
        let pairs = batch * heads
        let parts = 4 * t * s * d * pairs < GEMMThreads.splitThresholdFLOPs ? 1 : Swift.min(GEMMThreads.partLimit, pairs)
        let mark = arena.mark()
        let scores = arena.allocate(count: parts * t * s)
        keyPaddingMask.withOptionalBuffer { mask in
            var job = AttentionJob(q: q, qStride: qStride, k: k, kStride: kStride, v: v, vStride: vStride, out: out,
                                   outStride: outStride, queryLength: t, keyLength: s, heads: heads, headDim: d, pairs: pairs,
                                   keyPaddingMask: mask, bias: attentionBias?.data,
                                   biasPerBatch: attentionBias?.shape.rank == 4, scores: scores)
            if parts > 1 {
                withUnsafePointer(to: &job) { GEMMThreads.runParts(parts, context: UnsafeRawPointer($0), runner: runAttentionPart) }
            } else {
                for pair in 0 ..< pairs { job.attendHead(pair: pair, scores: scores) }
            }
        }
        arena.release(to: mark)
    }
}

/// One `MultiheadAttention.attend` call as its parts see it (on the dispatching thread's stack while they run).
private struct AttentionJob {
    var q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, kStride: Int, v: UnsafePointer<Float>, vStride: Int
    var out: UnsafeMutablePointer<Float>, outStride: Int
    var queryLength: Int, keyLength: Int, heads: Int, headDim: Int
    /// batch · heads.
    var pairs: Int
    /// [B, S], true for a padded key; nil for none.
    var keyPaddingMask: UnsafeBufferPointer<Bool>?
    /// [H, T, S] or, with `biasPerBatch`, [B, H, T, S]; nil for none.
    var bias: UnsafePointer<Float>?, biasPerBatch: Bool
    /// One T × S buffer per part.
    var scores: UnsafeMutablePointer<Float>

    /// Head `pair % heads` of batch item `pair / heads`: `softmax(q kᵀ / √D + bias, masked) v`, scores in `scores`.
    func attendHead(pair: Int, scores: UnsafeMutablePointer<Float>) {
        let t = queryLength, s = keyLength, d = headDim, b = pair / heads, h = pair % heads
        let qh = q + b * t * qStride + h * d, kh = k + b * s * kStride + h * d, vh = v + b * s * vStride + h * d
        BLAS.sgemm(transposeB: true, m: t, n: s, k: d, alpha: 1 / Float(d).squareRoot(), a: qh, lda: qStride, b: kh,
                   ldb: kStride, c: scores, ldc: s)
        if let bias {
            let headBias = bias + (biasPerBatch ? pair : h) * t * s
            for i in 0 ..< t * s { scores[i] += headBias[i] }
        }
        if let keyPaddingMask {
            for j in 0 ..< s where keyPaddingMask[b * s + j] {
                for i in 0 ..< t { scores[i * s + j] = -.infinity }
            }
        }
        softmaxRows(scores, rows: t, columns: s)
        BLAS.sgemm(m: t, n: d, k: s, a: scores, lda: s, b: vh, ldb: vStride, c: out + b * t * outStride + h * d, ldc: outStride)
    }
}

/// The (batch, head) pairs of part `part` of `parts` of the `AttentionJob` at `context` (a `GEMMJob.partRunner`),
/// in the part's own scores buffer.
private let runAttentionPart: @convention(c) (UnsafeRawPointer?, Int, Int) -> Void = { context, part, parts in
    guard let job = context?.assumingMemoryBound(to: AttentionJob.self).pointee else { return }
    let scores = job.scores + part * job.queryLength * job.keyLength
    for pair in job.pairs * part / parts ..< job.pairs * (part + 1) / parts { job.attendHead(pair: pair, scores: scores) }
}

private extension Optional where Wrapped == [Bool] {
    /// Calls `body` with the array's buffer, or nil for none.
    func withOptionalBuffer<Result>(_ body: (UnsafeBufferPointer<Bool>?) -> Result) -> Result {
        switch self {
        case let .some(array): return array.withUnsafeBufferPointer { body($0) }
        case .none: return body(nil)
        }
    }
}
