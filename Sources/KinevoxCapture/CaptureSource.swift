import KinevoxAudio

/// Where the capture thread takes audio from: the `[capture] device` setting.
public enum CaptureSource: Equatable, Sendable {
    /// Any ALSA PCM name (`default`, `plughw:1,0`, `hw:1,0`, `dsnoop:…`).
    case device(String)
    /// A WAV file played into the real ALSA capture path through an in-process `file` PCM.
    case file(path: String, pace: FilePace)

    /// Parses a `[capture] device` value: `file:PATH.wav` names a file source, anything else an ALSA PCM.
    public init(deviceSetting: String, filePace: FilePace = .realTime) {
        if deviceSetting.hasPrefix("file:") {
            self = .file(path: String(deviceSetting.dropFirst(5)), pace: filePace)
        } else {
            self = .device(deviceSetting)
        }
    }

    /// The name used in log messages.
    public var displayName: String {
        switch self {
        case .device(let name): return name
        case .file(let path, _): return "file:" + path
        }
    }
}

/// How fast a file source feeds samples.
public enum FilePace: Equatable, Sendable {
    /// One period per period duration, like a microphone.
    case realTime
    /// As fast as the consumer takes them (the producer waits for ring space, nothing is dropped).
    case fast
}

/// Turns an audio file path into 16 kHz mono signed 16-bit samples; called on the capture thread.
public typealias SampleDecoder = @Sendable (_ path: String) throws -> [Int16]

/// The decoder `file:` sources use by default: KinevoxAudio's reader (any WAV that libsndfile reads,
/// mixed to mono and resampled to 16 kHz; 16-bit 16 kHz mono files pass through unchanged), with no
/// length limit so long recordings can be played for soak tests.
public let wavSampleDecoder: SampleDecoder = { path in
    s16Samples(from: try WAVFile.readMono(path, sampleRate: 16_000, limitSeconds: .infinity))
}

/// What the capture thread reports, for the daemon's log sink and metrics.
public enum CaptureEvent: Equatable, Sendable, CustomStringConvertible {
    /// The source was opened; `periodFrames` samples arrive per period.
    case opened(source: String, periodFrames: Int)
    /// Opening failed; the thread tries again after `retryInSeconds`.
    case openFailed(CaptureError, retryInSeconds: Double)
    /// An open device stopped working; it is closed and reopened with backoff.
    case deviceLost(CaptureError)
    /// The device overran its buffer (the capture thread was late); `total` counts them so far.
    case overrun(total: Int)
    /// The consumer fell behind and the ring was full; `total` samples were lost so far.
    case ringOverflow(total: Int)
    /// Whether SCHED_FIFO realtime priority was granted to the capture thread.
    case realtimePriority(granted: Bool, detail: String)
    /// A file source delivered all of its `samples` samples; the thread has ended.
    case endOfInput(samples: Int)

    public var description: String {
        switch self {
        case .opened(let source, let frames): return "capture: opened \(source), \(frames) frames per period"
        case .openFailed(let error, let delay): return "capture: \(error.message); retrying in \(delay) s"
        case .deviceLost(let error): return "capture: device lost: \(error.message); reopening"
        case .overrun(let total): return "capture: overrun (xrun) recovered, \(total) so far"
        case .ringOverflow(let total): return "capture: consumer fell behind, \(total) samples dropped so far"
        case .realtimePriority(let granted, let detail):
            return granted ? "capture: realtime priority \(detail)" : "capture: no realtime priority (\(detail)), running at normal priority"
        case .endOfInput(let samples): return "capture: end of input after \(samples) samples"
        }
    }
}
