/// `torch.nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, activation, batch_first=True, norm_first)`
/// in eval mode. State dict: `self_attn.*` (see `MultiheadAttention`), `linear1`, `linear2`, `norm1`, `norm2`.
/// Post-norm (`normFirst: false`): `x = norm1(x + sa(x)); x = norm2(x + ff(x))`; pre-norm: `x = x + sa(norm1(x));
/// x = x + ff(norm2(x))`. Any thread after loading (scratch from the caller's arena).
public final class TransformerEncoderLayer {
    public let selfAttention: MultiheadAttention
    public let linear1: Linear
    public let linear2: Linear
    public let norm1: LayerNorm
    public let norm2: LayerNorm
    public let activation: Activation
    public let normFirst: Bool

    public init(_ weights: WeightScope, dModel: Int, numHeads: Int, dimFeedforward: Int, activation: Activation = .relu,
                normFirst: Bool = false, layerNormEps: Float = 1e-5, bias: Bool = true) throws {
        selfAttention = try MultiheadAttention(weights.scope("self_attn"), embedDim: dModel, numHeads: numHeads, bias: bias)
        linear1 = try Linear(weights.scope("linear1"), inFeatures: dModel, outFeatures: dimFeedforward, bias: bias)
        linear2 = try Linear(weights.scope("linear2"), inFeatures: dimFeedforward, outFeatures: dModel, bias: bias)
        norm1 = try LayerNorm(weights.scope("norm1"), features: dModel, eps: layerNormEps, bias: bias)
        norm2 = try LayerNorm(weights.scope("norm2"), features: dModel, eps: layerNormEps, bias: bias)
        self.activation = activation
        self.normFirst = normFirst
    }

    /// Runs the layer on `x` [B, T, dModel] in place. `keyPaddingMask` [B·T] (true = padded token) and
    /// `attentionBias` ([H, T, T] or [B, H, T, T]) as in `MultiheadAttention`.
    public func forward(_ x: TensorView, keyPaddingMask: [Bool]? = nil, attentionBias: TensorView? = nil, arena: ScratchArena) {
        let mark = arena.mark()
        let branch = arena.tensor(x.shape)
        let hidden = arena.tensor(x.shape.replacingLast(linear1.outFeatures))
        if normFirst {
            let normed = arena.tensor(x.shape)
            norm1.forward(x, into: normed)
            selfAttention.forward(normed, into: branch, keyPaddingMask: keyPaddingMask, attentionBias: attentionBias, arena: arena)
            x.add(branch)
            norm2.forward(x, into: normed)
            linear1.forward(normed, into: hidden)
            activation.apply(hidden)
            linear2.forward(hidden, into: branch)
            x.add(branch)
        } else {
            selfAttention.forward(x, into: branch, keyPaddingMask: keyPaddingMask, attentionBias: attentionBias, arena: arena)
            x.add(branch)
            norm1.forward(x)
            linear1.forward(x, into: hidden)
            activation.apply(hidden)
            linear2.forward(hidden, into: branch)
            x.add(branch)
            norm2.forward(x)
        }
        arena.release(to: mark)
    }
}

/// `torch.nn.TransformerEncoder`: `layers.0 … layers.{n-1}` (each a `TransformerEncoderLayer` of the same
/// configuration) and an optional final `norm`. Any thread after loading (scratch from the caller's arena).
public final class TransformerEncoder {
    public let layers: [TransformerEncoderLayer]
    public let norm: LayerNorm?

    public init(_ weights: WeightScope, numLayers: Int, dModel: Int, numHeads: Int, dimFeedforward: Int,
                activation: Activation = .relu, normFirst: Bool = false, layerNormEps: Float = 1e-5, finalNorm: Bool = false) throws {
        layers = try (0 ..< numLayers).map {
            try TransformerEncoderLayer(weights.scope("layers.\($0)"), dModel: dModel, numHeads: numHeads, dimFeedforward: dimFeedforward,
                                        activation: activation, normFirst: normFirst, layerNormEps: layerNormEps)
        }
        norm = finalNorm ? try LayerNorm(weights.scope("norm"), features: dModel, eps: layerNormEps) : nil
    }

    /// Runs every layer (then the final norm) on `x` [B, T, dModel] in place.
    public func forward(_ x: TensorView, keyPaddingMask: [Bool]? = nil, attentionBias: TensorView? = nil, arena: ScratchArena) {
        for layer in layers { layer.forward(x, keyPaddingMask: keyPaddingMask, attentionBias: attentionBias, arena: arena) }
        norm?.forward(x)
    }
}
