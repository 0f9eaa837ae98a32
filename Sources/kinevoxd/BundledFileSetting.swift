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
        let places = candidates(configDirectory: section.directory).joined(separator: ", ")
        throw section.error(key, "empty, and the bundled \(sharePath) is in none of: \(places)")
    }
}
