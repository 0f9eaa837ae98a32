import Dispatch
import Foundation

/// Write end of the self-pipe that the C signal handler writes the signal number into.
private var signalPipeWriteEnd: Int32 = -1

/// Turns SIGTERM and SIGINT into one call of a handler on the main queue.
///
/// A plain signal handler (async-signal-safe: one `write`) puts the signal number into a pipe that a
/// dispatch read source drains on the main queue, so the handler runs as ordinary code (it may lock, log
/// and join threads) and no signal is lost, whichever thread the kernel delivers it to — also one sent
/// right after READY=1. A second signal while stopping ends the process at once with status 1.
/// Create and use it on the main thread.
final class ShutdownSignals {
    private let source: DispatchSourceRead
    private var received = false

    /// Unblocks SIGTERM and SIGINT in the calling thread, which threads created later inherit: a parent
    /// process may have started kinevoxd with them blocked. Call on the main thread before starting any thread.
    static func unblock() {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
    }

    /// Installs the handler; `onSignal` gets the signal's name ("SIGTERM" or "SIGINT").
    init(onSignal: @escaping (String) -> Void) {
        var ends: [Int32] = [-1, -1]
        if pipe(&ends) != 0 { ends = [-1, -1] }
        _ = fcntl(ends[0], F_SETFL, O_NONBLOCK)
        _ = fcntl(ends[1], F_SETFL, O_NONBLOCK)
        signalPipeWriteEnd = ends[1]
        source = DispatchSource.makeReadSource(fileDescriptor: ends[0], queue: .main)
        source.setEventHandler { [unowned self] in
            var byte: UInt8 = 0
            while read(ends[0], &byte, 1) == 1 {
                if received { _exit(1) }
                received = true
                onSignal(Int32(byte) == SIGINT ? "SIGINT" : "SIGTERM")
            }
        }
        source.resume()
        for number in [SIGTERM, SIGINT] {
            signal(number) { number in
                var byte = UInt8(truncatingIfNeeded: number)
                _ = write(signalPipeWriteEnd, &byte, 1)
            }
        }
    }
}
