import Foundation
import KinevoxEngine

/// The sections of a model file's `kinevox.config` JSON that the motion generator reads (the
/// others belong to the speech front end and audio encoder). Keys are the training code's
/// snake_case dataclass fields (Training/kinevox_train/models/config.py). A value; any thread.
public struct GeneratorConfig: Codable, Equatable, Sendable {
    public var lengthEstimator: LengthEstimatorConfig
    public var rvq: RVQConfig
    public var maskTransformer: MaskTransformerConfig
    public var resTransformer: ResTransformerConfig
    public var sampling: SamplingConfig

    enum CodingKeys: String, CodingKey {
        case lengthEstimator = "length_estimator"
        case rvq
        case maskTransformer = "mask_transformer"
        case resTransformer = "res_transformer"
        case sampling
    }

    public init(lengthEstimator: LengthEstimatorConfig, rvq: RVQConfig, maskTransformer: MaskTransformerConfig,
                resTransformer: ResTransformerConfig, sampling: SamplingConfig) {
        self.lengthEstimator = lengthEstimator
        self.rvq = rvq
        self.maskTransformer = maskTransformer
        self.resTransformer = resTransformer
        self.sampling = sampling
    }

    /// Reads the generator's sections from a model file's `kinevox.config` metadata and validates them.
    public init(store: WeightStore) throws {
        self.init(lengthEstimator: try store.config(LengthEstimatorConfig.self, section: "length_estimator"),
                  rvq: try store.config(RVQConfig.self, section: "rvq"),
                  maskTransformer: try store.config(MaskTransformerConfig.self, section: "mask_transformer"),
                  resTransformer: try store.config(ResTransformerConfig.self, section: "res_transformer"),
                  sampling: try store.config(SamplingConfig.self, section: "sampling"))
        try validate()
    }

    /// Refuses sections that disagree (code counts, widths), naming the fields.
    public func validate() throws {
        let checks: [(Bool, String)] = [
            (maskTransformer.numCodes == rvq.numCodes, "mask_transformer.num_codes must equal rvq.num_codes"),
            (resTransformer.numCodes == rvq.numCodes, "res_transformer.num_codes must equal rvq.num_codes"),
            (resTransformer.numQuantizers == rvq.numQuantizers, "res_transformer.num_quantizers must equal rvq.num_quantizers"),
            (resTransformer.codeDim == rvq.codeDim, "res_transformer.code_dim must equal rvq.code_dim"),
            (resTransformer.condDim == maskTransformer.condDim, "res_transformer.cond_dim must equal mask_transformer.cond_dim"),
            (lengthEstimator.condDim == maskTransformer.condDim, "length_estimator.cond_dim must equal mask_transformer.cond_dim"),
            (maskTransformer.numHeads > 0 && maskTransformer.latentDim % maskTransformer.numHeads == 0, "mask_transformer.num_heads must be positive and divide latent_dim"),
            (resTransformer.numHeads > 0 && resTransformer.latentDim % resTransformer.numHeads == 0, "res_transformer.num_heads must be positive and divide latent_dim"),
            (rvq.inputDim == HumanML3D.featureCount, "rvq.input_dim must be \(HumanML3D.featureCount) (HumanML3D features)"),
            (rvq.numQuantizers >= 1, "rvq.num_quantizers must be at least 1"),
            (rvq.width > 0 && rvq.codeDim > 0 && rvq.numCodes > 0 && rvq.depth >= 0 && rvq.dilationGrowthRate >= 1,
             "rvq.width, code_dim, num_codes and dilation_growth_rate must be positive, depth not negative"),
            ((0...7).contains(rvq.downT), "rvq.down_t must be 0…7 (HumanML3D's 196 frames hold at least one token)"),
            (maskTransformer.maxPositions > 0 && resTransformer.maxPositions > 0,
             "mask_transformer.max_positions and res_transformer.max_positions must be positive"),
            (sampling.steps >= 2, "sampling.steps must be at least 2 (the first step predicts every token)"),
            (sampling.minTokens < lengthEstimator.numLengths,
             "sampling.min_tokens must be below length_estimator.num_lengths"),
            (sampling.length == "sample" || sampling.length == "argmax", "sampling.length must be \"sample\" or \"argmax\""),
        ]
        if let failed = checks.first(where: { !$0.0 }) { throw MotionError("kinevox.config: \(failed.1)") }
    }
}

/// `length_estimator` section: condition tokens → distribution over motion lengths in tokens.
public struct LengthEstimatorConfig: Codable, Equatable, Sendable {
    public var condDim: Int
    public var hiddenDim: Int
    public var numLengths: Int

    enum CodingKeys: String, CodingKey {
        case condDim = "cond_dim", hiddenDim = "hidden_dim", numLengths = "num_lengths"
    }
}

/// `rvq` section: the residual-quantised VAE over normalised HumanML3D-263 features.
public struct RVQConfig: Codable, Equatable, Sendable {
    public var inputDim: Int
    public var width: Int
    public var codeDim: Int
    public var numCodes: Int
    public var numQuantizers: Int
    public var downT: Int
    public var depth: Int
    public var dilationGrowthRate: Int

    enum CodingKeys: String, CodingKey {
        case inputDim = "input_dim", width, codeDim = "code_dim", numCodes = "num_codes"
        case numQuantizers = "num_quantizers", downT = "down_t", depth
        case dilationGrowthRate = "dilation_growth_rate"
    }
}

/// `mask_transformer` section: the masked transformer over base-layer codes.
public struct MaskTransformerConfig: Codable, Equatable, Sendable {
    public var numCodes: Int
    public var condDim: Int
    public var latentDim: Int
    public var numLayers: Int
    public var numHeads: Int
    public var ffDim: Int
    public var maxPositions: Int

    enum CodingKeys: String, CodingKey {
        case numCodes = "num_codes", condDim = "cond_dim", latentDim = "latent_dim", numLayers = "num_layers"
        case numHeads = "num_heads", ffDim = "ff_dim", maxPositions = "max_positions"
    }
}

/// `res_transformer` section: the residual transformer filling quantizer layers 1 … Q−1.
public struct ResTransformerConfig: Codable, Equatable, Sendable {
    public var numCodes: Int
    public var numQuantizers: Int
    public var codeDim: Int
    public var condDim: Int
    public var latentDim: Int
    public var numLayers: Int
    public var numHeads: Int
    public var ffDim: Int
    public var shareWeight: Bool
    public var maxPositions: Int

    enum CodingKeys: String, CodingKey {
        case numCodes = "num_codes", numQuantizers = "num_quantizers", codeDim = "code_dim", condDim = "cond_dim"
        case latentDim = "latent_dim", numLayers = "num_layers", numHeads = "num_heads", ffDim = "ff_dim"
        case shareWeight = "share_weight", maxPositions = "max_positions"
    }
}

/// `sampling` section: MaskGIT steps, temperatures, top-k, guidance scales, length choice.
public struct SamplingConfig: Codable, Equatable, Sendable {
    public var steps: Int
    public var temperature: Float
    public var topK: Int
    public var resTemperature: Float
    public var resTopK: Int
    public var maskCfg: Float
    public var resCfg: Float
    /// "sample" (from the length estimator's softmax) or "argmax".
    public var length: String
    public var minTokens: Int

    enum CodingKeys: String, CodingKey {
        case steps, temperature, topK = "top_k", resTemperature = "res_temperature", resTopK = "res_top_k"
        case maskCfg = "mask_cfg", resCfg = "res_cfg", length, minTokens = "min_tokens"
    }
}
