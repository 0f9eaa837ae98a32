import KinevoxEngine

// Port of Training/kinevox_train/models/length_estimator.py.

/// The audio-conditioned motion length estimator (`length_estimator.*`): logits over lengths in
/// tokens (class i = i tokens) = output(GELU(norm(hidden(mean over condition tokens)))).
/// Read-only after loading: any thread may call it with its own arena.
public final class LengthEstimator {
    public let config: LengthEstimatorConfig
    let hidden: Linear
    let norm: LayerNorm
    let output: Linear

    public init(_ weights: WeightScope, config: LengthEstimatorConfig) throws {
        self.config = config
        hidden = try Linear(weights.scope("hidden"), inFeatures: config.condDim, outFeatures: config.hiddenDim)
        norm = try LayerNorm(weights.scope("norm"), features: config.hiddenDim)
        output = try Linear(weights.scope("output"), inFeatures: config.hiddenDim, outFeatures: config.numLengths)
    }

    /// Logits [B, num_lengths] for condition tokens `cond` [B, K, cond_dim].
    public func logits(_ cond: TensorView, arena: ScratchArena) -> TensorView {
        let batch = cond.shape[0], tokens = cond.shape[1], dim = cond.shape[2]
        let result = arena.tensor(Shape(batch, config.numLengths))
        let mark = arena.mark()
        let mean = arena.zeros(Shape(batch, dim))
        for b in 0..<batch {
            for k in 0..<tokens {
                let row = cond.data + (b * tokens + k) * dim
                for d in 0..<dim { mean.data[b * dim + d] += row[d] }
            }
            for d in 0..<dim { mean.data[b * dim + d] /= Float(tokens) }
        }
        let h = hidden.forward(mean, arena: arena)
        norm.forward(h)
        Activation.gelu.apply(h)
        output.forward(h, into: result)
        arena.release(to: mark)
        return result
    }
}
