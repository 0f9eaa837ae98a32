/// One utterance cut from the stream. Sample indices count from the first sample the segmenter saw.
public struct Utterance: Equatable, Sendable {
    /// The audio handed on: pre-roll, speech, and the trailing silence that ended it (16-bit PCM).
    public var samples: [Int16]
    /// Stream index of `samples[0]`.
    public var startSample: Int
    /// Stream index one past the last sample of `samples`.
    public var endSample: Int { startSample + samples.count }
    /// Where the VAD found speech to begin (stream index, ≥ `startSample`).
    public var speechStartSample: Int
    /// One past the last frame the VAD took for speech (stream index, ≤ `endSample`).
    public var speechEndSample: Int
    /// True when the utterance hit `max_utterance_ms` and the speech goes on in the next one.
    public var cutAtMaximum: Bool
}

/// What the segmenter saw in a stream, in order: early-endpointing pauses and closed utterances.
public enum SegmenterEvent: Equatable, Sendable {
    /// An open utterance has had `early_end_ms` of silence after its speech: the utterance so far (its audio
    /// ends at this frame), for a speculative run. Sent once per pause, only for an utterance that would be kept.
    case pause(Utterance)
    /// The silence after the last `pause` has lasted `early_confirm_ms` more.
    case pauseHeld
    /// Speech came back after a `pause`: the utterance goes on (any speculative result for it is stale).
    case resumed
    /// An utterance closed (hangover, maximum length, or end of stream).
    case closed(Utterance)
}

/// Turns a stream of 16-bit samples into utterances: frames are classified by `EnergyVAD`, an
/// utterance opens after `onset_ms` above the start threshold (its start moved back over the quieter
/// frames just before, so soft onsets are kept), closes after `hangover_ms` below the stop threshold
/// (or more than `speech_range_db` below the utterance's loudest frame),
/// is dropped when shorter than `min_utterance_ms` or without `min_voiced_ms` of voiced frames, and
/// is cut at `max_utterance_ms`. Feeding the same samples in any chunk sizes gives the same result.
/// Owned by one thread (the VAD loop); not thread-safe.
public struct UtteranceSegmenter: Sendable {
    public let config: VADConfig
    private var vad: EnergyVAD
    private let frameLength: Int
    private let onsetFrames: Int
    private let preRollFrames: Int
    private var pending: [Int16] = []
    private var framesSeen = 0
    private var onsetRun = 0
    /// Stream index where the last utterance's audio ended; pre-roll never reaches behind it.
    private var lastCut = 0
    private var history: SampleHistory
    /// Per-frame (aboveStop, voiced) for the frames the onset may move back over.
    private var recentFrames: [(aboveStop: Bool, voiced: Bool)]
    private var open: OpenUtterance?

    private struct OpenUtterance {
        var audio: [Int16]
        var audioStart: Int
        var speechStart: Int
        var lastSpeechEnd: Int
        var voicedFrames: Int
        var continuesCut: Bool
        /// Loudest frame level so far (dBFS).
        var peakDB: Double
        /// A `pause` was sent for the current silence, and a `pauseHeld` after it.
        var pauseSent = false
        var pauseHeldSent = false
    }

    /// Builds a segmenter; throws a `CaptureError` naming the bad `[vad]` key if `config` is invalid.
    public init(config: VADConfig) throws {
        try config.validate()
        self.config = config
        vad = EnergyVAD(config: config)
        frameLength = config.frameSamples
        onsetFrames = max(1, config.frames(ms: config.onsetMs))
        preRollFrames = config.frames(ms: config.preRollMs)
        history = SampleHistory(capacity: (2 * preRollFrames + onsetFrames + 1) * frameLength)
        recentFrames = Array(repeating: (false, false), count: preRollFrames + onsetFrames + 1)
    }

    /// Samples consumed so far (whole frames only).
    public var position: Int { framesSeen * frameLength }

