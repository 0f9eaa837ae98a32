import Foundation
import XCTest
@testable import KinevoxCapture

/// Builds synthetic 16 kHz test signals from a seeded generator (no fixtures needed).
struct SignalBuilder {
    static let rate = 16_000
    private(set) var samples: [Double]
    private var state: UInt64

    init(seconds: Double, seed: UInt64 = 1) {
        samples = Array(repeating: 0, count: Int(seconds * Double(Self.rate)))
        state = seed
    }

    private mutating func uniform() -> Double {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Double(state >> 11) / Double(1 << 53)
    }

    /// Gaussian white noise at `dbfs` RMS over the whole signal or a span (seconds).
    mutating func addNoise(dbfs: Double, from start: Double = 0, to end: Double? = nil) {
        let rms = 32_768 * pow(10, dbfs / 20)
        for i in range(start, end) {
            let u1 = max(uniform(), 1e-12), u2 = uniform()
            samples[i] += rms * sqrt(-2 * log(u1)) * cos(2 * .pi * u2)
        }
    }

    /// A voiced, vowel-like burst: a 140 Hz harmonic series (10 harmonics, 1/k amplitudes) with a
    /// 4 Hz syllable modulation of `depth` (0 = steady; speech rises and falls with its syllables, and a
    /// level steady for `noise_recovery_ms` is taken for noise) and 10 ms ramps, at `dbfs` peak-section RMS.
    mutating func addVoiced(dbfs: Double, from start: Double, to end: Double, depth: Double = 0.8) {
        let harmonicPower: Double = (1...10).map { (k: Int) -> Double in 1 / Double(k * k) }.reduce(0, +)
        let norm = (harmonicPower / 2).squareRoot()
        let gain = 32_768 * pow(10, dbfs / 20) / norm
        let span = range(start, end)
        for i in span {
            let t = Double(i) / Double(Self.rate)
            var v = 0.0
            for k in 1...10 { v += sin(2 * .pi * 140 * Double(k) * t) / Double(k) }
            let rampIn: Double = Double(i - span.lowerBound) / 160
            let rampOut: Double = Double(span.upperBound - 1 - i) / 160
            let ramp = min(1, rampIn, rampOut)
            let syllable: Double = 1 - depth * 0.5 * (1 + cos(2 * .pi * 4 * t))
            samples[i] += gain * v * ramp * syllable
        }
    }

    /// A pure tone at `dbfs` RMS.
    mutating func addTone(hz: Double, dbfs: Double, from start: Double = 0, to end: Double? = nil) {
        let amplitude = 32_768 * pow(10, dbfs / 20) * sqrt(2)
        for i in range(start, end) { samples[i] += amplitude * sin(2 * .pi * hz * Double(i) / Double(Self.rate)) }
    }

    mutating func addDC(_ value: Double) { samples = samples.map { $0 + value } }
    mutating func scale(_ factor: Double) { samples = samples.map { $0 * factor } }

    /// The signal as 16-bit PCM, clipped at full scale.
    var pcm: [Int16] { samples.map { Int16(max(-32_768, min(32_767, $0.rounded()))) } }

    private func range(_ start: Double, _ end: Double?) -> Range<Int> {
        let lower = Int(start * Double(Self.rate))
        let upper = min(samples.count, end.map { Int($0 * Double(Self.rate)) } ?? samples.count)
        return lower..<upper
    }
}

final class UtteranceSegmenterTests: XCTestCase {
    private let rate = Double(SignalBuilder.rate)

    private func segment(_ pcm: [Int16], _ config: VADConfig = VADConfig()) throws -> [Utterance] {
        try UtteranceSegmenter.utterances(in: pcm, config: config)
    }

    private func seconds(_ sample: Int) -> Double { Double(sample) / rate }

    /// Asserts utterances' speech spans match `expected` (seconds) within `tolerance` seconds.
    private func assertSpeech(_ utterances: [Utterance], _ expected: [(Double, Double)], tolerance: Double = 0.03,
                              file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(utterances.count, expected.count,
                       "\(utterances.map { (seconds($0.speechStartSample), seconds($0.speechEndSample)) })", file: file, line: line)
        for (u, e) in zip(utterances, expected) {
            XCTAssertEqual(seconds(u.speechStartSample), e.0, accuracy: tolerance, "start", file: file, line: line)
            XCTAssertEqual(seconds(u.speechEndSample), e.1, accuracy: tolerance, "end", file: file, line: line)
        }
    }

    private let bursts: [(Double, Double)] = [(1.0, 2.2), (3.5, 4.0), (6.0, 8.5)]

