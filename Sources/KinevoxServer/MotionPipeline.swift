import Foundation
import KinevoxMotion

/// One spoken command as 16-bit PCM, mono. From the microphone (already cut by the VAD) or a
/// push-to-talk upload (at the browser's rate; resampling to 16 kHz is KinevoxAudio's job).
public struct Utterance: Sendable {
    /// Where an utterance came from.
    public enum Origin: Sendable, Equatable {
        case microphone
        /// Uploaded by WebSocket client number `client` (numbers count up from 1 per server).
        case upload(client: Int)
    }

    /// Mono samples.
    public let samples: [Int16]
    /// Samples per second.
    public let sampleRate: Int
    /// Microphone or upload (and which client).
    public let origin: Origin

    /// An utterance of `samples` at `sampleRate` Hz.
    public init(samples: [Int16], sampleRate: Int, origin: Origin) {
        self.samples = samples
        self.sampleRate = sampleRate
        self.origin = origin
    }

    /// Audio length in milliseconds.
    public var durationMs: Int { sampleRate > 0 ? samples.count * 1000 / sampleRate : 0 }
}

/// A motion source's answer to one utterance: what it understood (when the source can tell) and the motion, nil
/// when it did not understand the utterance. A value.
public struct MotionReply: Sendable {
    /// What the utterance was understood as; nil when the source cannot tell (a model without an understanding
    /// head, recorded clips).
    public let understanding: Understanding?
    /// The motion; nil only when `understanding` says the utterance was not understood.
    public let clip: MotionClip?

    /// A motion, with what the source understood when it knows.
    public init(clip: MotionClip, understanding: Understanding? = nil) {
        self.clip = clip
        self.understanding = understanding
    }

    /// No motion: the utterance was not understood.
    public init(notUnderstood understanding: Understanding) {
        clip = nil
        self.understanding = understanding
    }
}

/// Turns an utterance into a motion: the generator in the daemon, recorded clips in tests and
/// until a model is loaded. Called on the `MotionPipeline` worker thread only, one call at a time.
public protocol MotionSource: AnyObject {
    /// The reply to one utterance, or an error with a message a user can act on.
    func reply(to utterance: Utterance) throws -> MotionReply
}

/// A motion source that answers every utterance with the next of a fixed list of recorded clips.
public final class RecordedMotionSource: MotionSource {
    private let clips: [MotionClip]
    private var next = 0

    /// `clips` must not be empty.
    public init(clips: [MotionClip]) throws {
        guard !clips.isEmpty else { throw ServerError.invalidMotion("RecordedMotionSource needs at least one clip") }
        self.clips = clips
    }

    /// The next clip of the list, whatever was said.
    public func reply(to utterance: Utterance) throws -> MotionReply {
        defer { next = (next + 1) % clips.count }
        return MotionReply(clip: clips[next])
    }
}

/// The inference worker: numbers each utterance, asks the motion source for a reply on its own thread, announces
/// the utterance to viewers with what was understood (`utterance` message) and hands the motion to the playback
/// clock under the same id; a not-understood utterance gets no motion.
/// Only the newest utterance waits (an older waiting one is dropped and logged: a new command replaces it).
/// `submit` may be called from any thread (capture thread, server service thread).
public final class MotionPipeline: @unchecked Sendable {
    private let source: MotionSource
    private let clock: PlaybackClock
    private let server: StreamServer?
    private let metrics: ServerMetrics
    private let log: (String) -> Void
    private let condition = NSCondition()
    private var queue: [Job] = []
    private var nextID = 1
    private var running = false
    private let stopped = DispatchSemaphore(value: 0)

    /// Utterances allowed to wait while one is being generated.
    public static let maxWaiting = 1

    /// Work for the worker thread: an announced utterance, or a task (a speculative run) that announces nothing.
    private enum Job {
        case utterance(Utterance, id: Int, closedAt: Double)
        case task(() -> Void)

        var utteranceID: Int? { if case .utterance(_, let id, _) = self { id } else { nil } }
    }

    /// A stopped pipeline. `server` (optional) receives the `utterance` announcements.
    public init(source: MotionSource, clock: PlaybackClock, server: StreamServer?, metrics: ServerMetrics,
                log: @escaping (String) -> Void = logToStandardError) {
        self.source = source
        self.clock = clock
        self.server = server
        self.metrics = metrics
        self.log = log
    }

    /// Starts the worker thread.
    public func start() {
        condition.lock()
        defer { condition.unlock() }
        guard !running else { return }
        running = true
        let thread = Thread { [weak self] in self?.work() }
        thread.name = "kinevox.motion-pipeline"
        thread.start()
    }

