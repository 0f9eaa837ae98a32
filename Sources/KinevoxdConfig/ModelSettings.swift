import Foundation
import KinevoxModel

/// The `[model]` section: which model file to run and how. Built once at start.
public struct ModelSettings {
    /// Absolute path of the `.safetensors` model file (empty in the file = the bundled model).
    public var path: String
    /// Seed of the sampler; the same seed and audio give the same motion.
    public var seed: UInt64
    /// CPU threads for inference (the model's GEMMs are split over them; OpenBLAS itself runs single-threaded).
    public var threads: Int

    init(section: ConfigSection) throws {
        path = try BundledFile.defaultModel.resolve(try section.string("path", default: ""), section: section, key: "path")
        seed = UInt64(try section.int("seed", default: 0, in: 0...Int.max))
        threads = try section.int("threads", default: 2, in: 1...256)
    }
}
