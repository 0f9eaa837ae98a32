import Foundation

/// The `[model]` section: which model file to run and how.
///
/// `path` is absolute once read: a relative path in the file is taken relative to the configuration
/// file's directory, and an empty one means the bundled model (see `bundledModelCandidates`).
struct ModelSettings {
    /// File name of the model that ships with Kinevox.
    static let bundledModelName = "kinevox-default.safetensors"

    /// Absolute path of the `.safetensors` model file.
    var path: String
    /// Seed of the sampler; the same seed and audio give the same motion.
    var seed: UInt64
    /// CPU threads for inference (OpenBLAS and the engine).
    var threads: Int

    init(section: ConfigSection, executablePath: String = CommandLine.arguments[0]) throws {
        let written = try section.string("path", default: "")
        seed = UInt64(try section.int("seed", default: 0, in: 0...Int.max))
        threads = try section.int("threads", default: 2, in: 1...256)
        if written.isEmpty {
            let candidates = Self.bundledModelCandidates(configDirectory: section.directory, executablePath: executablePath)
            guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
                throw section.error("path", "no path is set and the bundled model is not installed; looked in "
                    + candidates.joined(separator: ", "))
            }
            path = found
        } else {
            path = URL(fileURLWithPath: written, relativeTo: section.directory).standardizedFileURL.path
        }
    }

    /// Where the bundled model may be, in order: the repository the configuration file lives in
    /// (`Config/kinevox.toml` → `Models/`), then `share/kinevox/models/` under the prefix the
    /// executable is installed in (`PREFIX/bin/kinevoxd`), then /usr/local and /usr.
    static func bundledModelCandidates(configDirectory: URL, executablePath: String) -> [String] {
        let executable = URL(fileURLWithPath: executablePath).resolvingSymlinksInPath()
        let prefixes = [executable.deletingLastPathComponent().deletingLastPathComponent().path, "/usr/local", "/usr"]
        var candidates = [configDirectory.deletingLastPathComponent().appendingPathComponent("Models/\(bundledModelName)").path]
        for prefix in prefixes {
            let candidate = URL(fileURLWithPath: prefix).appendingPathComponent("share/kinevox/models/\(bundledModelName)").path
            if !candidates.contains(candidate) { candidates.append(candidate) }
        }
        return candidates
    }
}
