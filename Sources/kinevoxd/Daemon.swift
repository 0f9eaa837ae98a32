import Dispatch
import Foundation
import Logging

/// A failure to start, with the line the user reads.
struct StartupError: Error, CustomStringConvertible {
    let description: String
}

/// The running daemon: owns the pipeline's parts, tells systemd its state, and stops them in order.
///
/// `init` does everything that can fail (model, port) before any thread starts, so a refused start leaves
/// nothing behind. `start` and `stop` run on the main thread.
final class Daemon {
    /// How long `stop` lets the utterance in flight finish before abandoning it (SIGTERM → exit ≤ 2 s).
    static let stopGrace: TimeInterval = 1.2

    private let config: DaemonConfig
    private let logger: Logger
    private let notifier = ServiceNotifier()
    private var watchdogTimer: DispatchSourceTimer?

    init(config: DaemonConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        guard FileManager.default.isReadableFile(atPath: config.model.path) else {
            throw StartupError(description: "model \(config.model.path): no such readable file")
        }
    }

    /// Starts the threads, then tells systemd the daemon is ready and begins watchdog pings.
    func start() {
        if let problem = notifier.send("READY=1\nSTATUS=serving") {
            logger.warning("\(problem)")
        }
        if let interval = notifier.watchdogInterval {
            let timer = DispatchSource.makeTimerSource(queue: .main)
            timer.schedule(deadline: .now() + interval, repeating: interval)
            timer.setEventHandler { [notifier] in notifier.send("WATCHDOG=1") }
            timer.resume()
            watchdogTimer = timer
        }
        logger.info("kinevoxd ready")
    }

    /// Stops everything and ends the process with status 0.
    func stop(reason: String) {
        logger.info("\(reason): stopping")
        notifier.send("STOPPING=1")
        watchdogTimer?.cancel()
        logger.info("stopped")
        exit(0)
    }
}
