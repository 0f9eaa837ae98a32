import CCrypto
import Foundation
import KinevoxEngine
import KinevoxSpeech

/// Why the front-end file a model names cannot be used: one line naming the model and the file.
public enum FrontEndFileError: Error, Equatable, CustomStringConvertible {
    case missing(file: String, model: String)
    case different(file: String, expected: String, found: String, model: String)

    public var description: String {
        switch self {
        case let .missing(file, model):
            return "\(model) names the front-end file \(file), which does not exist (run `make whisper-encoder` to rebuild it)"
        case let .different(file, expected, found, model):
            return "\(model) names the front-end file \(file) with sha256 \(expected), but that file has sha256 \(found)"
        }
    }
}

/// A front end kept in its own file (e.g. Models/whisper-base-encoder.safetensors, which retrained models share
/// instead of each embedding a copy), as a model's `frontend` section names it:
/// `{"kind": "whisper", "file": "whisper-base-encoder.safetensors", "sha256": "…", "output_layer": 4, …}`.
/// `file` is relative to the model file's folder (or absolute); the file must have exactly that sha256; the
/// optional `output_layer` picks the Whisper block whose output is the feature. Loading thread only.
public struct FrontEndFile: Decodable, Equatable, Sendable {
    public let file: String
    public let sha256: String
    public let outputLayer: Int?

    enum CodingKeys: String, CodingKey { case file, sha256, outputLayer = "output_layer" }

    /// The front end of the model in `store`: from the file its `frontend` section names, or, without a `file`
    /// key, from the model's own `frontend.*` tensors. A named file's tensors must all be used.
    public static func loadFrontEnd(of store: WeightStore, matmulPrecision: MatmulPrecision) throws -> any SpeechFrontEnd {
        struct Section: Decodable { let file: String? }
        guard try store.config(Section.self, section: "frontend").file != nil else { return try loadSpeechFrontEnd(store) }
        let reference = try store.config(FrontEndFile.self, section: "frontend")
        let path = reference.path(besideModel: store.path)
        guard FileManager.default.fileExists(atPath: path) else {
            throw FrontEndFileError.missing(file: path, model: store.path)
        }
        let found = try sha256Hex(ofFileAt: path)
        guard found == reference.sha256.lowercased() else {
            throw FrontEndFileError.different(file: path, expected: reference.sha256, found: found, model: store.path)
        }
        let frontStore = try WeightStore(path: path, matmulPrecision: matmulPrecision)
        let frontEnd = try loadSpeechFrontEnd(frontStore, outputLayer: reference.outputLayer)
        try frontStore.root.finish()
        try store.config(SpeechFrontEndSection.self, section: "frontend").check(frontEnd, path: store.path)
        return frontEnd
    }

    /// `file` resolved against the folder of the model at `modelPath`.
    func path(besideModel modelPath: String) -> String {
        if file.hasPrefix("/") { return file }
        return URL(fileURLWithPath: modelPath).deletingLastPathComponent().appendingPathComponent(file).standardizedFileURL.path
    }

    /// Lower-case hex SHA-256 of the file at `path` (memory-mapped, one libcrypto call).
    static func sha256Hex(ofFileAt path: String) throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = data.withUnsafeBytes { bytes in
            EVP_Digest(bytes.baseAddress, bytes.count, &digest, &length, EVP_sha256(), nil)
        }
        precondition(ok == 1 && length == 32, "EVP_Digest(sha256) failed")
        return digest.prefix(32).map { String(format: "%02x", $0) }.joined()
    }
}
