import Foundation

/// What the energy VAD measured and decided for one frame.
public struct FrameDecision: Equatable, Sendable {
    /// Smoothed frame energy after the high-pass (dBFS; -120 for digital silence).
    public var levelDB: Double
    /// Noise level estimate at this frame (dBFS); thresholds are relative to it plus the spread term.
    public var floorDB: Double
    /// Zero crossings per sample (0–1).
    public var zeroCrossingRate: Double
    /// Loud enough to count towards opening an utterance.
    public var aboveStart: Bool
    /// Loud enough to keep an open utterance going.
    public var aboveStop: Bool
    /// Above the start threshold with a low zero-crossing rate: looks like voiced speech, not hiss.
    public var voiced: Bool
}

/// Per-frame speech evidence from energy above an adaptive noise level, plus a zero-crossing cue.
///
/// Each frame is high-passed (one-pole, about 100 Hz: removes DC, hum and the rumble that carries
/// little speech), its mean power averaged over the trailing `smoothing_ms` (a box window, so the level drops as
/// soon as the sound stops) and taken in dBFS. The noise level is
/// tracked three ways: a median tracker (steps of `noise_adapt_db_per_s` towards each frame's level,
/// frozen while an utterance is open); as a lower bound that lets the level rise when the noise
/// really did, the minimum smoothed level over the trailing `noise_window_ms` (eight sub-window
/// minima, O(1) per frame); and a recovery check over the last `noise_recovery_ms`, so the VAD is never
/// deaf for longer than that: when nine frames in ten of that window were quieter than the noise level
/// (the noise dropped, or the input went digitally silent), the level falls to that quantile; when the
/// window was steady (its 10th–90th percentile range under `steady_range_db`: a new stationary noise, not
/// speech, which rises and falls with its syllables), the level jumps to the window's median, even
/// mid-utterance. Digitally silent frames carry no noise to measure and leave the spread alone.
/// Owned by one thread (the VAD loop).
public struct EnergyVAD: Sendable {
    public let config: VADConfig
    private var previousInput: Double?
    private var previousOutput: Double = 0
    /// Powers of the last frames for the box average, and their running sum.
    private var recentPowers: [Double]
    private var recentPowerSum = 0.0
    private var framesSeen = 0
    private var trackedNoiseDB: Double?
    /// Mean absolute deviation of non-speech frame levels from the noise level (dB).
    private var noiseSpread = EnergyVAD.initialSpreadDB
    private static let initialSpreadDB = 3.0
    /// Minimum level of each completed sub-window, oldest first.
    private var blockMinima: [Double] = []
    private var currentBlockMinimum = Double.infinity
    private var framesInBlock = 0
    private let framesPerBlock: Int
    /// Levels of the last `noise_recovery_ms` (ring), a scratch copy for its quantiles, and whether each
    /// frame had a voiced zero-crossing rate.
    private var recentLevels: [Double]
    private var sortedLevels: [Double]
    private var recentVoicedRate: [Bool]
    private var recentVoicedCount = 0
    private static let recoveryCheckFrames = 5
    /// A non-speech frame further than this from the noise level moves the spread by this much at most (dB).
    private static let maxSpreadDeviationDB = 12.0
    private let noiseStepDB: Double
    private let spreadRate: Double
    private static let blockCount = 8
    private static let silenceDB = -120.0
    /// Pole of the high-pass: exp(-2π · 100 Hz / sample rate).
    private let highPassPole: Double
    private var lowPass: Biquad

    public init(config: VADConfig) {
        self.config = config
        framesPerBlock = max(1, config.frames(ms: config.noiseWindowMs) / Self.blockCount)
        recentLevels = Array(repeating: Self.silenceDB, count: max(Self.recoveryCheckFrames, config.frames(ms: config.noiseRecoveryMs)))
        sortedLevels = recentLevels
        recentVoicedRate = Array(repeating: false, count: recentLevels.count)
        recentPowers = Array(repeating: 0, count: max(1, config.smoothingMs / config.frameMs))
        noiseStepDB = config.noiseAdaptDBPerS * Double(config.frameMs) / 1000
        spreadRate = Double(config.frameMs) / 1000
        highPassPole = exp(-2 * Double.pi * 100 / Double(config.sampleRate))
        lowPass = Biquad(lowPassAt: min(Double(config.levelBandHz), 0.45 * Double(config.sampleRate)), sampleRate: Double(config.sampleRate))
    }

    /// The current noise level (dBFS), or nil before the first frame.
    public var noiseFloorDB: Double? {
        guard let tracked = trackedNoiseDB else { return nil }
        return max(tracked, windowMinimum)
    }

    private var windowMinimum: Double { min(blockMinima.min() ?? .infinity, currentBlockMinimum) }