    /// The noise floor the VAD currently assumes (dBFS), or nil before the first frame.
    public var noiseFloorDB: Double? { vad.noiseFloorDB }

    /// Feeds samples; returns the utterances that closed within them.
    public mutating func push(_ samples: UnsafeBufferPointer<Int16>) -> [Utterance] {
        pushEvents(samples).compactMap { if case .closed(let u) = $0 { u } else { nil } }
    }

    /// Feeds samples; returns what happened within them (pauses only when `early_end_ms` > 0).
    public mutating func pushEvents(_ samples: UnsafeBufferPointer<Int16>) -> [SegmenterEvent] {
        var closed: [SegmenterEvent] = []
        var index = 0
        if !pending.isEmpty {
            let take = min(frameLength - pending.count, samples.count)
            pending.append(contentsOf: samples[0..<take])
            index = take
            if pending.count == frameLength {
                let frame = pending
                pending.removeAll(keepingCapacity: true)
                frame.withUnsafeBufferPointer { process(frame: $0, into: &closed) }
            }
        }
        while samples.count - index >= frameLength {
            process(frame: UnsafeBufferPointer(rebasing: samples[index..<index + frameLength]), into: &closed)
            index += frameLength
        }
        pending.append(contentsOf: samples[index...])
        return closed
    }

    /// Convenience for arrays.
    public mutating func push(_ samples: [Int16]) -> [Utterance] {
        samples.withUnsafeBufferPointer { push($0) }
    }

    /// Ends the stream: closes an open utterance at the last whole frame (a trailing partial frame is
    /// not analysed) and returns it if it qualifies.
    public mutating func finish() -> [Utterance] {
        var closed: [SegmenterEvent] = []
        close(cutAt: position, atMaximum: false, into: &closed)
        pending.removeAll()
        return closed.compactMap { if case .closed(let u) = $0 { u } else { nil } }
    }

    /// Ends the open utterance here without handing it on: the daemon played its speculative result at a
    /// confirmed pause, so speech after this point opens a new utterance.
    public mutating func endEarly() {
        guard open != nil else { return }
        open = nil
        onsetRun = 0
        lastCut = position
    }

    /// Whether the VAD finds any speech in a whole recording: what uploads and `kinevox generate` check
    /// before running the model (silence and noise give no utterance).
    public static func containsSpeech(_ samples: [Int16], config: VADConfig) throws -> Bool {
        try !utterances(in: samples, config: config).isEmpty
    }

    /// Segments a whole recording at once.
    public static func utterances(in samples: [Int16], config: VADConfig) throws -> [Utterance] {
        var segmenter = try UtteranceSegmenter(config: config)
        return segmenter.push(samples) + segmenter.finish()
    }

