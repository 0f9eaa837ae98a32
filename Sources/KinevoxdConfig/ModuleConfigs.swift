import Foundation
import KinevoxCapture
import KinevoxModel
import KinevoxServer

// Each module's own configuration type, filled from its TOML section. Keys are the snake_case names
// documented in Config/kinevox.toml; ranges here are the ones a value can be checked against alone, and
// the module's own `validate()` then checks relations between keys (its refusal is placed at the line of
// the first key it names).

extension AudioCapture.Configuration {
    /// `[capture]`. A `file:` device must name a readable file.
    init(section: ConfigSection) throws {
        let device = try section.string("device", default: "default")
        guard !device.isEmpty else { throw section.error("device", "must name an ALSA PCM or file:PATH.wav") }
        var source = CaptureSource(deviceSetting: device)
        if case .file(let path, let pace) = source {
            let resolved = URL(fileURLWithPath: path, relativeTo: section.directory).standardizedFileURL.path
            guard FileManager.default.isReadableFile(atPath: resolved) else {
                throw section.error("device", "\(resolved): no such readable WAV file")
            }
            source = .file(path: resolved, pace: pace)
        }
        if let problem = CaptureDeviceCheck.problem(with: source) { throw section.error("device", problem) }
        self.init(source: source)
        sampleRate = try section.int("sample_rate", default: sampleRate, in: 8_000...192_000)
        periodMs = try section.int("period_ms", default: periodMs, in: 1...100)
        ringSeconds = try section.double("ring_seconds", default: ringSeconds, in: 0.5...60)
        realtimePriority = Int32(try section.int("realtime_priority", default: Int(realtimePriority), in: 0...99))
        initialRetryDelay = try section.double("retry_initial_s", default: initialRetryDelay, in: 0.01...60)
        maxRetryDelay = try section.double("retry_max_s", default: maxRetryDelay, in: 0.01...3_600)
        guard maxRetryDelay >= initialRetryDelay else {
            throw section.error("retry_max_s", "must not be shorter than retry_initial_s (\(initialRetryDelay))")
        }
    }
}

extension ServerConfig {
    /// `[server]`. An empty `viewer_dir` means the bundled viewer; an empty `token` means none.
    init(section: ConfigSection) throws {
        self.init()
        listen = try section.string("listen", default: listen)
        let token = try section.string("token", default: "")
        self.token = token.isEmpty ? nil : token
        allowedOrigins = try section.stringArray("allowed_origins", default: allowedOrigins)
        maxClients = try section.int("max_clients", default: maxClients, in: 1...10_000)
        maxMessageBytes = try section.int("max_message_bytes", default: maxMessageBytes, in: 1_024...16_777_216)
        maxQueuedMessages = try section.int("max_queued_messages", default: maxQueuedMessages, in: 2...100_000)
        maxUploadSeconds = try section.double("max_upload_seconds", default: maxUploadSeconds, in: 0.1...600)
        maxUploadsPerMinute = try section.int("max_uploads_per_minute", default: maxUploadsPerMinute, in: 1...1_000_000)
        viewerDirectory = try BundledFile.viewer.resolve(try section.string("viewer_dir", default: ""),
                                                         section: section, key: "viewer_dir")
        let three = try section.string("three_dir", default: threeDirectory)
        threeDirectory = URL(fileURLWithPath: three, relativeTo: section.directory).standardizedFileURL.path
        try section.check(keys: ["listen", "max_clients", "max_message_bytes", "max_queued_messages",
                                 "max_upload_seconds", "max_uploads_per_minute"]) { try validate() }
    }
}

extension VADConfig {
    /// `[vad]`; its sample rate is the capture rate (`[capture] sample_rate`), not a key of its own.
    init(section: ConfigSection, sampleRate: Int) throws {
        self.init()
        self.sampleRate = sampleRate
        frameMs = try section.int("frame_ms", default: frameMs, in: 5...50)
        startThresholdDB = try section.double("start_threshold_db", default: startThresholdDB, in: 0...60)
        stopThresholdDB = try section.double("stop_threshold_db", default: stopThresholdDB, in: 0...60)
        speechRangeDB = try section.double("speech_range_db", default: speechRangeDB, in: 0.1...120)
        onsetMs = try section.int("onset_ms", default: onsetMs, in: 0...500)
        minLevelDBFS = try section.double("min_level_dbfs", default: minLevelDBFS, in: -120...0)
        levelBandHz = try section.int("level_band_hz", default: levelBandHz, in: 500...96_000)
        smoothingMs = try section.int("smoothing_ms", default: smoothingMs, in: 0...1_000)
        noiseAdaptDBPerS = try section.double("noise_adapt_db_per_s", default: noiseAdaptDBPerS, in: 0.01...1_000)
        noiseSpreadFactor = try section.double("noise_spread_factor", default: noiseSpreadFactor, in: 0...10)
        noiseWindowMs = try section.int("noise_window_ms", default: noiseWindowMs, in: 40...60_000)
        noiseRecoveryMs = try section.int("noise_recovery_ms", default: noiseRecoveryMs, in: 50...10_000)
        steadyRangeDB = try section.double("steady_range_db", default: steadyRangeDB, in: 0...30)
        preRollMs = try section.int("pre_roll_ms", default: preRollMs, in: 0...2_000)
        hangoverMs = try section.int("hangover_ms", default: hangoverMs, in: 5...5_000)
        earlyEndMs = try section.int("early_end_ms", default: earlyEndMs, in: 0...5_000)
        earlyConfirmMs = try section.int("early_confirm_ms", default: earlyConfirmMs, in: 0...5_000)
        earlyEndConfidence = try section.double("early_end_confidence", default: earlyEndConfidence, in: 0...1)
        minUtteranceMs = try section.int("min_utterance_ms", default: minUtteranceMs, in: 0...60_000)
        maxUtteranceMs = try section.int("max_utterance_ms", default: maxUtteranceMs, in: 100...120_000)
        voicedMaxZCR = try section.double("voiced_max_zcr", default: voicedMaxZCR, in: 0.001...1)
        minVoicedMs = try section.int("min_voiced_ms", default: minVoicedMs, in: 0...60_000)
        try section.check(keys: ["frame_ms", "start_threshold_db", "stop_threshold_db", "speech_range_db", "onset_ms",
                                 "min_level_dbfs", "level_band_hz", "smoothing_ms", "noise_adapt_db_per_s",
                                 "noise_spread_factor", "noise_window_ms", "noise_recovery_ms", "steady_range_db",
                                 "pre_roll_ms", "hangover_ms", "early_end_ms", "early_confirm_ms", "early_end_confidence",
                                 "min_utterance_ms", "max_utterance_ms", "voiced_max_zcr", "min_voiced_ms"]) { try validate() }
    }
}
