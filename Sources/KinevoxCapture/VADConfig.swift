/// Every tunable of the energy VAD and the utterance segmenter, with the defaults the daemon uses.
///
/// The daemon's TOML `[vad]` section maps onto it key for key (the coding keys are snake_case, e.g.
/// `hangover_ms = 400`); keys left out keep their default. Levels are in dB (dBFS where absolute,
/// full scale = a square wave at ±32768), times in milliseconds. A plain value: any thread may use it.
public struct VADConfig: Codable, Equatable, Sendable {
    /// Input sample rate (Hz). `sample_rate`
    public var sampleRate: Int = 16_000
    /// Analysis frame length (ms); decisions are made per frame. `frame_ms`
    public var frameMs: Int = 10
    /// A frame this far above the noise level counts towards opening an utterance (dB). `start_threshold_db`
    public var startThresholdDB: Double = 5
    /// While an utterance is open, a frame this far above the noise level counts as speech (dB); the
    /// gap to `start_threshold_db` is the hysteresis. `stop_threshold_db`
    public var stopThresholdDB: Double = 3
    /// Frames more than this below the utterance's loudest frame do not keep it open (dB), so faint
    /// background voices after a loud command do not stretch it. `speech_range_db`
    public var speechRangeDB: Double = 30
    /// How long frames must stay above the start threshold to open an utterance (ms). `onset_ms`
    public var onsetMs: Int = 30
    /// Frames quieter than this are never speech, whatever the noise floor (dBFS). `min_level_dbfs`
    public var minLevelDBFS: Double = -55
    /// Upper edge of the band whose energy is measured (Hz; a 2nd-order low-pass): hiss above it no
    /// longer masks voiced speech. `level_band_hz`
    public var levelBandHz: Int = 4_000
    /// Frame levels are the mean power of this trailing window (ms, whole frames; ≤ `frame_ms` = no
    /// smoothing). `smoothing_ms`
    public var smoothingMs: Int = 30
    /// How fast the noise level follows the signal between utterances (dB per second, both ways; it
    /// settles on the median level of the non-speech frames). `noise_adapt_db_per_s`
    public var noiseAdaptDBPerS: Double = 5
    /// Both thresholds rise by this many times the noise's typical deviation from its level (mean
    /// absolute deviation of non-speech frames, tracked over about a second): steady hiss keeps low
    /// thresholds, fluctuating babble gets higher ones. `noise_spread_factor`
    public var noiseSpreadFactor: Double = 1
    /// The noise level never sits below the quietest smoothed frame of this trailing window (ms), so
    /// it rises within this time when the noise gets louder, even mid-utterance. `noise_window_ms`
    public var noiseWindowMs: Int = 3_000
    /// The noise level recovers within this time (ms) from any change: it falls when nine frames in ten of
    /// this trailing window were below it (the noise dropped, or the input went digitally silent) and jumps
    /// to the window's median when the window was steady (a new stationary noise). `noise_recovery_ms`
    public var noiseRecoveryMs: Int = 1_000
    /// A window of `noise_recovery_ms` whose 10th–90th percentile level range is below this counts as steady
    /// noise, not speech (dB). `steady_range_db`
    public var steadyRangeDB: Double = 4
    /// Audio kept before the detected speech onset and handed on with the utterance (ms). `pre_roll_ms`
    public var preRollMs: Int = 300
    /// Silence after speech that ends an utterance (ms). `hangover_ms`
    public var hangoverMs: Int = 400
    /// Early endpointing (the daemon): after this much silence (ms) the utterance so far is run through the
    /// model speculatively; 0 = off (every utterance waits for `hangover_ms`). `early_end_ms`
    public var earlyEndMs: Int = 150
    /// A speculative result is played once the silence has held this much longer (ms) and the model is
    /// confident it understood; otherwise the utterance waits for `hangover_ms`. `early_confirm_ms`
    public var earlyConfirmMs: Int = 60
    /// The model's confidence that it understood (0–1) at which a speculative result may play before the
    /// hangover. With a model that reports no understanding, 0 lets the confirmed pause alone decide and any
    /// higher value waits for the hangover. `early_end_confidence`
    public var earlyEndConfidence: Double = 0.6
    /// Shorter detected speech is dropped as a click or cough (ms). `min_utterance_ms`
    public var minUtteranceMs: Int = 300
    /// Longer utterances are cut here and continue in a new one (ms, pre-roll included). `max_utterance_ms`
    public var maxUtteranceMs: Int = 10_000
    /// Zero crossings per sample below which a loud frame counts as voiced (0–1; white noise ≈ 0.5,
    /// vowels ≈ 0.02–0.15). `voiced_max_zcr`
    public var voicedMaxZCR: Double = 0.25
    /// An utterance must hold at least this much voiced audio, or it is dropped as a noise burst (ms).
    /// `min_voiced_ms`
    public var minVoicedMs: Int = 60

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case sampleRate = "sample_rate"
        case frameMs = "frame_ms"
        case startThresholdDB = "start_threshold_db"
        case stopThresholdDB = "stop_threshold_db"
        case speechRangeDB = "speech_range_db"
        case onsetMs = "onset_ms"
        case minLevelDBFS = "min_level_dbfs"
        case levelBandHz = "level_band_hz"
        case smoothingMs = "smoothing_ms"
        case noiseAdaptDBPerS = "noise_adapt_db_per_s"
        case noiseSpreadFactor = "noise_spread_factor"
        case noiseWindowMs = "noise_window_ms"
        case noiseRecoveryMs = "noise_recovery_ms"
        case steadyRangeDB = "steady_range_db"
        case preRollMs = "pre_roll_ms"
        case hangoverMs = "hangover_ms"
        case earlyEndMs = "early_end_ms"
        case earlyConfirmMs = "early_confirm_ms"
        case earlyEndConfidence = "early_end_confidence"
        case minUtteranceMs = "min_utterance_ms"
        case maxUtteranceMs = "max_utterance_ms"
        case voicedMaxZCR = "voiced_max_zcr"
        case minVoicedMs = "min_voiced_ms"
    }

    /// Reads the keys present and keeps the defaults for the others.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func read<T: Decodable>(_ key: CodingKeys, _ value: inout T) throws {
            if let decoded = try c.decodeIfPresent(T.self, forKey: key) { value = decoded }
        }
        try read(.sampleRate, &sampleRate)
        try read(.frameMs, &frameMs)
        try read(.startThresholdDB, &startThresholdDB)
        try read(.stopThresholdDB, &stopThresholdDB)
        try read(.speechRangeDB, &speechRangeDB)
        try read(.onsetMs, &onsetMs)
        try read(.minLevelDBFS, &minLevelDBFS)
        try read(.levelBandHz, &levelBandHz)
        try read(.smoothingMs, &smoothingMs)
        try read(.noiseAdaptDBPerS, &noiseAdaptDBPerS)
        try read(.noiseSpreadFactor, &noiseSpreadFactor)
        try read(.noiseWindowMs, &noiseWindowMs)
        try read(.noiseRecoveryMs, &noiseRecoveryMs)
        try read(.steadyRangeDB, &steadyRangeDB)
        try read(.preRollMs, &preRollMs)
        try read(.hangoverMs, &hangoverMs)
        try read(.earlyEndMs, &earlyEndMs)
        try read(.earlyConfirmMs, &earlyConfirmMs)
        try read(.earlyEndConfidence, &earlyEndConfidence)
        try read(.minUtteranceMs, &minUtteranceMs)
        try read(.maxUtteranceMs, &maxUtteranceMs)
        try read(.voicedMaxZCR, &voicedMaxZCR)
        try read(.minVoicedMs, &minVoicedMs)
    }

    /// Checks ranges and relations; the error names the offending key and the accepted range.
    public func validate() throws {
        func require(_ ok: Bool, _ message: String) throws {
            if !ok { throw CaptureError("[vad] " + message) }
        }
        try require((8_000...192_000).contains(sampleRate), "sample_rate \(sampleRate) must be 8000–192000 Hz")
        try require((5...50).contains(frameMs), "frame_ms \(frameMs) must be 5–50")
        try require(stopThresholdDB > 0 && stopThresholdDB <= startThresholdDB,
                    "need 0 < stop_threshold_db (\(stopThresholdDB)) <= start_threshold_db (\(startThresholdDB))")
        try require(startThresholdDB <= 60, "start_threshold_db \(startThresholdDB) must be at most 60")
        try require(speechRangeDB > 0 && speechRangeDB <= 120, "speech_range_db \(speechRangeDB) must be in (0, 120]")
        try require(onsetMs >= 0 && onsetMs <= 500, "onset_ms \(onsetMs) must be 0–500")
        try require((-120...0).contains(minLevelDBFS), "min_level_dbfs \(minLevelDBFS) must be -120–0")
        try require(levelBandHz >= 500, "level_band_hz \(levelBandHz) must be at least 500")
        try require(smoothingMs >= 0 && smoothingMs <= 1_000, "smoothing_ms \(smoothingMs) must be 0–1000")
        try require(noiseAdaptDBPerS > 0 && noiseAdaptDBPerS <= 1_000, "noise_adapt_db_per_s \(noiseAdaptDBPerS) must be in (0, 1000]")
        try require(noiseSpreadFactor >= 0 && noiseSpreadFactor <= 10, "noise_spread_factor \(noiseSpreadFactor) must be 0–10")
        try require(noiseWindowMs >= 8 * frameMs && noiseWindowMs <= 60_000, "noise_window_ms \(noiseWindowMs) must be \(8 * frameMs)–60000")
        try require(noiseRecoveryMs >= 10 * frameMs && noiseRecoveryMs <= 10_000,
                    "noise_recovery_ms \(noiseRecoveryMs) must be \(10 * frameMs)–10000")
        try require(steadyRangeDB >= 0 && steadyRangeDB <= 30, "steady_range_db \(steadyRangeDB) must be 0–30")
        try require(preRollMs >= 0 && preRollMs <= 2_000, "pre_roll_ms \(preRollMs) must be 0–2000")
        try require(hangoverMs >= frameMs && hangoverMs <= 5_000, "hangover_ms \(hangoverMs) must be \(frameMs)–5000")
        try require(earlyEndMs == 0 || (earlyEndMs >= frameMs && earlyEndMs + earlyConfirmMs < hangoverMs),
                    "early_end_ms (\(earlyEndMs)) + early_confirm_ms (\(earlyConfirmMs)) must be below hangover_ms (\(hangoverMs)), early_end_ms 0 (off) or at least frame_ms")
        try require(earlyConfirmMs >= 0, "early_confirm_ms \(earlyConfirmMs) must not be negative")
        try require((0...1).contains(earlyEndConfidence), "early_end_confidence \(earlyEndConfidence) must be 0–1")
        try require(minUtteranceMs >= 0, "min_utterance_ms \(minUtteranceMs) must not be negative")
        try require(maxUtteranceMs > preRollMs + minUtteranceMs && maxUtteranceMs <= 120_000,
                    "max_utterance_ms \(maxUtteranceMs) must exceed pre_roll_ms + min_utterance_ms and be at most 120000")
        try require(voicedMaxZCR > 0 && voicedMaxZCR <= 1, "voiced_max_zcr \(voicedMaxZCR) must be in (0, 1]")
        try require(minVoicedMs >= 0, "min_voiced_ms \(minVoicedMs) must not be negative")
    }

    /// Samples per analysis frame.
    var frameSamples: Int { sampleRate * frameMs / 1000 }
    /// Whole frames covering `ms` milliseconds (rounded up).
    func frames(ms: Int) -> Int { (ms + frameMs - 1) / frameMs }
}