    private func burstSignal(seed: UInt64 = 1) -> SignalBuilder {
        var signal = SignalBuilder(seconds: 10, seed: seed)
        signal.addNoise(dbfs: -50)
        for (start, end) in bursts { signal.addVoiced(dbfs: -20, from: start, to: end) }
        return signal
    }

    func testQuietNoiseAloneGivesNoUtterances() throws {
        var signal = SignalBuilder(seconds: 10)
        signal.addNoise(dbfs: -60)
        assertSpeech(try segment(signal.pcm), [])
    }

    func testAllZeroAndEmptyInputGiveNoUtterances() throws {
        var segmenter = try UtteranceSegmenter(config: VADConfig())
        XCTAssertTrue(segmenter.push([Int16](repeating: 0, count: 16_000 * 5)).isEmpty)
        XCTAssertTrue(segmenter.finish().isEmpty)
        XCTAssertEqual(segmenter.noiseFloorDB, -120)
        XCTAssertTrue(try segment([]).isEmpty)
        XCTAssertTrue(try segment([1, -1, 3]).isEmpty)
    }

    func testVoicedBurstsAreCutAtTheirBoundaries() throws {
        let utterances = try segment(burstSignal().pcm)
        assertSpeech(utterances, bursts)
        let config = VADConfig()
        for u in utterances {
            XCTAssertEqual(u.speechStartSample - u.startSample, config.preRollMs * 16, "pre-roll")
            XCTAssertEqual(seconds(u.endSample - u.speechEndSample), Double(config.hangoverMs) / 1000, accuracy: 0.011, "hangover")
            XCTAssertFalse(u.cutAtMaximum)
        }
    }

    func testUtteranceAudioIsTheStreamItself() throws {
        let pcm = burstSignal().pcm
        for u in try segment(pcm) {
            XCTAssertTrue(u.samples == Array(pcm[u.startSample..<u.endSample]), "audio of the utterance at \(u.startSample)")
        }
    }

    func testChunkSizesDoNotChangeTheResult() throws {
        let pcm = burstSignal(seed: 7).pcm
        let whole = try segment(pcm)
        var segmenter = try UtteranceSegmenter(config: VADConfig())
        var chunked: [Utterance] = []
        var index = 0
        var size = 1
        while index < pcm.count {
            let end = min(pcm.count, index + size)
            chunked += segmenter.push(Array(pcm[index..<end]))
            index = end
            size = size * 7 % 997 + 1
        }
        chunked += segmenter.finish()
        XCTAssertTrue(chunked == whole, "chunked input changed the utterances")
        XCTAssertEqual(whole.count, 3)
    }

    func testShortBurstsAndHissBurstsAreRejected() throws {
        var signal = SignalBuilder(seconds: 8)
        signal.addNoise(dbfs: -50)
        signal.addVoiced(dbfs: -20, from: 1.0, to: 1.15)      // a 150 ms knock: shorter than min_utterance_ms
        signal.addNoise(dbfs: -20, from: 3.0, to: 4.0)         // 1 s of hiss: loud but not voiced
        signal.addNoise(dbfs: -15, from: 5.5, to: 5.52)        // a click
        assertSpeech(try segment(signal.pcm), [])
    }

    func testSteadyHumBecomesTheFloorAndSpeechAboveItIsFound() throws {
        var signal = SignalBuilder(seconds: 10)
        signal.addNoise(dbfs: -55)
        signal.addTone(hz: 50, dbfs: -35)
        signal.addTone(hz: 1_000, dbfs: -40)
        signal.addVoiced(dbfs: -15, from: 5.0, to: 6.5)
        assertSpeech(try segment(signal.pcm), [(5.0, 6.5)])
    }

    func testToneBurstsCountAsVoicedSound() throws {
        var signal = SignalBuilder(seconds: 6)
        signal.addNoise(dbfs: -55)
        signal.addTone(hz: 440, dbfs: -25, from: 2.0, to: 3.0)
        assertSpeech(try segment(signal.pcm), [(2.0, 3.0)])
    }

    func testDCOffsetDoesNotChangeTheCuts() throws {
        var offset = burstSignal()
        offset.addDC(12_000)
        assertSpeech(try segment(offset.pcm), bursts)
        var negative = burstSignal()
        negative.addDC(-20_000)
        assertSpeech(try segment(negative.pcm), bursts)
    }

    func testClippedSpeechIsCutLikeClean() throws {
        var clipped = burstSignal()
        clipped.scale(40) // bursts peak far beyond full scale; the noise sits at -18 dBFS
        assertSpeech(try segment(clipped.pcm), bursts)
    }

