import Foundation
import Synchronization

/// The capture thread: reads 16 kHz mono S16 periods from an ALSA PCM (or a file played through
/// ALSA's `file` plugin) and hands them to one consumer through a lock-free `SampleRing`.
///
/// `start` and `stop` may be called from any one controlling thread; `read` from exactly one consumer
/// thread; the counters from any thread. The thread recovers from overruns, reopens a lost or missing
/// device with exponential backoff, asks for SCHED_FIFO priority and carries on without it. Every
/// event goes to the `log` sink, which is called on the capture thread and must not block.
public final class AudioCapture: @unchecked Sendable {
    /// Capture settings (`[capture]` in the daemon's TOML).
    public struct Configuration: Equatable, Sendable {
        public var source: CaptureSource
        /// Samples per second delivered to the consumer (Hz).
        public var sampleRate: Int
        /// Period length in milliseconds (10–20 ms keeps latency low).
        public var periodMs: Int
        /// Ring size in seconds of audio: how long the consumer may stall before samples are lost.
        public var ringSeconds: Double
        /// SCHED_FIFO priority requested for the capture thread (1–99); 0 asks for none.
        public var realtimePriority: Int32
        /// First delay before reopening a device that failed (seconds); doubles up to `maxRetryDelay`.
        public var initialRetryDelay: Double
        public var maxRetryDelay: Double

        public init(source: CaptureSource, sampleRate: Int = 16_000, periodMs: Int = 20, ringSeconds: Double = 10,
                    realtimePriority: Int32 = 10, initialRetryDelay: Double = 0.5, maxRetryDelay: Double = 10) {
            self.source = source
            self.sampleRate = sampleRate
            self.periodMs = periodMs
            self.ringSeconds = ringSeconds
            self.realtimePriority = realtimePriority
            self.initialRetryDelay = initialRetryDelay
            self.maxRetryDelay = maxRetryDelay
        }
    }

