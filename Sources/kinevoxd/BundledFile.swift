import Foundation

/// A file that ships with Kinevox (the default model, the viewer), found where `make run` and
/// `make install` put it: in the repository the configuration file belongs to (`Config/kinevox.toml` →
/// the folder above `Config/`), else under `share/kinevox/` of the prefix kinevoxd is installed in
/// (`PREFIX/bin/kinevoxd`), then /usr/local and /usr. A plain value; any thread.
struct BundledFile {
    /// Path inside the repository, e.g. "Models/kinevox-default.safetensors".
    let repositoryPath: String
    /// Path under PREFIX/share/kinevox, e.g. "models/kinevox-default.safetensors".
    let sharePath: String

    static let defaultModel = BundledFile(repositoryPath: "Models/kinevox-default.safetensors",
                                          sharePath: "models/kinevox-default.safetensors")
    static let viewer = BundledFile(repositoryPath: "Sources/KinevoxServer/Viewer", sharePath: "viewer")

    /// Every place looked at, in order.
    func candidates(configDirectory: URL, executablePath: String) -> [String] {
        let executable = URL(fileURLWithPath: executablePath).resolvingSymlinksInPath()
        let installPrefix = executable.deletingLastPathComponent().deletingLastPathComponent().path
        var found = [configDirectory.deletingLastPathComponent().appendingPathComponent(repositoryPath).path]
        for prefix in [installPrefix, "/usr/local", "/usr"] {
            let candidate = URL(fileURLWithPath: prefix).appendingPathComponent("share/kinevox/\(sharePath)").path
            if !found.contains(candidate) { found.append(candidate) }
        }
        return found
    }

    /// The first candidate that exists; otherwise an error at `key` listing where it looked.
    func locate(for section: ConfigSection, key: String, executablePath: String = CommandLine.arguments[0]) throws -> String {
        let places = candidates(configDirectory: section.directory, executablePath: executablePath)
        guard let found = places.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw section.error(key, "empty, and the bundled \(sharePath) is not in any of: \(places.joined(separator: ", "))")
        }
        return found
    }

    /// `written` resolved against the configuration file's directory, or the bundled file when empty.
    static func resolve(_ written: String, default bundled: BundledFile, section: ConfigSection, key: String) throws -> String {
        if written.isEmpty { return try bundled.locate(for: section, key: key) }
        return URL(fileURLWithPath: written, relativeTo: section.directory).standardizedFileURL.path
    }
}