    func testContinuousSpeechIsCutAtTheMaximumWithoutLosingSamples() throws {
        var signal = SignalBuilder(seconds: 32)
        signal.addNoise(dbfs: -55)
        signal.addVoiced(dbfs: -20, from: 1.0, to: 31.0, depth: 0.9)
        let utterances = try segment(signal.pcm)
        let config = VADConfig()
        XCTAssertGreaterThanOrEqual(utterances.count, 4)
        for u in utterances {
            XCTAssertLessThanOrEqual(u.samples.count, config.maxUtteranceMs * 16)
        }
        for (a, b) in zip(utterances, utterances.dropFirst()) {
            XCTAssertTrue(a.cutAtMaximum)
            XCTAssertEqual(b.startSample, a.endSample, "the next utterance starts where the cut was")
            XCTAssertEqual(b.speechStartSample, a.speechEndSample)
        }
        XCTAssertEqual(seconds(utterances.first!.speechStartSample), 1.0, accuracy: 0.05)
        XCTAssertEqual(seconds(utterances.last!.speechEndSample), 31.0, accuracy: 0.05)
        XCTAssertFalse(utterances.last!.cutAtMaximum)
    }

    func testHangoverBridgesShortPausesOnly() throws {
        var signal = SignalBuilder(seconds: 8)
        signal.addNoise(dbfs: -50)
        signal.addVoiced(dbfs: -20, from: 1.0, to: 2.0)
        signal.addVoiced(dbfs: -20, from: 2.3, to: 3.0)   // 300 ms pause: same utterance
        signal.addVoiced(dbfs: -20, from: 4.0, to: 5.0)   // 1 s pause: a new one
        assertSpeech(try segment(signal.pcm), [(1.0, 3.0), (4.0, 5.0)])
    }

    func testFaintVoicesAfterALoudCommandDoNotStretchIt() throws {
        var signal = SignalBuilder(seconds: 6)
        signal.addNoise(dbfs: -65)
        signal.addVoiced(dbfs: -12, from: 1.0, to: 2.0)
        signal.addVoiced(dbfs: -50, from: 2.1, to: 2.4)   // 38 dB down: background, not the speaker
        assertSpeech(try segment(signal.pcm), [(1.0, 2.0)])
        var config = VADConfig()
        config.speechRangeDB = 60
        assertSpeech(try segment(signal.pcm, config), [(1.0, 2.4)])
    }

    func testNoiseFloorFallsWithinASecondWhenTheNoiseStops() throws {
        for quiet in [nil, -75.0] as [Double?] {  // digital silence, or a much quieter room
            var signal = SignalBuilder(seconds: 9)
            signal.addNoise(dbfs: -35, to: 4.0)
            if let quiet { signal.addNoise(dbfs: quiet, from: 4.0) }
            signal.addVoiced(dbfs: -45, from: 5.1, to: 6.0)   // 10 dB under the old noise, 1.1 s after it stopped
            signal.addVoiced(dbfs: -45, from: 7.0, to: 8.0)
            assertSpeech(try segment(signal.pcm), [(5.1, 6.0), (7.0, 8.0)], tolerance: 0.05)
        }
    }

    func testSteadyNoiseThatStartsSuddenlyBecomesTheFloorWithinASecond() throws {
        var signal = SignalBuilder(seconds: 10)
        signal.addNoise(dbfs: -70)
        signal.addNoise(dbfs: -35, from: 2.0)                 // a fan starts: 35 dB louder, steady hiss
        signal.addVoiced(dbfs: -15, from: 3.5, to: 4.5)
        let utterances = try segment(signal.pcm)
        // The hiss step itself is unvoiced and dropped; the command 1.5 s after it is cut at its own speech.
        assertSpeech(utterances, [(3.5, 4.5)], tolerance: 0.05)
    }

    /// Two voiced parts, 1.0–2.0 s and 2.3–3.0 s (a 300 ms pause inside the hangover), in noise at −50 dBFS.
    private func commandWithAPause() -> SignalBuilder {
        var signal = SignalBuilder(seconds: 5)
        signal.addNoise(dbfs: -50)
        signal.addVoiced(dbfs: -20, from: 1.0, to: 2.0)
        signal.addVoiced(dbfs: -20, from: 2.3, to: 3.0)
        return signal
    }

