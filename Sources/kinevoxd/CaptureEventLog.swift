import Foundation
import KinevoxCapture
import Logging

/// Writes the capture thread's events to the log. Events that can repeat every period (overruns, ring
/// overflow) are written at most once per `repeatInterval` seconds, each line carrying the running total;
/// opening failures are already spaced by the capture thread's backoff. Called on the capture thread only.
final class CaptureEventLog: @unchecked Sendable {
    private let logger: Logger
    private let repeatInterval: TimeInterval
    private var lastOverrun = -Double.infinity
    private var lastOverflow = -Double.infinity

    init(logger: Logger, repeatInterval: TimeInterval = 10) {
        self.logger = logger
        self.repeatInterval = repeatInterval
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
        case .openFailed, .deviceLost:
            logger.warning("\(event)")
        default:
            logger.info("\(event)")
        }
    }
}
