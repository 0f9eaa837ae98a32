import Foundation
import KinevoxEngine

// Port of Training/kinevox_train/models/rvq.py (RVQ-VAE in MoMask's layout). Conv stacks work on
// channels-first [B, C, T] views; the public methods take and return [B, T, 263].

/// `ResidualConvBlock`: x + conv2(ReLU(conv1(ReLU(x)))), conv1 kernel 3 dilated, conv2 kernel 1.
final class ResidualConvBlock {
    let conv1: Conv1d
    let conv2: Conv1d

    init(_ weights: WeightScope, width: Int, dilation: Int) throws {
        conv1 = try Conv1d(weights.scope("conv1"), inChannels: width, outChannels: width, kernelSize: 3,
                           padding: dilation, dilation: dilation)
        conv2 = try Conv1d(weights.scope("conv2"), inChannels: width, outChannels: width, kernelSize: 1)
    }

    /// Runs the block on `x` [B, width, T] in place.
    func forward(_ x: TensorView, arena: ScratchArena) {
        let mark = arena.mark()
        let activated = arena.tensor(x.shape)
        activated.copy(from: x)
        Activation.relu.apply(activated)
        let hidden = conv1.forward(activated, arena: arena)
        Activation.relu.apply(hidden)
        conv2.forward(hidden, into: activated, arena: arena)
        x.add(activated)
        arena.release(to: mark)
    }
}

/// `ResidualStack`: residual blocks with dilations growth^0, growth^1, … (reversed in the decoder).
final class ResidualStack {
    let blocks: [ResidualConvBlock]

    init(_ weights: WeightScope, width: Int, depth: Int, growth: Int, reverse: Bool) throws {
        var dilations = (0..<depth).map { Int(pow(Double(growth), Double($0))) }
        if reverse { dilations.reverse() }
        blocks = try dilations.enumerated().map { index, dilation in
            try ResidualConvBlock(weights.scope("blocks.\(index)"), width: width, dilation: dilation)
        }
    }

    func forward(_ x: TensorView, arena: ScratchArena) {
        for block in blocks { block.forward(x, arena: arena) }
    }
}

/// `MotionEncoder`: [B, 263, T] → conv3, ReLU, down blocks (conv k4 s2 p1 + residual stack), conv3
/// → [B, code_dim, T / 2^down_t].
final class MotionEncoder {
    let inputConv: Conv1d
    let down: [(conv: Conv1d, res: ResidualStack)]
    let outputConv: Conv1d

    init(_ weights: WeightScope, config: RVQConfig) throws {
        inputConv = try Conv1d(weights.scope("input_conv"), inChannels: config.inputDim, outChannels: config.width,
                               kernelSize: 3, padding: 1)
        down = try (0..<config.downT).map { index in
            let block = weights.scope("down.\(index)")
            return (try Conv1d(block.scope("conv"), inChannels: config.width, outChannels: config.width, kernelSize: 4,
                               stride: 2, padding: 1),
                    try ResidualStack(block.scope("res"), width: config.width, depth: config.depth,
                                      growth: config.dilationGrowthRate, reverse: false))
        }
        outputConv = try Conv1d(weights.scope("output_conv"), inChannels: config.width, outChannels: config.codeDim,
                                kernelSize: 3, padding: 1)
    }

    func forward(_ x: TensorView, arena: ScratchArena) -> TensorView {
        var h = inputConv.forward(x, arena: arena)
        Activation.relu.apply(h)
        for block in down {
            h = block.conv.forward(h, arena: arena)
            block.res.forward(h, arena: arena)
        }
        return outputConv.forward(h, arena: arena)
    }
}

/// `MotionDecoder`: [B, code_dim, N] → conv3, ReLU, up blocks (residual stack with reversed
/// dilations, nearest ×2 upsampling, conv3), conv3, ReLU, conv3 → [B, 263, N · 2^down_t].
final class MotionDecoder {
    let inputConv: Conv1d
    let up: [(res: ResidualStack, conv: Conv1d)]
    let hiddenConv: Conv1d
    let outputConv: Conv1d

    init(_ weights: WeightScope, config: RVQConfig) throws {
        inputConv = try Conv1d(weights.scope("input_conv"), inChannels: config.codeDim, outChannels: config.width,
                               kernelSize: 3, padding: 1)
        up = try (0..<config.downT).map { index in
            let block = weights.scope("up.\(index)")
            return (try ResidualStack(block.scope("res"), width: config.width, depth: config.depth,
                                      growth: config.dilationGrowthRate, reverse: true),
                    try Conv1d(block.scope("conv"), inChannels: config.width, outChannels: config.width, kernelSize: 3,
                               padding: 1))
        }
        hiddenConv = try Conv1d(weights.scope("hidden_conv"), inChannels: config.width, outChannels: config.width,
                                kernelSize: 3, padding: 1)
        outputConv = try Conv1d(weights.scope("output_conv"), inChannels: config.width, outChannels: config.inputDim,
                                kernelSize: 3, padding: 1)
    }

    func forward(_ x: TensorView, arena: ScratchArena) -> TensorView {
        var h = inputConv.forward(x, arena: arena)
        Activation.relu.apply(h)
        for block in up {
            block.res.forward(h, arena: arena)
            h = block.conv.forward(Self.upsampleNearest(h, arena: arena), arena: arena)
        }
        let hidden = hiddenConv.forward(h, arena: arena)
        Activation.relu.apply(hidden)
        return outputConv.forward(hidden, arena: arena)
    }

