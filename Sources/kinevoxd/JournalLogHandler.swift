import Foundation
import Logging

/// A swift-log handler that writes one line per event to stderr, without colour codes.
///
/// Under systemd (stderr connected to the journal, `JOURNAL_STREAM` set) each line starts with the
/// syslog priority prefix `<N>` that journald reads as the entry's level, and carries no timestamp
/// (journald adds its own). On a terminal or in a pipe each line starts with an ISO-8601 UTC time and
/// the level name. Newlines inside a message are escaped so one event stays one line.
/// Any thread may log; a lock keeps lines whole.
struct JournalLogHandler: LogHandler {
    /// How a line starts; chosen once per process from the environment.
    enum LinePrefix {
        case syslogPriority
        case timestamp
    }

    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    private let label: String
    private let prefix: LinePrefix

    private static let lock = NSLock()

    init(label: String, level: Logger.Level, prefix: LinePrefix) {
        self.label = label
        self.logLevel = level
        self.prefix = prefix
    }

    /// `.syslogPriority` when stderr is the journal stream systemd announced, else `.timestamp`.
    static func prefixForCurrentStderr() -> LinePrefix {
        guard let stream = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] else { return .timestamp }
        let parts = stream.split(separator: ":").compactMap { UInt64($0) }
        var status = stat()
        guard parts.count == 2, fstat(STDERR_FILENO, &status) == 0 else { return .timestamp }
        return UInt64(status.st_dev) == parts[0] && UInt64(status.st_ino) == parts[1] ? .syslogPriority : .timestamp
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line: String
        switch prefix {
        case .syslogPriority:
            line = "<\(Self.syslogPriority(event.level))>\(label): "
        case .timestamp:
            line = "\(Self.timestamp()) \(event.level.rawValue.uppercased()) \(label): "
        }
        line += Self.oneLine(event.message.description)
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        for key in merged.keys.sorted() {
            line += " \(key)=\(Self.oneLine(merged[key]!.description))"
        }
        line += "\n"
        Self.lock.lock()
        defer { Self.lock.unlock() }
        FileHandle.standardError.write(Data(line.utf8))
    }

    private static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    private static func oneLine(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "\n", with: "\\n")
            .replacingOccurrences(of: "\r", with: "\\r")
            .replacingOccurrences(of: "\u{1b}", with: "\\e")
    }

    private static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                      Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                      Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(now.tv_nsec / 1_000_000))
    }
}
