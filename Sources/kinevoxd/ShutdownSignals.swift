import Dispatch
import Foundation

/// Turns SIGTERM and SIGINT into one call of a handler on the main queue.
///
/// The signals are ignored at the process level and watched with dispatch sources, so the handler runs as
/// ordinary code (it may lock, log and join threads). A second signal while stopping ends the process at
/// once with status 1. Create and use it on the main thread.
final class ShutdownSignals {
    private var sources: [DispatchSourceSignal] = []
    private var received = false

    /// Unblocks SIGTERM and SIGINT in the calling thread, which threads created later inherit: a parent
    /// process may have started kinevoxd with them blocked, and a blocked signal never reaches a source.
    /// Call on the main thread before starting any thread.
    static func unblock() {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
    }

    /// Installs the handler; `onSignal` gets the signal's name ("SIGTERM" or "SIGINT").
    init(onSignal: @escaping (String) -> Void) {
        for (number, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .main)
            source.setEventHandler { [unowned self] in
                if received { _exit(1) }
                received = true
                onSignal(name)
            }
            source.resume()
            sources.append(source)
        }
    }
}
