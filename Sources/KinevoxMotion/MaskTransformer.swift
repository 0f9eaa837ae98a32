import KinevoxEngine

// Port of Training/kinevox_train/models/mask_transformer.py.

/// The masked transformer over base-layer (q = 0) codes (`mask_transformer.*`):
/// logits = head(encoder([cond_emb(c) ; token_emb(ids) + positions], key padding))[:, K:].
/// Ids 0 … N−1 are codes, N is the mask token, N+1 padding. Condition tokens are prefixed and get
/// no positions; all-zero condition tokens are the unconditional input of guidance.
/// Read-only after loading: any thread may call it with its own arena.
public final class MaskTransformer {
    public let config: MaskTransformerConfig
    let tokenEmb: Embedding
    let condEmb: Linear
    let trunk: GeneratorTrunk

    /// The mask token id (N).
    public var maskID: Int { config.numCodes }
    /// The padding token id (N + 1).
    public var padID: Int { config.numCodes + 1 }

    public init(_ weights: WeightScope, config: MaskTransformerConfig) throws {
        self.config = config
        tokenEmb = try Embedding(weights.scope("token_emb"), numEmbeddings: config.numCodes + 2,
                                 embeddingDim: config.latentDim)
        condEmb = try Linear(weights.scope("cond_emb"), inFeatures: config.condDim, outFeatures: config.latentDim)
        trunk = try GeneratorTrunk(weights, latentDim: config.latentDim, numLayers: config.numLayers,
                                   numHeads: config.numHeads, ffDim: config.ffDim, maxPositions: config.maxPositions,
                                   headOutDim: config.numCodes)
    }

    /// Logits [B, T, N] for token ids [B·T], condition tokens `cond` [B, K, cond_dim] and `padding`
    /// [B·T] (true = padded token; nil = none).
    public func logits(ids: [Int], cond: TensorView, padding: [Bool]?, arena: ScratchArena) -> TensorView {
        logits(ids: ids, sharedByBatch: false, cond: cond, padding: padding, arena: arena)
    }

    /// `logits` with the token ids either [B·T] or, `sharedByBatch`, [T] used by every batch row.
    func logits(ids: [Int], sharedByBatch: Bool, cond: TensorView, padding: [Bool]?, arena: ScratchArena) -> TensorView {
        let batch = cond.shape[0], prefix = cond.shape[1], tokens = sharedByBatch ? ids.count : ids.count / batch
        let output = arena.tensor(Shape(batch, tokens, config.numCodes))
        let mark = arena.mark()
        let latent = config.latentDim
        let sequence = arena.tensor(Shape(batch, prefix + tokens, latent))
        let conditions = condEmb.forward(cond, arena: arena)
        let embedded = arena.tensor(Shape(sharedByBatch ? 1 : batch, tokens, latent))
        tokenEmb.forward(ids, into: embedded)
        for b in 0..<batch {
            let row = sequence.data + b * (prefix + tokens) * latent
            row.update(from: conditions.data + b * prefix * latent, count: prefix * latent)
            (row + prefix * latent).update(from: embedded.data + (sharedByBatch ? 0 : b) * tokens * latent,
                                           count: tokens * latent)
        }
        trunk.forward(sequence, prefix: prefix, padding: padding, into: output, arena: arena)
        arena.release(to: mark)
        return output
    }

    /// Guided logits [1, T, N] for one sequence: the conditional and unconditional (zeroed `cond`
    /// [1, K, cond_dim]) passes run as one batch of two, then u + scale · (c − u). Scale 1 runs the
    /// conditional pass alone. Allocates nothing but scratch from `arena`.
    public func guidedLogits(ids: [Int], cond: TensorView, scale: Float, arena: ScratchArena) -> TensorView {
        if scale == 1 { return logits(ids: ids, cond: cond, padding: nil, arena: arena) }
        let output = arena.tensor(Shape(1, ids.count, config.numCodes))
        let mark = arena.mark()
        let both = logits(ids: ids, sharedByBatch: true, cond: Self.withUnconditional(cond, arena: arena), padding: nil,
                          arena: arena)
        guided(both, scale: scale, into: output)
        arena.release(to: mark)
        return output
    }

    /// [cond ; zeros] as a batch of two.
    static func withUnconditional(_ cond: TensorView, arena: ScratchArena) -> TensorView {
        let both = arena.zeros(Shape(2, cond.shape[1], cond.shape[2]))
        both.data.update(from: cond.data, count: cond.count)
        return both
    }
}
