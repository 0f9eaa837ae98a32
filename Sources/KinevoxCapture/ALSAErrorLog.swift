import CALSAErrors
import Foundation

/// Routes libasound's own error messages, which it otherwise prints to stderr as "ALSA lib …" lines, to a
/// program's logger. libasound has one handler per process, so this is process-wide. The sink is called on
/// the thread whose ALSA call failed (usually the capture thread) and must not block.
public enum ALSAErrorLog {
    /// One libasound message: "FILE:LINE FUNCTION: MESSAGE[: ERROR]".
    public typealias Sink = @Sendable (_ line: String) -> Void

    private static let lock = NSLock()
    nonisolated(unsafe) private static var sink: Sink?

    /// Sends every later libasound message to `sink`.
    public static func route(to sink: @escaping Sink) {
        lock.withLock { self.sink = sink }
        _ = kinevox_alsa_route_errors { _, line in
            guard let line else { return }
            let text = String(cString: line)
            ALSAErrorLog.lock.withLock { ALSAErrorLog.sink }?(text)
        }
    }
}
