import XCTest
@testable import KinevoxEngine

/// Every layer against PyTorch (fixtures from Training/kinevox_train/fixtures/engine.py). Tolerance: relative
/// error max|swift − torch| / max(max|torch|, 1e-6) ≤ 1e-5 (fp32 math on both sides).
final class LayerParityTests: XCTestCase {
    let arena = ScratchArena()

    /// Binds the case's layer with `make`, checks the layer took every tensor of its state dict, runs `run`
    /// on the input and compares with the stored output.
    func check<Layer>(_ name: String, tolerance: Float = 1e-5, make: (WeightScope) throws -> Layer,
                      run: (Layer, TensorView) -> TensorView, file: StaticString = #filePath, line: UInt = #line) throws {
        let store = try Fixtures.layers()
        let scope = store.scope(name)
        let layer = try make(scope.scope("layer"))
        try scope.scope("layer").finish()
        let input = try scope.data("input")
        let expected = try scope.data("output")
        arena.reset()
        assertClose(run(layer, input.view), expected, tolerance: tolerance, name, file: file, line: line)
    }

    func testLinear() throws {
        try check("linear", make: { try Linear($0, inFeatures: 24, outFeatures: 40) }, run: { $0.forward($1, arena: arena) })
        try check("linear_nobias", make: { try Linear($0, inFeatures: 24, outFeatures: 40, bias: false) },
                  run: { $0.forward($1, arena: arena) })
    }

    func testLayerNorm() throws {
        try check("layer_norm", make: { try LayerNorm($0, features: 32) }, run: { layer, x in layer.forward(x); return x })
    }

    func testGroupNorm() throws {
        try check("group_norm", make: { try GroupNorm($0, groups: 4, channels: 16) }, run: { layer, x in layer.forward(x); return x })
    }

    func testBatchNormInferenceMode() throws {
        try check("batch_norm1d", make: { try BatchNorm1d($0, channels: 12) }, run: { layer, x in layer.forward(x); return x })
        try check("batch_norm2d", make: { try BatchNorm2d($0, channels: 6) }, run: { layer, x in layer.forward(x); return x })
    }

    func testActivations() throws {
        let cases: [(String, Activation)] = [("gelu", .gelu), ("gelu_tanh", .geluTanh), ("relu", .relu),
                                             ("leaky_relu", .leakyReLU(negativeSlope: 0.1)), ("silu", .silu)]
        for (name, activation) in cases {
            let scope = try Fixtures.layers().scope(name)
            let x = try scope.data("input")
            activation.apply(x.view)
            assertClose(x.view, try scope.data("output"), name)
        }
    }

    func testSoftmaxIsStableForLargeLogits() throws {
        let scope = try Fixtures.layers().scope("softmax")
        let x = try scope.data("input")
        softmax(x.view)
        assertClose(x.view, try scope.data("output"))
    }

    func testConv1d() throws {
        try check("conv1d_pad", make: { try Conv1d($0, inChannels: 8, outChannels: 12, kernelSize: 3, padding: 1) },
                  run: { $0.forward($1, arena: arena) })
        try check("conv1d_dilated", make: { try Conv1d($0, inChannels: 8, outChannels: 12, kernelSize: 3, padding: 3, dilation: 3) },
                  run: { $0.forward($1, arena: arena) })
        try check("conv1d_strided_groups",
                  make: { try Conv1d($0, inChannels: 8, outChannels: 12, kernelSize: 4, stride: 2, padding: 2, groups: 2) },
                  run: { $0.forward($1, arena: arena) })
        try check("conv1d_pointwise", make: { try Conv1d($0, inChannels: 8, outChannels: 12, kernelSize: 1) },
                  run: { $0.forward($1, arena: arena) })
    }

    func testConv2d() throws {
        try check("conv2d_strided",
                  make: { try Conv2d($0, inChannels: 3, outChannels: 8, kernelSize: (3, 3), stride: (2, 1), padding: (1, 1)) },
                  run: { $0.forward($1, arena: arena) })
        try check("conv2d_groups_dilated",
                  make: { try Conv2d($0, inChannels: 4, outChannels: 6, kernelSize: (3, 2), padding: (2, 1), dilation: (2, 1), groups: 2) },
                  run: { $0.forward($1, arena: arena) })
        try check("conv2d_depthwise",
                  make: { try Conv2d($0, inChannels: 5, outChannels: 5, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), groups: 5, bias: false) },
                  run: { $0.forward($1, arena: arena) })
    }

    func testPoolingAndUpsampling() throws {
        try check("max_pool1d", make: { _ in MaxPool1d(kernelSize: 3, stride: 2, padding: 1) }, run: { $0.forward($1, arena: arena) })
        try check("max_pool2d", make: { _ in MaxPool2d(kernelSize: (2, 3), stride: (2, 2), padding: (1, 1)) },
                  run: { $0.forward($1, arena: arena) })
        try check("upsample_nearest1d", make: { _ in UpsampleNearest1d(scaleFactor: 2) }, run: { $0.forward($1, arena: arena) })
    }

    func testEmbedding() throws {
        let scope = try Fixtures.layers().scope("embedding")
        let embedding = try Embedding(scope.scope("layer"), numEmbeddings: 50, embeddingDim: 16)
        let ids = try scope.data("ids").toArray().map { Int($0) }
        let y = arena.tensor(Shape(2, 7, 16))
        embedding.forward(ids, into: y)
        assertClose(y, try scope.data("output"))
    }

    func testPositionalEncodingMatchesMoMaskTable() throws {
        let scope = try Fixtures.layers().scope("positional_encoding")
        let stored = try SinusoidalPositionalEncoding(scope.scope("layer"), dModel: 32, maxLength: 64)
        let computed = SinusoidalPositionalEncoding(dModel: 32, maxLength: 64)
        assertClose(computed.table.view, stored.table, "computed table vs MoMask buffer")
        let x = try scope.data("input")
        computed.add(to: x.view, offset: 3)
        assertClose(x.view, try scope.data("output"))
    }

    func testPositionalEncodingInDoublePrecisionMatchesTrainingTable() throws {
        let reference = try Fixtures.layers().scope("positional_encoding_f64").data("table")
        let table = SinusoidalPositionalEncoding(dModel: 32, maxLength: 64, precision: .float64).table
        assertClose(table.view, reference, tolerance: 1e-7)
    }
}
