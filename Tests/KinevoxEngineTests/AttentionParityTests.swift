import XCTest
@testable import KinevoxEngine

/// MultiheadAttention and TransformerEncoderLayer against PyTorch (batch_first, eval, fast path off). Tolerance:
/// relative error max|swift − torch| / max(max|torch|, 1e-6) ≤ 1e-5.
final class AttentionParityTests: XCTestCase {
    let arena = ScratchArena()

    func mask(_ tensor: Tensor) -> [Bool] { tensor.toArray().map { $0 != 0 } }

    func testSelfAttentionPlainMaskedAndBiased() throws {
        let store = try Fixtures.layers()
        let attention = try MultiheadAttention(store.scope("mha.layer"), embedDim: 32, numHeads: 4)
        try store.scope("mha.layer").finish()
        let x = try store.scope("mha").data("input")
        let y = arena.tensor(x.view.shape)
        attention.forward(x.view, into: y, arena: arena)
        assertClose(y, try store.scope("mha").data("output"), "plain")

        let padding = mask(try store.scope("mha_masked").data("key_padding_mask"))
        attention.forward(x.view, into: y, keyPaddingMask: padding, arena: arena)
        assertClose(y, try store.scope("mha_masked").data("output"), "key padding mask")

        let bias = try store.scope("mha_bias").data("attention_bias")
        let biased = try store.scope("mha_bias").data("output")
        attention.forward(x.view, into: y, attentionBias: bias.view, arena: arena)
        assertClose(y, biased, "attention bias [H, T, T]")

        let perBatch = arena.tensor(Shape(2, 4, 6, 6))
        perBatch[0].copy(from: bias.view)
        perBatch[1].copy(from: bias.view)
        attention.forward(x.view, into: y, attentionBias: perBatch, arena: arena)
        assertClose(y, biased, "attention bias [B, H, T, T]")
    }

    func testCrossAttention() throws {
        let store = try Fixtures.layers()
        let attention = try MultiheadAttention(store.scope("mha.layer"), embedDim: 32, numHeads: 4)
        let scope = store.scope("mha_cross")
        let q = try scope.data("query"), k = try scope.data("key"), v = try scope.data("value")
        let y = arena.tensor(q.view.shape)
        attention.forward(query: q.view, key: k.view, value: v.view, into: y, arena: arena)
        assertClose(y, try scope.data("output"))
    }

    func testEncoderLayersPostNormReluAndPreNormGelu() throws {
        for (name, activation, normFirst) in [("encoder_layer_post_relu", Activation.relu, false), ("encoder_layer_pre_gelu", .gelu, true)] {
            let scope = try Fixtures.layers().scope(name)
            let layer = try TransformerEncoderLayer(scope.scope("layer"), dModel: 32, numHeads: 4, dimFeedforward: 64,
                                                    activation: activation, normFirst: normFirst)
            try scope.scope("layer").finish()
            let x = try scope.data("input")
            layer.forward(x.view, keyPaddingMask: mask(try scope.data("key_padding_mask")), arena: arena)
            assertClose(x.view, try scope.data("output"), name)
        }
    }

    func testEncoderStackWithFinalNorm() throws {
        let scope = try Fixtures.layers().scope("encoder")
        let encoder = try TransformerEncoder(scope.scope("layer"), numLayers: 2, dModel: 32, numHeads: 4, dimFeedforward: 64,
                                             activation: .gelu, finalNorm: true)
        try scope.scope("layer").finish()
        let x = try scope.data("input")
        encoder.forward(x.view, arena: arena)
        assertClose(x.view, try scope.data("output"))
    }

    func testScaledDotProductAttentionOnProjectedInputs() throws {
        // Same result as MultiheadAttention when fed its own projections: a check of the public core.
        let store = try Fixtures.layers()
        let attention = try MultiheadAttention(store.scope("mha.layer"), embedDim: 32, numHeads: 4)
        let input = try store.scope("mha").data("input")
        let x = input.view, shape = x.shape
        let q = arena.tensor(shape), k = arena.tensor(shape), v = arena.tensor(shape)
        for (i, target) in [q, k, v].enumerated() {
            Linear.affine(x.data, rows: shape.rows, inFeatures: 32, ldx: 32, weight: attention.inProjWeight.data + i * 32 * 32,
                          bias: attention.inProjBias!.data + i * 32, outFeatures: 32, y: target.data, ldy: 32)
        }
        let context = arena.tensor(shape), y = arena.tensor(shape)
        MultiheadAttention.attention(q: q, k: k, v: v, into: context, heads: 4, arena: arena)
        attention.outProj.forward(context, into: y)
        assertClose(y, try store.scope("mha").data("output"))
    }

    /// Heads split over a 2-thread team (each part one head's GEMMs on one thread) against the heads run in turn
    /// without a team, on random q, k, v large enough to split (2 × 4 heads, 160 × 96 tokens), with a key padding
    /// mask and a per-batch bias. Both compute each head with the same single-threaded GEMMs: equal bit for bit.
    func testHeadsSplitOverTeamMatchHeadsInTurn() {
        let batch = 2, heads = 4, t = 160, s = 96, e = 256
        var random = SeededRandom(seed: 11)
        func values(_ shape: Shape) -> TensorView {
            let view = arena.tensor(shape)
            for i in 0 ..< view.count { view.data[i] = random.nextFloat() * 2 - 1 }
            return view
        }
        let q = values(Shape(batch, t, e)), k = values(Shape(batch, s, e)), v = values(Shape(batch, s, e))
        let bias = values(Shape(batch, heads, t, s))
        let padding = (0 ..< batch * s).map { $0 % 7 == 3 }
        XCTAssertGreaterThanOrEqual(4 * t * s * (e / heads) * batch * heads, GEMMThreads.splitThresholdFLOPs)
        let inTurn = arena.tensor(q.shape), split = arena.tensor(q.shape)
        MultiheadAttention.attention(q: q, k: k, v: v, into: inTurn, heads: heads, keyPaddingMask: padding, attentionBias: bias, arena: arena)
        GEMMThreads(count: 2).serving {
            XCTAssertEqual(GEMMThreads.partLimit, 4)
            MultiheadAttention.attention(q: q, k: k, v: v, into: split, heads: heads, keyPaddingMask: padding, attentionBias: bias, arena: arena)
        }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: split.data, count: split.count)),
                       Array(UnsafeBufferPointer(start: inTurn.data, count: inTurn.count)))
    }
}
