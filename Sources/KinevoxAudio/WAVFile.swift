import CSndFile
import Foundation

/// A decoded audio file: interleaved Float samples in [-1, 1] at the file's own rate and channel count.
public struct DecodedAudio: Sendable {
    /// Interleaved samples, `frameCount * channels` of them.
    public var samples: [Float]
    /// Samples per second per channel (Hz).
    public var sampleRate: Double
    /// Channels per frame.
    public var channels: Int
    public var frameCount: Int { samples.count / max(channels, 1) }
    public var seconds: Double { Double(frameCount) / sampleRate }
}

/// Reads audio files (WAV: 8/16/24/32-bit PCM or float, any channel count and rate) with libsndfile.
/// Stateless; any thread may call it.
public enum WAVFile {
    /// Longest audio accepted by default (seconds).
    public static let defaultLimitSeconds: Double = 30

    /// Decodes `path` without changing its rate or channel layout.
    public static func decode(_ path: String, limitSeconds: Double = defaultLimitSeconds) throws -> DecodedAudio {
        var info = SF_INFO()
        guard let file = sf_open(path, Int32(SFM_READ), &info) else {
            throw AudioError.unreadable(path: path, reason: String(cString: sf_strerror(nil)))
        }
        defer { sf_close(file) }
        let frames = Int(info.frames)
        let channels = Int(info.channels)
        let rate = Double(info.samplerate)
        guard frames > 0, channels > 0 else { throw AudioError.empty(path: path) }
        if let declared = declaredDataFrames(path: path, channels: channels, format: info.format), declared > frames {
            throw AudioError.truncated(path: path, declaredFrames: declared, availableFrames: frames)
        }
        let seconds = Double(frames) / rate
        if seconds > limitSeconds {
            throw AudioError.tooLong(path: path, seconds: seconds, limitSeconds: limitSeconds)
        }
        var samples = [Float](repeating: 0, count: frames * channels)
        let read = samples.withUnsafeMutableBufferPointer { sf_readf_float(file, $0.baseAddress, sf_count_t(frames)) }
        guard Int(read) == frames else {
            throw AudioError.readFailed(path: path, reason: "got \(read) of \(frames) frames: \(String(cString: sf_strerror(file)))")
        }
        return DecodedAudio(samples: samples, sampleRate: rate, channels: channels)
    }

    /// Decodes `path`, mixes it down to mono and resamples it to `sampleRate` (default 16 kHz); never returns
    /// an empty array.
    public static func readMono(_ path: String, sampleRate: Double = 16_000,
                                limitSeconds: Double = defaultLimitSeconds) throws -> [Float] {
        let audio = try decode(path, limitSeconds: limitSeconds)
        let mono = try resample(downmixToMono(audio.samples, channels: audio.channels), from: audio.sampleRate, to: sampleRate)
        guard !mono.isEmpty else {
            throw AudioError.tooShort(path: path, frames: audio.frameCount, sampleRate: audio.sampleRate, outputRate: sampleRate)
        }
        return mono
    }

    /// Frames promised by a RIFF/WAVE file's `data` chunk header (plain or WAVE_FORMAT_EXTENSIBLE), or nil
    /// when the file is not a RIFF WAV, the size is the streaming placeholder, or the sample width is not fixed.
    /// libsndfile silently shortens a truncated file; comparing with this catches it.
    private static func declaredDataFrames(path: String, channels: Int, format: Int32) -> Int? {
        let bytesPerSample: Int
        switch format & Int32(SF_FORMAT_SUBMASK) {
        case Int32(SF_FORMAT_PCM_U8), Int32(SF_FORMAT_PCM_S8): bytesPerSample = 1
        case Int32(SF_FORMAT_PCM_16): bytesPerSample = 2
        case Int32(SF_FORMAT_PCM_24): bytesPerSample = 3
        case Int32(SF_FORMAT_PCM_32), Int32(SF_FORMAT_FLOAT): bytesPerSample = 4
        case Int32(SF_FORMAT_DOUBLE): bytesPerSample = 8
        default: return nil
        }
        let container = format & Int32(SF_FORMAT_TYPEMASK)
        guard container == Int32(SF_FORMAT_WAV) || container == Int32(SF_FORMAT_WAVEX),
              let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let header = try? handle.read(upToCount: 12), header.count == 12,
              header.prefix(4) == Data("RIFF".utf8), header.suffix(4) == Data("WAVE".utf8) else { return nil }
        var offset: UInt64 = 12
        while true {
            guard (try? handle.seek(toOffset: offset)) != nil,
                  let chunk = try? handle.read(upToCount: 8), chunk.count == 8 else { return nil }
            let size = chunk.suffix(4).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
            if chunk.prefix(4) == Data("data".utf8) {
                if size == 0xFFFF_FFFF || size == 0 { return nil }
                return Int(size) / (bytesPerSample * channels)
            }
            offset += 8 + size + (size & 1)
        }
    }
}
