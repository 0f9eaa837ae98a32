import Foundation
import KinevoxEngine

// Pieces shared by the generators, ported from Training/kinevox_train/models/layers.py.

/// `PredictionHead`: out(LayerNorm(GELU(dense(x)))), the generators' BERT-style token head.
final class PredictionHead {
    let dense: Linear
    let norm: LayerNorm
    let out: Linear

    init(_ weights: WeightScope, dim: Int, outDim: Int) throws {
        dense = try Linear(weights.scope("dense"), inFeatures: dim, outFeatures: dim)
        norm = try LayerNorm(weights.scope("norm"), features: dim)
        out = try Linear(weights.scope("out"), inFeatures: dim, outFeatures: outDim)
    }

    /// [..., dim] → [..., outDim] into `y`.
    func forward(_ x: TensorView, into y: TensorView, arena: ScratchArena) {
        let mark = arena.mark()
        let hidden = dense.forward(x, arena: arena)
        Activation.gelu.apply(hidden)
        norm.forward(hidden)
        out.forward(hidden, into: y)
        arena.release(to: mark)
    }
}

/// The generators' shared trunk: a pre-norm GELU transformer stack with a final LayerNorm run over
/// [prefix tokens ; motion tokens + positions], then the prediction head on the motion tokens.
final class GeneratorTrunk {
    let encoder: TransformerEncoder
    let head: PredictionHead
    let positions: Tensor
    let latentDim: Int

    init(_ weights: WeightScope, latentDim: Int, numLayers: Int, numHeads: Int, ffDim: Int, maxPositions: Int,
         headOutDim: Int) throws {
        encoder = try TransformerEncoder(weights.scope("encoder"), numLayers: numLayers, dModel: latentDim,
                                         numHeads: numHeads, dimFeedforward: ffDim, activation: .gelu,
                                         normFirst: true, finalNorm: true)
        head = try PredictionHead(weights.scope("head"), dim: latentDim, outDim: headOutDim)
        // `sinusoidal_positions` of the training code: computed in float64, then rounded
        positions = SinusoidalPositionalEncoding(dModel: latentDim, maxLength: maxPositions, precision: .float64).table
        self.latentDim = latentDim
    }

    /// Most motion tokens one pass can take.
    var maxTokens: Int { positions.shape[0] }

    /// Runs `sequence` [B, P + T, latent] (prefix rows 0..<P filled, motion rows P..<P+T holding the
    /// token inputs without positions) and writes head(y[:, P:]) into `output` [B, T, headOut].
    /// `padding` [B·T] marks padded motion tokens (prefix tokens are never padding); nil or all false
    /// runs without a key mask (and allocates nothing but scratch from `arena`).
    func forward(_ sequence: TensorView, prefix: Int, padding: [Bool]?, into output: TensorView, arena: ScratchArena) {
        let batch = sequence.shape[0], length = sequence.shape[1], tokens = length - prefix
        precondition(tokens <= maxTokens && (padding?.count ?? batch * tokens) == batch * tokens, "GeneratorTrunk: \(tokens) tokens")
        let mark = arena.mark()
        for b in 0..<batch {
            let rows = sequence.data + (b * length + prefix) * latentDim
            for i in 0..<tokens * latentDim { rows[i] += positions.data[i] }
        }
        var mask: [Bool]?
        if let padding, padding.contains(true) {
            var keys = [Bool](repeating: false, count: batch * length)
            for b in 0..<batch {
                for t in 0..<tokens { keys[b * length + prefix + t] = padding[b * tokens + t] }
            }
            mask = keys
        }
        encoder.forward(sequence, keyPaddingMask: mask, arena: arena)
        let motion = arena.tensor(Shape(batch, tokens, latentDim))
        for b in 0..<batch {
            (motion.data + b * tokens * latentDim).update(from: sequence.data + (b * length + prefix) * latentDim,
                                                          count: tokens * latentDim)
        }
        head.forward(motion, into: output, arena: arena)
        arena.release(to: mark)
    }
}

/// Classifier-free guidance over a batch of two stacked as [conditional ; unconditional]:
/// writes u + scale · (c − u) into `output` (one batch row).
func guided(_ both: TensorView, scale: Float, into output: TensorView) {
    let half = both.count / 2
    precondition(output.count == half, "guided: \(both.shape) into \(output.shape)")
    for i in 0..<half {
        let c = both.data[i], u = both.data[half + i]
        output.data[i] = u + scale * (c - u)
    }
}