    /// Stops the worker after the utterance in progress; waiting ones are dropped.
    public func stop() {
        condition.lock()
        let wasRunning = running
        running = false
        queue.removeAll()
        condition.broadcast()
        condition.unlock()
        if wasRunning { stopped.wait() }
    }

    /// Closes one utterance: assigns its id, counts it and queues it for generation. It is announced once the
    /// source has replied, or (without understanding fields) when a newer utterance replaces it before generation.
    /// Returns the id (the id of its motion too).
    @discardableResult
    public func submit(_ utterance: Utterance) -> Int {
        condition.lock()
        let id = nextID
        nextID += 1
        queue.append(.utterance(utterance, id: id, closedAt: ProcessInfo.processInfo.systemUptime))
        let waiting = queue.filter { $0.utteranceID != nil }
        let replaced = Array(waiting.prefix(max(0, waiting.count - Self.maxWaiting)))
        let replacedIDs = Set(replaced.compactMap(\.utteranceID))
        queue.removeAll { $0.utteranceID.map(replacedIDs.contains) ?? false }
        condition.signal()
        condition.unlock()
        metrics.recordUtterance(upload: utterance.origin != .microphone)
        for case .utterance(let old, let oldID, _) in replaced {
            server?.broadcast(.utterance(id: oldID, durationMs: old.durationMs))
            log("utterance \(oldID): replaced by newer utterance \(id) before generation")
        }
        return id
    }

    /// Runs `task` on the worker thread, in turn with the utterances, announcing nothing: a speculative run
    /// whose reply the caller may `publish` or drop.
    public func perform(_ task: @escaping () -> Void) {
        condition.lock()
        queue.append(.task(task))
        condition.signal()
        condition.unlock()
    }

    /// Hands a reply made ahead (a speculative run of `utterance`) to viewers as if the utterance had just been
    /// generated: assigns its id, counts and announces it (`utterance`, with what was understood), records its
    /// stage timings and plays its motion (none when it was not understood). Any thread. Returns the id.
    @discardableResult
    public func publish(_ reply: MotionReply, for utterance: Utterance) -> Int {
        condition.lock()
        let id = nextID
        nextID += 1
        condition.unlock()
        metrics.recordUtterance(upload: utterance.origin != .microphone)
        announce(reply, id: id, utterance: utterance)
        if let clip = reply.clip {
            for (stage, seconds) in clip.stageSeconds { metrics.recordStage(stage, seconds: seconds) }
            clock.play(clip, id: id, utteranceClosedAt: ProcessInfo.processInfo.systemUptime)
        }
        return id
    }

    private func work() {
        while true {
            condition.lock()
            while running && queue.isEmpty { condition.wait() }
            guard running else {
                condition.unlock()
                stopped.signal()
                return
            }
            let job = queue.removeFirst()
            condition.unlock()

            switch job {
            case .task(let task):
                task()
            case .utterance(let utterance, let id, let closedAt):
                generate(utterance, id: id, closedAt: closedAt)
            }
        }
    }

    private func generate(_ utterance: Utterance, id: Int, closedAt: Double) {
        let started = ProcessInfo.processInfo.systemUptime
        do {
            let reply = try source.reply(to: utterance)
            announce(reply, id: id, utterance: utterance)
            guard let clip = reply.clip else { return }
            for (stage, seconds) in clip.stageSeconds { metrics.recordStage(stage, seconds: seconds) }
            metrics.recordStage("total", seconds: ProcessInfo.processInfo.systemUptime - started)
            clock.play(clip, id: id, utteranceClosedAt: closedAt)
        } catch {
            server?.broadcast(.utterance(id: id, durationMs: utterance.durationMs, understanding: nil))
            log("utterance \(id): no motion: \(error)")
            server?.broadcast(.error(message: "utterance \(id): no motion (\(error))"))
        }
    }

    /// The `utterance` message for a reply (before its playback, so it always precedes its `motion.begin`);
    /// a not-understood reply is counted first and logged.
    private func announce(_ reply: MotionReply, id: Int, utterance: Utterance) {
        if reply.clip == nil { metrics.recordNotUnderstood() }  // counted before a viewer can hear of it
        server?.broadcast(.utterance(id: id, durationMs: utterance.durationMs, understanding: reply.understanding))
        if reply.clip == nil {
            log("utterance \(id): not understood (confidence \(reply.understanding.map { String(format: "%.2f", $0.confidence) } ?? "?")): no motion")
        }
    }
}
