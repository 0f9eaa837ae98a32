import CALSA
import Foundation

/// A capture failure with a message a user can act on (device name, ALSA's reason, what to try).
public struct CaptureError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One open ALSA capture PCM delivering interleaved mono S16 frames at a fixed rate.
///
/// ALSA's plug layer converts format, channels and rate, so any PCM name works (`hw:` names are
/// opened as `plughw:`). Owned and used by a single thread (the capture thread); not thread-safe.
final class CapturePCM {
    /// What `read` observed.
    enum ReadResult: Equatable {
        /// `frames` samples were stored at the start of the buffer.
        case samples(Int)
        /// Nothing ready yet (non-blocking PCM).
        case notReady
        /// An overrun happened and the PCM was recovered; the stream goes on.
        case recoveredOverrun
        /// The device failed for good (unplugged, driver error): close it and reopen later.
        case failed(CaptureError)
    }

    private var handle: OpaquePointer?
    /// The name shown in messages.
    let name: String
    /// Frames per period that the hardware (or plugin) accepted.
    let periodFrames: Int
    /// Whether the PCM delivers data at its own pace (a sound card) or instantly (the `file` PCM).
    let isPacedByDevice: Bool

    /// Opens the PCM called `name` for capture (non-blocking) at `sampleRate` Hz, mono S16.
    convenience init(name: String, sampleRate: Int, periodFrames: Int) throws {
        let openName = name.hasPrefix("hw:") ? "plug" + name : name
        var pcm: OpaquePointer?
        let rc = snd_pcm_open(&pcm, openName, SND_PCM_STREAM_CAPTURE, SND_PCM_NONBLOCK)
        guard rc >= 0, let pcm else {
            throw CaptureError("cannot open ALSA capture device \"\(name)\": \(alsaReason(rc)) (list devices with `kinevox devices` or `arecord -L`)")
        }
        try self.init(handle: pcm, name: name, sampleRate: sampleRate, periodFrames: periodFrames, pacedByDevice: true)
    }

    /// Opens an in-process ALSA `file` PCM (null slave) whose captured data is read from `rawPath`,
    /// raw little-endian S16 mono at `sampleRate` Hz. ALSA does not pace it: the caller must.
    convenience init(rawFile rawPath: String, displayName: String, sampleRate: Int, periodFrames: Int) throws {
        let quoted = rawPath.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        let text = """
        pcm.kinevox_file {
            type file
            slave.pcm { type null }
            file "/dev/null"
            infile "\(quoted)"
            format "raw"
        }
        """
        var config: OpaquePointer?
        var input: OpaquePointer?
        guard snd_config_top(&config) >= 0, let config else {
            throw CaptureError("ALSA could not allocate a configuration for \(displayName)")
        }
        defer { snd_config_delete(config) }
        var rc = text.withCString { snd_input_buffer_open(&input, $0, -1) }
        guard rc >= 0, let input else {
            throw CaptureError("ALSA could not read the file PCM configuration: \(alsaReason(rc))")
        }
        rc = snd_config_load(config, input)
        snd_input_close(input)
        guard rc >= 0 else { throw CaptureError("ALSA rejected the file PCM configuration: \(alsaReason(rc))") }
        var pcm: OpaquePointer?
        rc = snd_pcm_open_lconf(&pcm, "kinevox_file", SND_PCM_STREAM_CAPTURE, 0, config)
        guard rc >= 0, let pcm else {
            throw CaptureError("cannot open the ALSA file PCM for \(displayName): \(alsaReason(rc))")
        }
        try self.init(handle: pcm, name: displayName, sampleRate: sampleRate, periodFrames: periodFrames, pacedByDevice: false)
    }

