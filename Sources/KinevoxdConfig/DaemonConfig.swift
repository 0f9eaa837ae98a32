import Foundation
import KinevoxCapture
import KinevoxServer
import Logging

/// Everything kinevoxd reads from its TOML file. Each section fills the configuration type of the module
/// that owns it; unknown sections and keys, and values out of range, are refused with `file:line`.
/// Built once on the main thread at start.
public struct DaemonConfig {
    public var capture: AudioCapture.Configuration
    public var vad: VADConfig
    public var model: ModelSettings
    public var server: ServerConfig
    public var logLevel: Logger.Level

    /// Reads and checks the file at `path`; throws `ConfigError`.
    public static func load(path: String) throws -> DaemonConfig {
        try load(ConfigDocument(path: path))
    }

    /// Checks a parsed document (every section, then unknown ones); throws `ConfigError`.
    public static func load(_ document: ConfigDocument) throws -> DaemonConfig {
        let capture = try read(document, "capture") { try AudioCapture.Configuration(section: $0) }
        let vad = try read(document, "vad") { try VADConfig(section: $0, sampleRate: capture.sampleRate) }
        let model = try read(document, "model") { try ModelSettings(section: $0) }
        let server = try read(document, "server") { try ServerConfig(section: $0) }
        let logLevel = try read(document, "log") { section in
            let name = try section.string("level", default: "info")
            guard let level = Logger.Level(rawValue: name) else {
                throw section.error("level", "\"\(name)\" is not a log level; use trace, debug, info, notice, warning, error or critical")
            }
            return level
        }
        try document.finish()
        return DaemonConfig(capture: capture, vad: vad, model: model, server: server, logLevel: logLevel)
    }

    /// Reads one section with `body` and refuses the keys `body` did not ask for.
    private static func read<T>(_ document: ConfigDocument, _ name: String, _ body: (ConfigSection) throws -> T) throws -> T {
        let section = try document.section(name)
        let value = try body(section)
        try section.finish()
        return value
    }
}
