/// Why an audio file or buffer could not be turned into 16 kHz mono samples.
/// Each case's `description` names the file and says what to do about it.
public enum AudioError: Error, Equatable, CustomStringConvertible {
    /// libsndfile could not open or recognise the file (missing, unreadable, wrong header, unknown format).
    case unreadable(path: String, reason: String)
    /// The file's data chunk declares more audio than the file holds.
    case truncated(path: String, declaredFrames: Int, availableFrames: Int)
    /// The file holds no samples at all.
    case empty(path: String)
    /// So few frames at so high a rate that converting them gives no sample at all (found by fuzzing).
    case tooShort(path: String, frames: Int, sampleRate: Double, outputRate: Double)
    /// The audio is longer than the limit callers accept (seconds).
    case tooLong(path: String, seconds: Double, limitSeconds: Double)
    /// libsndfile stopped reading before the end of the data.
    case readFailed(path: String, reason: String)
    /// A sample rate that is zero, negative or not finite.
    case invalidSampleRate(Double)
    /// libsoxr refused the conversion.
    case resampler(reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            return "cannot read audio file \(path): \(reason) (expected a WAV file)"
        case let .truncated(path, declared, available):
            return "audio file \(path) is truncated: its header declares \(declared) frames but only \(available) are present; re-record or re-export it"
        case let .empty(path):
            return "audio file \(path) contains no samples"
        case let .tooShort(path, frames, rate, outputRate):
            return "audio file \(path) is too short: its \(frames) frames at \(Int(rate)) Hz give no sample at \(Int(outputRate)) Hz"
        case let .tooLong(path, seconds, limit):
            return "audio file \(path) is \(String(format: "%.1f", seconds)) s long; at most \(String(format: "%.0f", limit)) s is accepted, trim it"
        case let .readFailed(path, reason):
            return "reading audio file \(path) failed: \(reason)"
        case let .invalidSampleRate(rate):
            return "invalid sample rate \(rate) Hz; it must be a positive number"
        case let .resampler(reason):
            return "resampling failed: \(reason)"
        }
    }
}
