import Foundation
import KinevoxModel

extension BundledFile {
    /// A path setting of `section`: `written` resolved against the configuration file's directory, or,
    /// when empty, this bundled file (an error at `key` lists where it looked).
    func resolve(_ written: String, section: ConfigSection, key: String) throws -> String {
        guard written.isEmpty else {
            return URL(fileURLWithPath: written, relativeTo: section.directory).standardizedFileURL.path
        }
        if let found = locate(configDirectory: section.directory) { return found }
        throw MissingBundledFile(name: (repositoryPath as NSString).lastPathComponent, setting: "[\(section.name)] \(key)",
                                 places: candidates(configDirectory: section.directory))
    }
}

/// A bundled file that is not installed: not a configuration mistake (exit status 1, not 2).
public struct MissingBundledFile: Error, CustomStringConvertible {
    let name: String
    let setting: String
    let places: [String]

    public var description: String {
        "the bundled \(name) is not installed (looked in \(places.joined(separator: ", "))); "
            + "build or install it, or set \(setting)"
    }
}
