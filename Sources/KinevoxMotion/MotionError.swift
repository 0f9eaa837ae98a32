/// Why a motion could not be loaded, generated, converted or written. Each case carries a message a
/// user can act on (what was wrong, and where). A value; safe to pass between threads.
public struct MotionError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The one-line cause, ready for stderr.
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
