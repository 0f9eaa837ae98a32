import Foundation
import KinevoxCapture
import Logging

/// Writes the capture thread's events and libasound's own messages to the log, and keeps the microphone's
/// state for the "ready" line and the viewers.
///
/// A device that cannot be opened is retried every few seconds for as long as the daemon runs; its first
/// failure is logged in full (with libasound's lines), later identical failures only as a reminder every
/// `reminderInterval` seconds, and every change (another reason, opened, lost) at once. Events that can
/// repeat every period (overruns, ring overflow) are written at most once per `repeatInterval` seconds,
/// each line carrying the running total. `record` and `recordALSA` are called on the capture thread;
/// `waitForFirstOutcome` on any thread.
final class CaptureEventLog: @unchecked Sendable {
    /// What the microphone is doing now.
    enum State: Equatable {
        /// The capture thread has not finished its first attempt.
        case starting
        /// Capturing from the named source.
        case on(String)
        /// Not capturing; the reason (retried meanwhile, unless the source was a file that ended).
        case off(String)
    }

    private let logger: Logger
    private let alsaLogger: Logger
    private let repeatInterval: TimeInterval
    private let reminderInterval: TimeInterval
    private let onChange: @Sendable (State) -> Void
    private let condition = NSCondition()
    private var current = State.starting
    private var lastOverrun = -Double.infinity
    private var lastOverflow = -Double.infinity
    private var failure: (message: String, since: TimeInterval, attempts: Int, lastLogged: TimeInterval)?
    private var alsaLinesSeen: Set<String> = []

    init(logger: Logger, alsaLogger: Logger, repeatInterval: TimeInterval = 10, reminderInterval: TimeInterval = 300,
         onChange: @escaping @Sendable (State) -> Void = { _ in }) {
        self.logger = logger
        self.alsaLogger = alsaLogger
        self.repeatInterval = repeatInterval
        self.reminderInterval = reminderInterval
        self.onChange = onChange
    }

    /// Waits until the capture thread's first open attempt has succeeded or failed, at most `timeout` seconds.
    func waitForFirstOutcome(timeout: TimeInterval) -> State {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        while current == .starting && condition.wait(until: deadline) {}
        return current
    }

    func record(_ event: CaptureEvent) {
        let now = ProcessInfo.processInfo.systemUptime
        switch event {
        case .overrun:
            guard now - lastOverrun >= repeatInterval else { return }
            lastOverrun = now
            logger.notice("\(event)")
        case .ringOverflow:
            guard now - lastOverflow >= repeatInterval else { return }
            lastOverflow = now
            logger.warning("\(event)")
        case .openFailed(let error, let retry):
            if var known = failure, known.message == error.message {
                known.attempts += 1
                if now - known.lastLogged >= reminderInterval {
                    known.lastLogged = now
                    logger.notice("capture: the microphone is still off: \(error.message) (\(known.attempts) attempts in \(Self.minutes(now - known.since)) min; retrying every \(Self.seconds(retry)) s)")
                } else {
                    logger.debug("\(event)")
                }
                failure = known
            } else {
                failure = (error.message, now, 1, now)
                logger.warning("capture: the microphone is off: \(error.message); retrying with backoff, reminders every \(Int(reminderInterval / 60)) min")
            }
            change(to: .off(error.message))
        case .deviceLost(let error):
            failure = nil
            logger.warning("\(event)")
            change(to: .off("device lost: \(error.message)"))
        case .opened(let source, _):
            if let known = failure {
                logger.info("\(event) after \(known.attempts) failed attempts over \(Self.minutes(now - known.since)) min")
            } else {
                logger.info("\(event)")
            }
            failure = nil
            change(to: .on(source))
        case .endOfInput:
            logger.info("\(event)")
            change(to: .off("the capture file has ended"))
        case .realtimePriority:
            logger.info("\(event)")
        }
    }

    /// One libasound message: logged at notice the first time it is seen, at debug when it repeats.
    func recordALSA(_ line: String) {
        let first = condition.withLock { alsaLinesSeen.count < 256 && alsaLinesSeen.insert(line).inserted }
        if first {
            alsaLogger.notice("\(line)")
        } else {
            alsaLogger.debug("\(line)")
        }
    }

    private func change(to state: State) {
        let changed: Bool = condition.withLock {
            guard current != state else { return false }
            current = state
            condition.broadcast()
            return true
        }
        if changed { onChange(state) }
    }

    private static func minutes(_ seconds: TimeInterval) -> String { String(format: "%.1f", seconds / 60) }
    private static func seconds(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
    }
}
