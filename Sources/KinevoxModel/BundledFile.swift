import Foundation

/// A file that ships with Kinevox (the default model, the viewer page), found where `make run` and
/// `make install` put it. Places looked at, in order:
/// 1. the repository a configuration file belongs to (`REPO/Config/kinevox.toml` → `REPO/…`),
/// 2. the repository a binary was built in (`REPO/.build/<configuration>/kinevoxd` → `REPO/…`; also the Makefile's
///    other build folders, `REPO/.build-<name>/…`, such as the sanitizer builds),
/// 3. `share/kinevox/…` under the prefix the binary is installed in (`PREFIX/bin/kinevoxd`),
/// 4. `/usr/local/share/kinevox/…`, `/usr/share/kinevox/…`.
/// A plain value; any thread.
public struct BundledFile: Sendable {
    /// Path inside the repository, e.g. "Models/kinevox-default.safetensors".
    public let repositoryPath: String
    /// Path under PREFIX/share/kinevox, e.g. "models/kinevox-default.safetensors".
    public let sharePath: String

    public init(repositoryPath: String, sharePath: String) {
        self.repositoryPath = repositoryPath
        self.sharePath = sharePath
    }

    /// The bundled model.
    public static let defaultModel = BundledFile(repositoryPath: "Models/kinevox-default.safetensors",
                                                 sharePath: "models/kinevox-default.safetensors")
    /// The viewer page's folder.
    public static let viewer = BundledFile(repositoryPath: "Sources/KinevoxServer/Viewer", sharePath: "viewer")

    /// Every place looked at, in order (see the type's comment).
    public func candidates(configDirectory: URL?, executablePath: String = CommandLine.arguments[0]) -> [String] {
        let binaryFolder = URL(fileURLWithPath: executablePath).resolvingSymlinksInPath().deletingLastPathComponent()
        var roots: [URL] = []
        if let configDirectory { roots.append(configDirectory.deletingLastPathComponent()) }
        var folder = binaryFolder
        while folder.path != "/" && !folder.path.isEmpty {
            if folder.lastPathComponent == ".build" || folder.lastPathComponent.hasPrefix(".build-") {
                roots.append(folder.deletingLastPathComponent())
                break
            }
            folder.deleteLastPathComponent()
        }
        var found = roots.map { $0.appendingPathComponent(repositoryPath).standardizedFileURL.path }
        for prefix in [binaryFolder.deletingLastPathComponent().path, "/usr/local", "/usr"] {
            found.append(URL(fileURLWithPath: prefix).appendingPathComponent("share/kinevox/\(sharePath)").path)
        }
        var unique: [String] = []
        for path in found where !unique.contains(path) { unique.append(path) }
        return unique
    }

    /// The first place that exists, or nil.
    public func locate(configDirectory: URL?, executablePath: String = CommandLine.arguments[0]) -> String? {
        candidates(configDirectory: configDirectory, executablePath: executablePath)
            .first { FileManager.default.fileExists(atPath: $0) }
    }
}