    private mutating func process(frame: UnsafeBufferPointer<Int16>, into closed: inout [SegmenterEvent]) {
        let decision = vad.classify(frame, inUtterance: open != nil)
        let frameStart = position
        let frameEnd = frameStart + frameLength
        history.append(frame)
        recentFrames[framesSeen % recentFrames.count] = (decision.aboveStop, decision.voiced)
        framesSeen += 1

        if var current = open {
            current.audio.append(contentsOf: frame)
            current.peakDB = max(current.peakDB, decision.levelDB)
            if decision.aboveStop && decision.levelDB > current.peakDB - config.speechRangeDB {
                current.lastSpeechEnd = frameEnd
                if current.pauseSent { closed.append(.resumed) }
                current.pauseSent = false
                current.pauseHeldSent = false
            }
            if decision.voiced { current.voicedFrames += 1 }
            let silence = frameEnd - current.lastSpeechEnd
            let hangover = config.hangoverMs * config.sampleRate / 1000
            if config.earlyEndMs > 0 && silence < hangover {
                let pauseAt = config.earlyEndMs * config.sampleRate / 1000
                if !current.pauseSent && silence >= pauseAt && qualifies(current, speechEnd: current.lastSpeechEnd) {
                    current.pauseSent = true
                    closed.append(.pause(Utterance(samples: current.audio, startSample: current.audioStart,
                                                   speechStartSample: current.speechStart,
                                                   speechEndSample: current.lastSpeechEnd, cutAtMaximum: false)))
                }
                if current.pauseSent && !current.pauseHeldSent && silence >= pauseAt + config.earlyConfirmMs * config.sampleRate / 1000 {
                    current.pauseHeldSent = true
                    closed.append(.pauseHeld)
                }
            }
            open = current
            let maximum = config.maxUtteranceMs * config.sampleRate / 1000
            if silence >= hangover {
                close(cutAt: frameEnd, atMaximum: false, into: &closed)
            } else if current.audio.count + frameLength > maximum {
                close(cutAt: frameEnd, atMaximum: true, into: &closed)
                open = OpenUtterance(audio: [], audioStart: frameEnd, speechStart: frameEnd, lastSpeechEnd: frameEnd,
                                     voicedFrames: 0, continuesCut: true, peakDB: current.peakDB)
            }
            return
        }

        onsetRun = decision.aboveStart ? onsetRun + 1 : 0
        guard onsetRun >= onsetFrames else { return }
        // Move the start back over the contiguous frames above the stop threshold before the onset run.
        let current = framesSeen - 1
        var first = current - onsetRun + 1
        let earliest = max(lastCut / frameLength, framesSeen - recentFrames.count, first - preRollFrames)
        while first - 1 >= earliest && recentFrames[(first - 1) % recentFrames.count].aboveStop { first -= 1 }
        let speechStart = first * frameLength
        let audioStart = max(speechStart - config.preRollMs * config.sampleRate / 1000, lastCut, history.oldestIndex)
        let voiced = (first...current).filter { recentFrames[$0 % recentFrames.count].voiced }.count
        open = OpenUtterance(audio: history.samples(from: audioStart), audioStart: audioStart, speechStart: speechStart,
                             lastSpeechEnd: frameEnd, voicedFrames: voiced, continuesCut: false, peakDB: decision.levelDB)
    }

    private mutating func close(cutAt end: Int, atMaximum: Bool, into closed: inout [SegmenterEvent]) {
        defer {
            open = nil
            onsetRun = 0
            lastCut = end
        }
        guard let current = open else { return }
        let speechEnd = atMaximum ? end : current.lastSpeechEnd
        guard qualifies(current, speechEnd: speechEnd) else { return }
        closed.append(.closed(Utterance(samples: current.audio, startSample: current.audioStart,
                                        speechStartSample: current.speechStart, speechEndSample: speechEnd, cutAtMaximum: atMaximum)))
    }

    /// Whether `current`, ending its speech at `speechEnd`, is long and voiced enough to hand on.
    private func qualifies(_ current: OpenUtterance, speechEnd: Int) -> Bool {
        let speechSamples = speechEnd - current.speechStart
        let longEnough = current.continuesCut ? speechSamples > 0 : speechSamples >= config.minUtteranceMs * config.sampleRate / 1000
        let voicedEnough = current.continuesCut || current.voicedFrames * config.frameMs >= config.minVoicedMs
        return longEnough && voicedEnough
    }
}

/// The most recent samples of a stream, addressed by stream index (for pre-roll).
private struct SampleHistory: Sendable {
    private var buffer: [Int16]
    private var written = 0

    init(capacity: Int) { buffer = Array(repeating: 0, count: max(capacity, 1)) }

    /// Stream index of the oldest sample still held.
    var oldestIndex: Int { max(0, written - buffer.count) }

    mutating func append(_ samples: UnsafeBufferPointer<Int16>) {
        for sample in samples {
            buffer[written % buffer.count] = sample
            written += 1
        }
    }

    /// Samples from stream index `start` (≥ `oldestIndex`) to the newest.
    func samples(from start: Int) -> [Int16] {
        (start..<written).map { buffer[$0 % buffer.count] }
    }
}
