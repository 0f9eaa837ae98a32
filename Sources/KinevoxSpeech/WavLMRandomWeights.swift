import Foundation
import KinevoxEngine

extension WavLM {
    /// Every tensor a WavLM of `config` binds, with its shape (transformers' `WavLMModel` state_dict keys,
    /// positional-conv weight norm folded), in binding order.
    public static func tensorShapes(_ config: WavLMConfig) -> [(name: String, shape: [Int])] {
        var shapes: [(String, [Int])] = []
        let h = config.hiddenSize, last = config.convDim.last ?? 0
        for (i, out) in config.convDim.enumerated() {
            let prefix = "feature_extractor.conv_layers.\(i)."
            shapes.append((prefix + "conv.weight", [out, i == 0 ? 1 : config.convDim[i - 1], config.convKernel[i]]))
            if config.convBias { shapes.append((prefix + "conv.bias", [out])) }
            if config.featExtractNorm == "layer" || i == 0 {
                shapes += [(prefix + "layer_norm.weight", [out]), (prefix + "layer_norm.bias", [out])]
            }
        }
        shapes += [("feature_projection.layer_norm.weight", [last]), ("feature_projection.layer_norm.bias", [last]),
                   ("feature_projection.projection.weight", [h, last]), ("feature_projection.projection.bias", [h]),
                   ("encoder.pos_conv_embed.conv.weight", [h, h / config.numConvPosEmbeddingGroups, config.numConvPosEmbeddings]),
                   ("encoder.pos_conv_embed.conv.bias", [h]),
                   ("encoder.layer_norm.weight", [h]), ("encoder.layer_norm.bias", [h])]
        let heads = config.numAttentionHeads
        for l in 0 ..< config.numHiddenLayers {
            let prefix = "encoder.layers.\(l)."
            for projection in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                shapes += [(prefix + "attention.\(projection).weight", [h, h]), (prefix + "attention.\(projection).bias", [h])]
            }
            shapes += [(prefix + "attention.gru_rel_pos_const", [1, heads, 1, 1]),
                       (prefix + "attention.gru_rel_pos_linear.weight", [8, h / heads]),
                       (prefix + "attention.gru_rel_pos_linear.bias", [8])]
            if l == 0 { shapes.append((prefix + "attention.rel_attn_embed.weight", [config.numBuckets, heads])) }
            shapes += [(prefix + "layer_norm.weight", [h]), (prefix + "layer_norm.bias", [h]),
                       (prefix + "feed_forward.intermediate_dense.weight", [config.intermediateSize, h]),
                       (prefix + "feed_forward.intermediate_dense.bias", [config.intermediateSize]),
                       (prefix + "feed_forward.output_dense.weight", [h, config.intermediateSize]),
                       (prefix + "feed_forward.output_dense.bias", [h]),
                       (prefix + "final_layer_norm.weight", [h]), (prefix + "final_layer_norm.bias", [h])]
        }
        return shapes
    }

    /// A WavLM of `config` (e.g. `.base`) with seeded random weights, for benchmarks and smoke tests: norm
    /// weights 1 and biases 0, `gru_rel_pos_const` 1, everything else uniform with standard deviation 0.02.
    /// The weights pass through a temporary fp16 safetensors file (deleted before returning), so loading
    /// exercises the same binding as a converted checkpoint. Throws if the temporary file cannot be written.
    public static func randomlyInitialized(_ config: WavLMConfig, seed: UInt64) throws -> WavLM {
        var random = SeededRandom(seed: seed)
        let limit = Float(0.02 * 3.0.squareRoot())
        var header: [String: Any] = ["__metadata__": [WeightStore.configKey: "{}"]]
        var data = Data()
        for (name, shape) in tensorShapes(config) {
            let count = shape.reduce(1, *)
            let constant: Float? = name.hasSuffix("norm.weight") || name.hasSuffix("gru_rel_pos_const") ? 1
                : (name.hasSuffix(".bias") ? 0 : nil)
            var halves = [Float16](repeating: 0, count: count)
            for i in 0 ..< count { halves[i] = Float16(constant ?? (random.nextFloat() * 2 - 1) * limit) }
            header[name] = ["dtype": "F16", "shape": shape, "data_offsets": [data.count, data.count + 2 * count]]
            halves.withUnsafeBytes { data.append(contentsOf: $0) }
        }
        var json = try JSONSerialization.data(withJSONObject: header)
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))
        var file = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(json)
        file.append(data)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kinevox-random-wavlm-\(UUID().uuidString).safetensors").path
        try file.write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try WeightStore(path: path)
        let model = try WavLM(store.root, config: config)
        try store.root.finish()
        return model
    }
}