    public let configuration: Configuration
    /// The samples captured so far and not yet read by the consumer.
    public let ring: SampleRing
    private let decode: SampleDecoder
    private let log: @Sendable (CaptureEvent) -> Void
    private let stopRequested = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)
    private let overruns = Atomic<Int>(0)
    private let started = Atomic<Bool>(false)
    private let exited = DispatchSemaphore(value: 0)

    /// Prepares a capture thread; nothing is opened until `start`. `decode` reads `.file` sources.
    public init(_ configuration: Configuration, decode: @escaping SampleDecoder = wavSampleDecoder,
                log: @escaping @Sendable (CaptureEvent) -> Void) throws {
        guard (8_000...192_000).contains(configuration.sampleRate) else {
            throw CaptureError("capture sample_rate \(configuration.sampleRate) Hz is out of range (8000–192000)")
        }
        guard (1...100).contains(configuration.periodMs) else {
            throw CaptureError("capture period_ms \(configuration.periodMs) is out of range (1–100)")
        }
        self.configuration = configuration
        let ringSamples = Int(configuration.ringSeconds * Double(configuration.sampleRate))
        ring = SampleRing(minimumCapacity: max(ringSamples, 4 * configuration.periodMs * configuration.sampleRate / 1000))
        self.decode = decode
        self.log = log
    }

    /// Overruns (xruns) recovered so far.
    public var overrunCount: Int { overruns.load(ordering: .relaxed) }

    /// True once a file source has delivered all its samples and the thread has ended.
    /// Samples may still be waiting in the ring.
    public var reachedEndOfInput: Bool { finished.load(ordering: .acquiring) }

    /// Starts the capture thread (once).
    public func start() {
        guard started.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        let thread = Thread { [self] in
            captureLoop()
            exited.signal()
        }
        thread.name = "kinevox-capture"
        thread.start()
    }

    /// Asks the thread to stop and waits for it (at most one period plus 100 ms for devices).
    public func stop() {
        stopRequested.store(true, ordering: .relaxed)
        guard started.load(ordering: .relaxed) else { return }
        exited.wait()
        exited.signal()
    }

    /// Consumer only: moves captured samples into `buffer`; returns how many (0 when none are ready).
    public func read(into buffer: UnsafeMutableBufferPointer<Int16>) -> Int {
        ring.read(into: buffer)
    }

    private var shouldStop: Bool { stopRequested.load(ordering: .relaxed) }

    // MARK: capture thread

    private func captureLoop() {
        requestRealtimePriority()
        let periodFrames = max(1, configuration.sampleRate * configuration.periodMs / 1000)
        let fileInput = FileInput()
        var delay = configuration.initialRetryDelay
        while !shouldStop {
            let pcm: CapturePCM
            do {
                pcm = try open(periodFrames: periodFrames, fileInput: fileInput)
            } catch {
                let failure = error as? CaptureError ?? CaptureError("\(configuration.source.displayName): \(error)")
                log(.openFailed(failure, retryInSeconds: delay))
                sleepUnlessStopped(seconds: delay)
                delay = min(delay * 2, configuration.maxRetryDelay)
                continue
            }
            log(.opened(source: pcm.name, periodFrames: pcm.periodFrames))
            let openedAt = Date()
            switch pump(pcm, fileInput: fileInput) {
            case .stopped:
                return
            case .endOfInput:
                finished.store(true, ordering: .releasing)
                log(.endOfInput(samples: fileInput.delivered))
                return
            case .lost(let error):
                // A device that worked for a while starts the backoff afresh; one that fails right
                // after opening keeps backing off, so a flapping device does not flood the log.
                if Date().timeIntervalSince(openedAt) > 5 { delay = configuration.initialRetryDelay }
                log(.deviceLost(error))
                sleepUnlessStopped(seconds: delay)
                delay = min(delay * 2, configuration.maxRetryDelay)
            }
        }
    }

    /// Samples of a file source and how many have been delivered (capture thread only).
    private final class FileInput {
        var samples: [Int16]?
        var delivered = 0
    }

    private func open(periodFrames: Int, fileInput: FileInput) throws -> CapturePCM {
        switch configuration.source {
        case .device(let name):
            return try CapturePCM(name: name, sampleRate: configuration.sampleRate, periodFrames: periodFrames)
        case .file(let path, _):
            if fileInput.samples == nil {
                fileInput.samples = try decode(path)
            }
            let remaining = fileInput.samples?[fileInput.delivered...] ?? []
            // ALSA's file plugin reads raw s16le from a path: write the not yet delivered samples to a
            // private temporary file and unlink it as soon as ALSA holds it open.
            let rawPath = NSTemporaryDirectory() + "kinevox-capture-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).raw"
            guard FileManager.default.createFile(atPath: rawPath, contents: Data(littleEndianBytesOf: remaining),
                                                 attributes: [.posixPermissions: 0o600]) else {
                throw CaptureError("cannot write a temporary file in \(NSTemporaryDirectory()) for \(configuration.source.displayName)")
            }
            defer { unlink(rawPath) }
            return try CapturePCM(rawFile: rawPath, displayName: configuration.source.displayName,
                                  sampleRate: configuration.sampleRate, periodFrames: periodFrames)
        }
    }

    private enum PumpEnd { case stopped, endOfInput, lost(CaptureError) }

    /// Moves periods from `pcm` into the ring until stopped, the file ends or the device fails.
    private func pump(_ pcm: CapturePCM, fileInput: FileInput) -> PumpEnd {
        let frames = pcm.periodFrames
        let buffer = UnsafeMutablePointer<Int16>.allocate(capacity: frames)
        defer { buffer.deallocate() }
        let fileTotal = fileInput.samples?.count
        let pace: FilePace? = if case .file(_, let pace) = configuration.source { pace } else { nil }
        let pacer = PeriodPacer(sampleRate: configuration.sampleRate)
        var reportedDrops = ring.droppedSamples
        while !shouldStop {
            var want = frames
            if let fileTotal {
                want = min(frames, fileTotal - fileInput.delivered)
                if want == 0 { return .endOfInput }
                if pace == .fast {
                    while ring.freeSpace < want {
                        if shouldStop { return .stopped }
                        usleep(1_000)
                    }
                }
            } else {
                pcm.wait(timeoutMs: 100)
            }
            switch pcm.read(into: buffer, frames: want) {
            case .samples(let got):
                ring.write(UnsafeBufferPointer(start: buffer, count: got))
                if fileTotal != nil {
                    fileInput.delivered += got
                    if pace == .realTime { pacer.wait(untilSampleTime: fileInput.delivered) }
                }
            case .notReady:
                continue
            case .recoveredOverrun:
                log(.overrun(total: overruns.add(1, ordering: .relaxed).newValue))
            case .failed(let error):
                return .lost(error)
            }
            let drops = ring.droppedSamples
            if drops != reportedDrops {
                reportedDrops = drops
                log(.ringOverflow(total: drops))
            }
        }
        return .stopped
    }

    /// Asks for SCHED_FIFO unless disabled or the source is a fast file (which never waits, and must
    /// not hog a core at realtime priority).
    private func requestRealtimePriority() {
        let priority = configuration.realtimePriority
        guard priority > 0 else { return }
        if case .file(_, .fast) = configuration.source { return }
        var param = sched_param()
        param.sched_priority = priority
        let rc = pthread_setschedparam(pthread_self(), Int32(SCHED_FIFO), &param)
        if rc == 0 {
            log(.realtimePriority(granted: true, detail: "SCHED_FIFO \(priority)"))
        } else {
            log(.realtimePriority(granted: false, detail: String(cString: strerror(rc))))
        }
    }

    private func sleepUnlessStopped(seconds: Double) {
        let end = Date().addingTimeInterval(seconds)
        while !shouldStop && Date() < end { usleep(20_000) }
    }
}

/// Sleeps the capture thread so that a file source delivers samples at real time: sample `n` is not
/// handed on before `n / sampleRate` seconds after the first period (CLOCK_MONOTONIC, absolute).
private final class PeriodPacer {
    private let sampleRate: Int
    private var origin = timespec()

    init(sampleRate: Int) {
        self.sampleRate = sampleRate
        clock_gettime(CLOCK_MONOTONIC, &origin)
    }

    func wait(untilSampleTime samples: Int) {
        let nanos = Int(origin.tv_nsec) + samples * 1_000_000_000 / sampleRate
        var deadline = timespec(tv_sec: origin.tv_sec + nanos / 1_000_000_000, tv_nsec: nanos % 1_000_000_000)
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, nil) == EINTR {}
    }
}

private extension Data {
    /// The samples as raw little-endian bytes (the ALSA `file` plugin's `raw` format for S16_LE).
    init(littleEndianBytesOf samples: ArraySlice<Int16>) {
        self = samples.map { $0.littleEndian }.withUnsafeBytes { Data($0) }
    }
}