    /// Early endpointing events: a 300 ms pause inside an utterance gives pause, pauseHeld and resumed; the end
    /// gives pause, pauseHeld and (at the hangover) the closed utterance, whose speech the last pause already held.
    func testPausesAreReportedBeforeTheHangoverClosesTheUtterance() throws {
        let signal = commandWithAPause()
        var segmenter = try UtteranceSegmenter(config: VADConfig())
        let events = signal.pcm.withUnsafeBufferPointer { segmenter.pushEvents($0) }
        let kinds = events.map { event -> String in
            switch event {
            case .pause: return "pause"
            case .pauseHeld: return "held"
            case .resumed: return "resumed"
            case .closed: return "closed"
            }
        }
        XCTAssertEqual(kinds, ["pause", "held", "resumed", "pause", "held", "closed"])
        guard case .pause(let atPause) = events[0], case .pause(let atEnd) = events[3], case .closed(let closed) = events[5] else {
            return XCTFail("\(kinds)")
        }
        XCTAssertEqual(seconds(atPause.speechEndSample), 2.0, accuracy: 0.03)
        XCTAssertEqual(seconds(atPause.endSample - atPause.speechEndSample), 0.15, accuracy: 0.011, "early_end_ms after the speech")
        XCTAssertEqual(atEnd.speechEndSample, closed.speechEndSample)
        XCTAssertEqual(atEnd.startSample, closed.startSample)
        XCTAssertTrue(atEnd.samples == Array(closed.samples.prefix(atEnd.samples.count)), "the pause's audio is the start of the utterance")
        var off = VADConfig()
        off.earlyEndMs = 0
        var plain = try UtteranceSegmenter(config: off)
        XCTAssertEqual(signal.pcm.withUnsafeBufferPointer { plain.pushEvents($0) }.count, 1, "early_end_ms = 0: only the closed utterance")
    }

    func testEndingEarlyStartsANewUtteranceWithTheNextSpeech() throws {
        let signal = commandWithAPause()
        var segmenter = try UtteranceSegmenter(config: VADConfig())
        var closed: [Utterance] = []
        var pauses: [Utterance] = []
        let pcm = signal.pcm
        for start in stride(from: 0, to: pcm.count, by: 160) {
            for event in pcm[start..<min(pcm.count, start + 160)].withUnsafeBufferPointer({ segmenter.pushEvents($0) }) {
                switch event {
                case .pause(let u): pauses.append(u)
                case .pauseHeld: segmenter.endEarly()  // the daemon played it at the pause
                case .closed(let u): closed.append(u)
                case .resumed: XCTFail("speech after an early end opens a new utterance, it does not resume the old one")
                }
            }
        }
        XCTAssertEqual(closed.count, 0, "both parts were played at their pauses")
        XCTAssertEqual(pauses.count, 2)
        XCTAssertEqual(seconds(pauses[1].speechStartSample), 2.3, accuracy: 0.03)
        XCTAssertGreaterThanOrEqual(pauses[1].startSample, pauses[0].endSample + 160 * 5, "no audio of the played part again")
        var config = VADConfig()
        config.earlyEndMs = 0
        assertSpeech(try segment(pcm, config), [(1.0, 3.0)])
    }

    func testQuietOnsetBeforeTheLoudPartIsKept() throws {
        var signal = SignalBuilder(seconds: 5)
        signal.addNoise(dbfs: -50)
        signal.addVoiced(dbfs: -44, from: 1.0, to: 1.15, depth: 0)  // 6 dB over the noise: below start, above stop
        signal.addVoiced(dbfs: -20, from: 1.15, to: 2.0)
        assertSpeech(try segment(signal.pcm), [(1.0, 2.0)])
    }
}

final class VADConfigTests: XCTestCase {
    func testSnakeCaseKeysOverrideDefaults() throws {
        let json = #"{"hangover_ms": 550, "start_threshold_db": 10.5, "pre_roll_ms": 200}"#
        let config = try JSONDecoder().decode(VADConfig.self, from: Data(json.utf8))
        var expected = VADConfig()
        expected.hangoverMs = 550
        expected.startThresholdDB = 10.5
        expected.preRollMs = 200
        XCTAssertEqual(config, expected)
        let roundTrip = try JSONDecoder().decode(VADConfig.self, from: JSONEncoder().encode(config))
        XCTAssertEqual(roundTrip, config)
    }

    func testInvalidSettingsNameTheKey() {
        var early = VADConfig()
        early.earlyEndMs = 350
        XCTAssertThrowsError(try early.validate()) { error in
            XCTAssertTrue("\(error)".contains("early_end_ms"), "\(error)")
        }
        var config = VADConfig()
        config.stopThresholdDB = 12
        XCTAssertThrowsError(try UtteranceSegmenter(config: config)) { error in
            XCTAssertTrue((error as? CaptureError)?.message.contains("stop_threshold_db") == true, "\(error)")
        }
        config = VADConfig()
        config.maxUtteranceMs = 200
        XCTAssertThrowsError(try config.validate()) { error in
            XCTAssertTrue("\(error)".contains("max_utterance_ms"), "\(error)")
        }
    }
}
