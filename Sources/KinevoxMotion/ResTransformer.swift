import KinevoxEngine

// Port of Training/kinevox_train/models/res_transformer.py.

/// The residual transformer (`res_transformer.*`): predicts quantizer layer q (1 … Q−1) from the
/// summed code embeddings of layers below it, the condition tokens and a layer-indicator token:
/// seq = [cond_emb(c) ; quant_emb[q] ; input_proj(history) + positions], logits = head(…)[:, K+1:] ·
/// proj_qᵀ + output_bias[q−1]. With `share_weight` the projection for q < Q−1 is the embedding
/// table of layer q (`token_emb[q]`) and `output_proj_last` for the top layer.
/// Read-only after loading: any thread may call it with its own arena.
public final class ResTransformer {
    public let config: ResTransformerConfig
    /// [Q−1, N, code_dim]: table j embeds layer-j codes.
    let tokenEmb: Tensor
    /// [Q−1, N, code_dim]: row q−1 projects onto layer q's codes (shared rows copied at load).
    let projections: Tensor
    /// [Q−1, N]
    let outputBias: Tensor
    let inputProj: Linear
    let quantEmb: Embedding
    let condEmb: Linear
    let trunk: GeneratorTrunk

    public init(_ weights: WeightScope, config: ResTransformerConfig) throws {
        self.config = config
        let (layers, codes, codeDim) = (config.numQuantizers - 1, config.numCodes, config.codeDim)
        tokenEmb = try weights.take("token_emb", shape: [layers, codes, codeDim])
        if config.shareWeight {
            let last = try weights.take("output_proj_last", shape: [codes, codeDim])
            projections = Tensor(shape: [layers, codes, codeDim])
            let table = codes * codeDim
            if layers > 1 { projections.data.update(from: tokenEmb.data + table, count: (layers - 1) * table) }
            (projections.data + (layers - 1) * table).update(from: last.data, count: table)
        } else {
            projections = try weights.take("output_proj", shape: [layers, codes, codeDim])
        }
        outputBias = try weights.take("output_bias", shape: [layers, codes])
        inputProj = try Linear(weights.scope("input_proj"), inFeatures: codeDim, outFeatures: config.latentDim)
        quantEmb = try Embedding(weights.scope("quant_emb"), numEmbeddings: config.numQuantizers,
                                 embeddingDim: config.latentDim)
        condEmb = try Linear(weights.scope("cond_emb"), inFeatures: config.condDim, outFeatures: config.latentDim)
        trunk = try GeneratorTrunk(weights, latentDim: config.latentDim, numLayers: config.numLayers,
                                   numHeads: config.numHeads, ffDim: config.ffDim, maxPositions: config.maxPositions,
                                   headOutDim: codeDim)
    }

    /// Adds the embeddings of layer `layer`'s codes [B·T] (−1 = padding, adds nothing) to
    /// `history` [B, T, code_dim].
    public func addEmbeddings<Codes: Sequence<Int>>(of codes: Codes, layer: Int, to history: TensorView) {
        let codeDim = config.codeDim
        let table = tokenEmb.data + layer * config.numCodes * codeDim
        for (index, code) in codes.enumerated() where code >= 0 {
            let target = history.data + index * codeDim, source = table + code * codeDim
            for c in 0..<codeDim { target[c] += source[c] }
        }
    }

    /// Logits [B, T, N] for layers `q` [B] (1 … Q−1) given `history` [B, T, code_dim], condition
    /// tokens `cond` [B, K, cond_dim] and `padding` [B·T] (nil = none padded).
    public func logits(history: TensorView, q: [Int], cond: TensorView, padding: [Bool]?,
                       arena: ScratchArena) -> TensorView {
        logits(history: history, layerOfRow: { q[$0] }, cond: cond, padding: padding, arena: arena)
    }

    /// `logits` with batch row b predicting layer `layerOfRow(b)`.
    func logits(history: TensorView, layerOfRow: (Int) -> Int, cond: TensorView, padding: [Bool]?,
                arena: ScratchArena) -> TensorView {
        let batch = history.shape[0], tokens = history.shape[1], prefix = cond.shape[1] + 1
        let (latent, codes, codeDim) = (config.latentDim, config.numCodes, config.codeDim)
        let output = arena.tensor(Shape(batch, tokens, codes))
        let mark = arena.mark()
        let sequence = arena.tensor(Shape(batch, prefix + tokens, latent))
        let conditions = condEmb.forward(cond, arena: arena)
        let projected = inputProj.forward(history, arena: arena)
        for b in 0..<batch {
            let row = sequence.data + b * (prefix + tokens) * latent
            row.update(from: conditions.data + b * (prefix - 1) * latent, count: (prefix - 1) * latent)
            (row + (prefix - 1) * latent).update(from: quantEmb.weight.data + layerOfRow(b) * latent, count: latent)
            (row + prefix * latent).update(from: projected.data + b * tokens * latent, count: tokens * latent)
        }
        let hidden = arena.tensor(Shape(batch, tokens, codeDim))
        trunk.forward(sequence, prefix: prefix, padding: padding, into: hidden, arena: arena)
        for b in 0..<batch {
            let layer = layerOfRow(b) - 1
            let target = output.data + b * tokens * codes
            for t in 0..<tokens { (target + t * codes).update(from: outputBias.data + layer * codes, count: codes) }
            BLAS.sgemm(transposeB: true, m: tokens, n: codes, k: codeDim, a: hidden.data + b * tokens * codeDim,
                       lda: codeDim, b: projections.data + layer * codes * codeDim, ldb: codeDim, beta: 1,
                       c: target, ldc: codes)
        }
        arena.release(to: mark)
        return output
    }

    /// Guided logits [1, T, N] for layer `q` of one sequence (`history` [1, T, code_dim]), the
    /// conditional and unconditional passes batched as two; scale 1 runs the conditional pass alone.
    /// Allocates nothing but scratch from `arena`.
    public func guidedLogits(history: TensorView, q: Int, cond: TensorView, scale: Float,
                             arena: ScratchArena) -> TensorView {
        let tokens = history.shape[1]
        if scale == 1 { return logits(history: history, layerOfRow: { _ in q }, cond: cond, padding: nil, arena: arena) }
        let output = arena.tensor(Shape(1, tokens, config.numCodes))
        let mark = arena.mark()
        let histories = arena.tensor(Shape(2, tokens, config.codeDim))
        histories.data.update(from: history.data, count: history.count)
        (histories.data + history.count).update(from: history.data, count: history.count)
        let both = logits(history: histories, layerOfRow: { _ in q }, cond: MaskTransformer.withUnconditional(cond, arena: arena),
                          padding: nil, arena: arena)
        guided(both, scale: scale, into: output)
        arena.release(to: mark)
        return output
    }
}
