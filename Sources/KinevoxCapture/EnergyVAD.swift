import Foundation

/// What the energy VAD measured and decided for one frame.
public struct FrameDecision: Equatable, Sendable {
    /// Frame energy after DC removal (dBFS; -120 for digital silence).
    public var levelDB: Double
    /// Noise floor estimate at this frame (dBFS).
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

/// Per-frame speech evidence from energy above an adaptive noise floor, plus a zero-crossing cue.
///
/// Each frame is DC-blocked (one-pole high-pass near 13 Hz), its mean power taken in dBFS, and
/// compared with a noise floor that is the minimum frame level over the trailing `noise_window_ms`
/// (tracked in O(1) per frame with eight sub-window minima). Owned by one thread (the VAD loop).
public struct EnergyVAD: Sendable {
    public let config: VADConfig
    private var previousInput: Double?
    private var previousOutput: Double = 0
    /// Minimum level of each completed sub-window, oldest first, plus the one being filled.
    private var blockMinima: [Double] = []
    private var currentBlockMinimum = Double.infinity
    private var framesInBlock = 0
    private let framesPerBlock: Int
    private static let blockCount = 8
    private static let silenceDB = -120.0

    public init(config: VADConfig) {
        self.config = config
        framesPerBlock = max(1, config.frames(ms: config.noiseWindowMs) / Self.blockCount)
    }

    /// The current noise floor (dBFS), or nil before the first frame.
    public var noiseFloorDB: Double? {
        let floor = min(blockMinima.min() ?? .infinity, currentBlockMinimum)
        return floor.isFinite ? floor : nil
    }

    /// Measures one frame (any length ≥ 1) and updates the noise floor.
    public mutating func classify(_ frame: UnsafeBufferPointer<Int16>) -> FrameDecision {
        let r = 0.995
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
            power += y * y
            let positive = y >= 0
            if positive != previousPositive { crossings += 1 }
            previousPositive = positive
        }
        previousInput = x1
        previousOutput = y1
        let count = Double(max(frame.count, 1))
        let meanPower = power / count / (32_768.0 * 32_768.0)
        let level = meanPower > 1e-12 ? 10 * log10(meanPower) : Self.silenceDB
        let zcr = Double(crossings) / count

        trackFloor(level)
        let floor = noiseFloorDB ?? level
        let startLevel = max(floor + config.startThresholdDB, config.minLevelDBFS)
        let stopLevel = max(floor + config.stopThresholdDB, config.minLevelDBFS - (config.startThresholdDB - config.stopThresholdDB))
        let aboveStart = level > startLevel
        return FrameDecision(levelDB: level, floorDB: floor, zeroCrossingRate: zcr,
                             aboveStart: aboveStart, aboveStop: level > stopLevel,
                             voiced: aboveStart && zcr < config.voicedMaxZCR)
    }

    private mutating func trackFloor(_ level: Double) {
        currentBlockMinimum = min(currentBlockMinimum, level)
        framesInBlock += 1
        if framesInBlock == framesPerBlock {
            blockMinima.append(currentBlockMinimum)
            if blockMinima.count > Self.blockCount - 1 { blockMinima.removeFirst() }
            currentBlockMinimum = .infinity
            framesInBlock = 0
        }
    }
}
