import Dispatch
import Foundation
import KinevoxAudio
import KinevoxCapture
import KinevoxModel
import KinevoxdConfig
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
    private let captureLog: CaptureEventLog
    private let captureName: String
    private let noSoundCard: Bool
    private let viewerURL: String
    private var watchdogTimer: DispatchSourceTimer?
    /// How long `start` waits for the microphone's first open attempt, so the "ready" line can say how it went
    /// (opening an ALSA PCM takes milliseconds; the main thread, which also handles SIGTERM, waits no longer).
    static let firstCaptureOutcomeWait: TimeInterval = 0.5

    init(config: DaemonConfig, logger: Logger) throws {
        self.logger = logger
        let loadStarted = ProcessInfo.processInfo.systemUptime
        let model: InstructionModel
        do {
            model = try InstructionModel(path: config.model.path, threads: config.model.threads)
        } catch {
            throw StartupError(description: Self.modelProblem(error, path: config.model.path))
        }
        logger.info("model \(config.model.path) loaded in \(Self.milliseconds(since: loadStarted)) ms")
        // Scratch memory for the longest utterance the daemon takes (a microphone cut or an upload), planned before
        // READY=1 so the first command allocates nothing and runs as fast as later ones.
        let longest = min(max(Double(config.vad.maxUtteranceMs) / 1000, config.server.maxUploadSeconds),
                          Double(model.maxSamples ?? .max) / 16_000)
        let planStarted = ProcessInfo.processInfo.systemUptime
        let scratch = model.planScratch(maxSamples: Int(longest * 16_000))
        logger.info("scratch \(String(format: "%.1f", Double(scratch) / 1_048_576)) MiB planned for utterances up to \(String(format: "%g", longest)) s in \(Self.milliseconds(since: planStarted)) ms")

        let metrics = ServerMetrics()
        let serverLogger = Logger(label: "kinevoxd.server")
        let libraryLogger = Logger(label: "kinevoxd.libwebsockets")
        // While the server starts, a failure is explained by the error line of `start()`: libwebsockets' own
        // lines are details then.
        LibWebSocketsLog.route { severity, line, duringStart in
            if duringStart {
                libraryLogger.debug("\(line)")
            } else if severity == .error {
                libraryLogger.warning("\(line)")
            } else {
                libraryLogger.notice("\(line)")
            }
        }
        let server = StreamServer(config: config.server, metrics: metrics) { serverLogger.info("\($0)") }
        server.commandsJSON = model.commandsJSON
        let clock = PlaybackClock { [server] in server.broadcast($0) }
        let pipelineLogger = Logger(label: "kinevoxd.inference")
        let source = ModelMotionSource(model: model, seed: config.model.seed, logger: pipelineLogger)
        let pipeline = MotionPipeline(source: source, clock: clock, server: server, metrics: metrics) {
            pipelineLogger.warning("\($0)")
        }
        let uploadVAD = config.vad
        server.onUtterance = { [pipeline, server] upload in
            // An upload with no speech in it is refused before the model runs (the microphone's utterances
            // were cut by the same VAD already).
            if case .upload(let client) = upload.origin, !Self.containsSpeech(upload, vad: uploadVAD) {
                server.send(.error(message: "no speech found in the upload (\(upload.durationMs) ms of audio): nothing to do"),
                            toClient: client)
                pipelineLogger.info("upload from client \(client) (\(upload.durationMs) ms): no speech found, not run")
                return
            }
            pipeline.submit(upload)
        }

        let noSoundCard: Bool
        if case .device = config.capture.source {
            noSoundCard = soundCardNames().isEmpty
        } else {
            noSoundCard = false
        }
        let captureLog = CaptureEventLog(logger: Logger(label: "kinevoxd.capture"), alsaLogger: Logger(label: "kinevoxd.alsa")) {
            [server] state in
            switch state {
            case .starting: server.setMicrophone(.starting)
            case .on(let device): server.setMicrophone(.on(device: device))
            case .off(let reason): server.setMicrophone(noSoundCard ? .noSoundCard : .off(reason: reason))
            }
        }
        ALSAErrorLog.route { captureLog.recordALSA($0) }
        server.setMicrophone(.starting)
        let rate = config.capture.sampleRate
        let capture = try AudioCapture(config.capture, decode: { path in
            s16Samples(from: try WAVFile.readMono(path, sampleRate: Double(rate), limitSeconds: Daemon.fileSourceLimitSeconds))
        }, log: { captureLog.record($0) })
        let gate = ConfidenceGate(threshold: config.vad.earlyEndConfidence)
        let listener = try MicrophoneListener(capture: capture, vad: config.vad, metrics: metrics, pipeline: pipeline) {
            [source] utterance in try source.speculativeReply(to: utterance, gate: gate)
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
        self.captureLog = captureLog
        self.noSoundCard = noSoundCard
        captureName = config.capture.source.displayName
        let tokenQuery = config.server.token.map { "?token=" + Self.queryEscaped($0) } ?? ""
        viewerURL = "http://\(Self.browsableAddress(config.server.listen, port: server.port))/" + tokenQuery
        logger.info("viewer: \(viewerURL)")
        if !config.server.listensOnLoopbackOnly && config.server.token == nil {
            logger.warning("listen = \"\(config.server.listen)\" accepts other hosts and [server] token is empty: anyone who can reach this port can watch the stream and send commands; set a token (viewers then open the URL with ?token=…)")
        }
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
        let microphone: String
        switch captureLog.waitForFirstOutcome(timeout: Self.firstCaptureOutcomeWait) {
        case .on(let device):
            microphone = "microphone on (\(device))"
        case .off where noSoundCard:
            microphone = "microphone off: no sound card on this machine (ALSA sees none; retried in the background)"
        case .off(let reason):
            microphone = "microphone off: \(reason) (retried in the background)"
        case .starting:
            microphone = "microphone \(captureName) still opening"
        }
        logger.info("ready: viewer, push-to-talk and WAV drop on \(viewerURL); \(microphone)")
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

    /// Why the model file at `path` cannot be used, in one line naming the file.
    static func modelProblem(_ error: Error, path: String) -> String {
        let reason = "\(error)"
        return reason.contains(path) ? "cannot load the model: \(reason)" : "model \(path): \(reason)"
    }

    /// Whether the VAD finds speech in an uploaded utterance (at the upload's own sample rate).
    private static func containsSpeech(_ utterance: KinevoxServer.Utterance, vad: VADConfig) -> Bool {
        var config = vad
        config.sampleRate = utterance.sampleRate
        return (try? UtteranceSegmenter.containsSpeech(utterance.samples, config: config)) ?? true
    }

    private static func queryEscaped(_ value: String) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+#")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
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