    /// Measures one frame (any length ≥ 1) and updates the noise level; `inUtterance` freezes the
    /// median tracker so speech does not raise it.
    public mutating func classify(_ frame: UnsafeBufferPointer<Int16>, inUtterance: Bool = false) -> FrameDecision {
        let r = highPassPole
        var x1 = previousInput ?? Double(frame.first ?? 0)
        var y1 = previousOutput
        var power = 0.0
        var crossings = 0
        var previousPositive = y1 >= 0
        for sample in frame {
            let x = Double(sample)
            let y = x - x1 + r * y1
            x1 = x
            y1 = y
            let low = lowPass.process(y)
            power += low * low
            let positive = y >= 0
            if positive != previousPositive { crossings += 1 }
            previousPositive = positive
        }
        previousInput = x1
        previousOutput = y1
        let count = Double(max(frame.count, 1))
        let framePower = power / count / (32_768.0 * 32_768.0)
        let slot = framesSeen % recentPowers.count
        recentPowerSum += framePower - recentPowers[slot]
        recentPowers[slot] = framePower
        framesSeen += 1
        let smoothed = max(0, recentPowerSum) / Double(min(framesSeen, recentPowers.count))
        let level = smoothed > 1e-12 ? 10 * log10(smoothed) : Self.silenceDB
        let zcr = Double(crossings) / count

        trackNoise(level, voicedRate: zcr < config.voicedMaxZCR, frozen: inUtterance)
        let floor = (noiseFloorDB ?? level) + config.noiseSpreadFactor * noiseSpread
        let startLevel = max(floor + config.startThresholdDB, config.minLevelDBFS)
        let stopLevel = max(floor + config.stopThresholdDB, config.minLevelDBFS - (config.startThresholdDB - config.stopThresholdDB))
        let aboveStart = level > startLevel
        return FrameDecision(levelDB: level, floorDB: floor, zeroCrossingRate: zcr,
                             aboveStart: aboveStart, aboveStop: level > stopLevel,
                             voiced: aboveStart && zcr < config.voicedMaxZCR)
    }

    private mutating func trackNoise(_ level: Double, voicedRate: Bool, frozen: Bool) {
        if let tracked = trackedNoiseDB {
            if !frozen {
                if level > Self.silenceDB {
                    let deviation = min(abs(level - tracked), Self.maxSpreadDeviationDB)
                    noiseSpread += (deviation - noiseSpread) * spreadRate
                }
                trackedNoiseDB = level > tracked ? min(level, tracked + noiseStepDB) : max(level, tracked - noiseStepDB)
            }
        } else {
            trackedNoiseDB = level
        }
        let slot = (framesSeen - 1) % recentLevels.count
        recentLevels[slot] = level
        recentVoicedCount += (voicedRate ? 1 : 0) - (recentVoicedRate[slot] ? 1 : 0)
        recentVoicedRate[slot] = voicedRate
        if framesSeen >= recentLevels.count && framesSeen % Self.recoveryCheckFrames == 0 { recover(frozen: frozen) }
        currentBlockMinimum = min(currentBlockMinimum, level)
        framesInBlock += 1
        if framesInBlock == framesPerBlock {
            blockMinima.append(currentBlockMinimum)
            if blockMinima.count > Self.blockCount - 1 { blockMinima.removeFirst() }
            currentBlockMinimum = .infinity
            framesInBlock = 0
        }
    }

    /// The recovery check over the last `noise_recovery_ms` (see the type's comment).
    private mutating func recover(frozen: Bool) {
        guard let tracked = trackedNoiseDB else { return }
        // Inside an utterance a steady sound with a voiced zero-crossing rate (a held tone, clipped speech) is
        // left to the window minimum; steady hiss, fans and other unvoiced noise count as a level change.
        let mayRise = !frozen || recentVoicedCount * 2 < recentLevels.count
        for i in recentLevels.indices { sortedLevels[i] = recentLevels[i] }
        sortedLevels.sort()
        func quantile(_ q: Double) -> Double { sortedLevels[Int(q * Double(sortedLevels.count - 1))] }
        let low = quantile(0.1), median = quantile(0.5), high = quantile(0.9)
        if high < tracked {
            trackedNoiseDB = high
        } else if mayRise && high - low < config.steadyRangeDB && median > tracked {
            trackedNoiseDB = median
            // The new noise's own spread, so it does not open utterances on its usual ripples.
            if low > Self.silenceDB { noiseSpread = max(noiseSpread, (high - low) / 2) }
        } else {
            return
        }
        // Blocks of the window minimum older than the change no longer hold the level down.
        blockMinima = blockMinima.map { max($0, low) }
        currentBlockMinimum = max(currentBlockMinimum, low)
    }
}

/// A second-order Butterworth low-pass (direct form I), used to weigh the level towards the band
/// where voiced speech carries its energy.
struct Biquad: Sendable {
    private let b0, b1, b2, a1, a2: Double
    private var x1 = 0.0, x2 = 0.0, y1 = 0.0, y2 = 0.0

    init(lowPassAt cutoff: Double, sampleRate: Double) {
        let w = 2 * Double.pi * cutoff / sampleRate
        let alpha = sin(w) / (2 * 0.5.squareRoot())
        let a0 = 1 + alpha
        b0 = (1 - cos(w)) / 2 / a0
        b1 = (1 - cos(w)) / a0
        b2 = b0
        a1 = -2 * cos(w) / a0
        a2 = (1 - alpha) / a0
    }

    mutating func process(_ x: Double) -> Double {
        let y = b0 * x + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
        x2 = x1
        x1 = x
        y2 = y1
        y1 = y
        return y
    }
}