    /// Each frame of [B, C, T] repeated twice → [B, C, 2T].
    static func upsampleNearest(_ x: TensorView, arena: ScratchArena) -> TensorView {
        let rows = x.shape[0] * x.shape[1], length = x.shape[2]
        let y = arena.tensor(Shape(x.shape[0], x.shape[1], 2 * length))
        for row in 0..<rows {
            let source = x.data + row * length, target = y.data + row * 2 * length
            for t in 0..<length {
                target[2 * t] = source[t]
                target[2 * t + 1] = source[t]
            }
        }
        return y
    }
}

/// `ResidualQuantizer`: the codebooks `layers.{q}.codebook` [num_codes, code_dim].
final class ResidualQuantizer {
    let codebooks: [Tensor]
    let numCodes: Int
    let codeDim: Int

    init(_ weights: WeightScope, config: RVQConfig) throws {
        numCodes = config.numCodes
        codeDim = config.codeDim
        codebooks = try (0..<config.numQuantizers).map {
            try weights.scope("layers.\($0)").take("codebook", shape: [config.numCodes, config.codeDim])
        }
    }

    /// Summed codes, channels-first: codes [B, N, layers] (−1 = padding, a zero vector) → [B, code_dim, N].
    func lookup(_ codes: [Int], batch: Int, tokens: Int, layers: Int, arena: ScratchArena) -> TensorView {
        let z = arena.zeros(Shape(batch, codeDim, tokens))
        for b in 0..<batch {
            for t in 0..<tokens {
                for q in 0..<layers {
                    let code = codes[(b * tokens + t) * layers + q]
                    guard code >= 0 else { continue }
                    let row = codebooks[q].data + code * codeDim
                    for c in 0..<codeDim { z.data[(b * codeDim + c) * tokens + t] += row[c] }
                }
            }
        }
        return z
    }

    /// Nearest code per layer on successive residuals of z [B, code_dim, N] → codes [B, N, Q].
    func encode(_ z: TensorView) -> [Int] {
        let batch = z.shape[0], tokens = z.shape[2], layers = codebooks.count
        var codes = [Int](repeating: 0, count: batch * tokens * layers)
        var residual = [Float](repeating: 0, count: codeDim)
        for b in 0..<batch {
            for t in 0..<tokens {
                for c in 0..<codeDim { residual[c] = z.data[(b * codeDim + c) * tokens + t] }
                for q in 0..<layers {
                    let book = codebooks[q].data
                    // ‖x‖² − 2 x·c + ‖c‖², evaluated in the training code's order.
                    var squared: Float = 0
                    for c in 0..<codeDim { squared += residual[c] * residual[c] }
                    var best = 0
                    var bestDistance = Float.infinity
                    for code in 0..<numCodes {
                        let row = book + code * codeDim
                        var product: Float = 0
                        var norm: Float = 0
                        for c in 0..<codeDim {
                            product += residual[c] * row[c]
                            norm += row[c] * row[c]
                        }
                        let distance = squared - 2 * product + norm
                        if distance < bestDistance {
                            bestDistance = distance
                            best = code
                        }
                    }
                    codes[(b * tokens + t) * layers + q] = best
                    for c in 0..<codeDim { residual[c] -= book[best * codeDim + c] }
                }
            }
        }
        return codes
    }
}

/// The residual-quantised VAE over normalised HumanML3D-263 motion (`rvq.*`): the decoder turns the
/// generated codes into motion; encoder and quantizer serve reconstruction checks. Read-only after
/// loading: any thread may call it with its own arena.
public final class RVQVAE {
    public let config: RVQConfig
    let encoder: MotionEncoder
    let quantizer: ResidualQuantizer
    let decoder: MotionDecoder

    /// Frames per code token (2^down_t).
    public var downsample: Int { 1 << config.downT }

    /// Binds `encoder.*`, `quantizer.layers.{q}.codebook` and `decoder.*` under `weights`.
    public init(_ weights: WeightScope, config: RVQConfig) throws {
        self.config = config
        encoder = try MotionEncoder(weights.scope("encoder"), config: config)
        quantizer = try ResidualQuantizer(weights.scope("quantizer"), config: config)
        decoder = try MotionDecoder(weights.scope("decoder"), config: config)
    }

    /// Encoder output [B, code_dim, T / 2^down_t] for normalised motion [B, T, 263].
    public func latent(_ motion: TensorView, arena: ScratchArena) -> TensorView {
        let channelsFirst = arena.tensor(Shape(motion.shape[0], motion.shape[2], motion.shape[1]))
        motion.transposeLastTwo(into: channelsFirst)
        return encoder.forward(channelsFirst, arena: arena)
    }

    /// All-layer codes [B, T / 2^down_t, Q] (row-major) of normalised motion [B, T, 263].
    public func encode(_ motion: TensorView, arena: ScratchArena) -> [Int] {
        let mark = arena.mark()
        defer { arena.release(to: mark) }
        return quantizer.encode(latent(motion, arena: arena))
    }

    /// Normalised motion [B, N · 2^down_t, 263] from codes [B, N, layers] (row-major; layers ≤ Q;
    /// −1 = padding, decoded as the zero vector).
    public func decode(_ codes: [Int], batch: Int, tokens: Int, layers: Int, arena: ScratchArena) -> TensorView {
        precondition(codes.count == batch * tokens * layers && layers <= config.numQuantizers, "RVQVAE.decode: codes shape")
        let output = arena.tensor(Shape(batch, tokens * downsample, config.inputDim))
        let mark = arena.mark()
        let z = quantizer.lookup(codes, batch: batch, tokens: tokens, layers: layers, arena: arena)
        let decoded = decoder.forward(z, arena: arena)
        decoded.transposeLastTwo(into: output)
        arena.release(to: mark)
        return output
    }
}