    private init(handle: OpaquePointer, name: String, sampleRate: Int, periodFrames: Int, pacedByDevice: Bool) throws {
        self.handle = handle
        self.name = name
        self.isPacedByDevice = pacedByDevice
        do {
            self.periodFrames = try Self.configure(handle, name: name, sampleRate: sampleRate, periodFrames: periodFrames)
            let rc = snd_pcm_start(handle)
            if rc < 0 { throw CaptureError("cannot start capture on \"\(name)\": \(alsaReason(rc))") }
        } catch {
            snd_pcm_close(handle)
            self.handle = nil
            throw error
        }
    }

    deinit { if let handle { snd_pcm_close(handle) } }

    /// Sets mono S16 at `sampleRate` with periods of about `periodFrames` and a buffer of 16 periods;
    /// returns the period size ALSA chose.
    private static func configure(_ pcm: OpaquePointer, name: String, sampleRate: Int, periodFrames: Int) throws -> Int {
        var hw: OpaquePointer?
        guard snd_pcm_hw_params_malloc(&hw) >= 0, let hw else { throw CaptureError("out of memory configuring \"\(name)\"") }
        defer { snd_pcm_hw_params_free(hw) }
        func check(_ rc: Int32, _ what: String) throws {
            if rc < 0 { throw CaptureError("ALSA device \"\(name)\" refused \(what): \(alsaReason(rc))") }
        }
        try check(snd_pcm_hw_params_any(pcm, hw), "any configuration")
        try check(snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED), "interleaved access")
        try check(snd_pcm_hw_params_set_format(pcm, hw, SND_PCM_FORMAT_S16_LE), "16-bit samples (use a plug PCM)")
        try check(snd_pcm_hw_params_set_channels(pcm, hw, 1), "mono (use a plug PCM)")
        try check(snd_pcm_hw_params_set_rate_resample(pcm, hw, 1), "resampling")
        var rate = UInt32(sampleRate)
        var dir: Int32 = 0
        try check(snd_pcm_hw_params_set_rate_near(pcm, hw, &rate, &dir), "\(sampleRate) Hz")
        guard rate == UInt32(sampleRate) else {
            throw CaptureError("ALSA device \"\(name)\" offers \(rate) Hz, not \(sampleRate) Hz (use a plug PCM such as plughw:)")
        }
        var period = snd_pcm_uframes_t(periodFrames)
        try check(snd_pcm_hw_params_set_period_size_near(pcm, hw, &period, &dir), "a period of \(periodFrames) frames")
        var buffer = period * 16
        try check(snd_pcm_hw_params_set_buffer_size_near(pcm, hw, &buffer), "a buffer of \(buffer) frames")
        try check(snd_pcm_hw_params(pcm, hw), "the hardware parameters")
        try check(snd_pcm_hw_params_get_period_size(hw, &period, &dir), "reporting its period")
        return Int(period)
    }

    /// Waits up to `timeoutMs` for a period to become ready (device PCMs only).
    func wait(timeoutMs: Int32) {
        guard isPacedByDevice, let handle else { return }
        _ = snd_pcm_wait(handle, timeoutMs)
    }

    /// Reads up to `frames` frames into `buffer`, recovering from overruns and suspends.
    func read(into buffer: UnsafeMutablePointer<Int16>, frames: Int) -> ReadResult {
        guard let handle else { return .failed(CaptureError("\"\(name)\" is closed")) }
        let got = snd_pcm_readi(handle, buffer, snd_pcm_uframes_t(frames))
        if got >= 0 { return got == 0 ? .notReady : .samples(Int(got)) }
        let code = Int32(got)
        if code == -EAGAIN { return .notReady }
        if code == -EPIPE || code == -ESTRPIPE, snd_pcm_recover(handle, code, 1) >= 0 {
            _ = snd_pcm_start(handle)
            return .recoveredOverrun
        }
        return .failed(CaptureError("ALSA capture on \"\(name)\" failed: \(alsaReason(code))"))
    }
}

/// ALSA's text for a negative return code.
func alsaReason(_ code: Int32) -> String {
    String(cString: snd_strerror(code))
}
