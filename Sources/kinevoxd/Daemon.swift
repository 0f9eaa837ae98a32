import Dispatch
import Foundation
import KinevoxAudio
import KinevoxCapture
import KinevoxModel
import KinevoxServer
import Logging

/// A failure to start, with the line the user reads.
struct StartupError: Error, CustomStringConvertible {
    let description: String
}

/// The running daemon: owns the pipeline's parts, tells systemd its state, and stops them in order.
///
/// Data flow (one thread each): capture (ALSA) → ring → VAD loop (`MicrophoneListener`) → inference
/// worker (`MotionPipeline`, uploads from the server thread join the same queue) → `PlaybackClock` →
/// server thread → viewers. `init` does everything that can fail (model, port) before any thread of ours
/// starts, so a refused start leaves nothing behind. `start` and `stop` run on the main thread.
final class Daemon {
    /// How long `stop` lets the utterance in flight finish before abandoning it (SIGTERM → exit ≤ 2 s).
    static let stopGrace: TimeInterval = 1.2
    /// An utterance generating for longer than this counts as a hung inference thread: watchdog pings
    /// stop, so systemd restarts the daemon after `WatchdogSec`.
    static let inferenceStallLimit: TimeInterval = 60
    /// Longest WAV file a `file:` capture device may play (seconds).
    static let fileSourceLimitSeconds: Double = 600

    private let logger: Logger
    private let notifier = ServiceNotifier()
    private let server: StreamServer
    private let clock: PlaybackClock
    private let pipeline: MotionPipeline
    private let capture: AudioCapture
    private let listener: MicrophoneListener
    private let source: ModelMotionSource
    private let captureName: String
    private let capturesFromDevice: Bool
    private var watchdogTimer: DispatchSourceTimer?

    init(config: DaemonConfig, logger: Logger) throws {
        self.logger = logger
        let loadStarted = ProcessInfo.processInfo.systemUptime
        let model: InstructionModel
        do {
            model = try InstructionModel(path: config.model.path, threads: config.model.threads)
        } catch {
            let reason = "\(error)"
            throw StartupError(description: reason.contains(config.model.path) ? "cannot load the model: \(reason)"
                                                                              : "model \(config.model.path): \(reason)")
        }
        logger.info("model \(config.model.path) loaded in \(Self.milliseconds(since: loadStarted)) ms")

        let metrics = ServerMetrics()
        let serverLogger = Logger(label: "kinevoxd.server")
        let server = StreamServer(config: config.server, metrics: metrics) { serverLogger.info("\($0)") }
        let clock = PlaybackClock { [server] in server.broadcast($0) }
        let pipelineLogger = Logger(label: "kinevoxd.inference")
        let source = ModelMotionSource(model: model, seed: config.model.seed, logger: pipelineLogger)
        let pipeline = MotionPipeline(source: source, clock: clock, server: server, metrics: metrics) {
            pipelineLogger.warning("\($0)")
        }
        server.onUtterance = { [pipeline] in pipeline.submit($0) }

        let captureLog = CaptureEventLog(logger: Logger(label: "kinevoxd.capture"))
        let rate = config.capture.sampleRate
        let capture = try AudioCapture(config.capture, decode: { path in
            s16Samples(from: try WAVFile.readMono(path, sampleRate: Double(rate), limitSeconds: Daemon.fileSourceLimitSeconds))
        }, log: { captureLog.record($0) })
        let listener = try MicrophoneListener(capture: capture, vad: config.vad, metrics: metrics) { [pipeline] cut in
            pipeline.submit(KinevoxServer.Utterance(samples: cut.samples, sampleRate: rate, origin: .microphone))
        }

        do {
            try server.start()
        } catch {
            throw StartupError(description: ListenProbe.explain(listen: config.server.listen, fallback: "\(error)"))
        }
        self.server = server
        self.clock = clock
        self.pipeline = pipeline
        self.capture = capture
        self.listener = listener
        self.source = source
        captureName = config.capture.source.displayName
        if case .device = config.capture.source { capturesFromDevice = true } else { capturesFromDevice = false }
        logger.info("viewer: http://\(Self.browsableAddress(config.server.listen, port: server.port))/")
    }

    /// Starts the threads, then tells systemd the daemon is ready and begins watchdog pings (on the main
    /// queue, so a blocked main thread also stops them; a hung inference withholds them too).
    func start() {
        clock.start()
        pipeline.start()
        capture.start()
        listener.start()
        if let problem = notifier.send("READY=1\nSTATUS=serving; capture from \(captureName)") {
            logger.warning("\(problem)")
        }
        if let interval = notifier.watchdogInterval {
            let timer = DispatchSource.makeTimerSource(queue: .main)
            timer.schedule(deadline: .now() + interval, repeating: interval)
            timer.setEventHandler { [notifier, source, logger] in
                if let busy = source.secondsInFlight, busy > Self.inferenceStallLimit {
                    logger.error("inference has been running for \(Int(busy)) s; withholding watchdog pings")
                    return
                }
                notifier.send("WATCHDOG=1")
            }
            timer.resume()
            watchdogTimer = timer
        }
        logger.info("ready: listening on \(captureName)")
        if capturesFromDevice && !FileManager.default.fileExists(atPath: "/dev/snd") {
            logger.warning("no sound card on this machine (/dev/snd is missing): the microphone stays off and is retried; push-to-talk and WAV drop in the viewer work meanwhile")
        }
    }

    /// Stops everything and ends the process with status 0, within 2 s: the utterance in flight is
    /// finished when it ends within `stopGrace`, otherwise abandoned.
    func stop(reason: String) {
        logger.info("\(reason): stopping")
        notifier.send("STOPPING=1")
        watchdogTimer?.cancel()
        listener.stop()
        capture.stop()
        let pipelineStopped = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { [pipeline] in
            pipeline.stop()
            pipelineStopped.signal()
        }
        let finished = pipelineStopped.wait(timeout: .now() + Self.stopGrace) == .success
        clock.stop()
        server.stop()
        guard finished else {
            // The inference thread is still inside the model: end the process without running exit
            // handlers under its feet. The log is unbuffered, so nothing written is lost.
            logger.warning("stopped; the utterance in flight was abandoned")
            _exit(0)
        }
        logger.info("stopped")
        exit(0)
    }

    private static func milliseconds(since start: TimeInterval) -> Int {
        Int(((ProcessInfo.processInfo.systemUptime - start) * 1000).rounded())
    }

    /// `listen` as a URL authority a browser on this machine can open (a wildcard host becomes loopback).
    private static func browsableAddress(_ listen: String, port: Int) -> String {
        let host = listen.lastIndex(of: ":").map { String(listen[..<$0]) } ?? listen
        switch host {
        case "0.0.0.0", "*", "": return "127.0.0.1:\(port)"
        case "::", "[::]": return "[::1]:\(port)"
        default: return "\(host):\(port)"
        }
    }
}
