import ArgumentParser
import Foundation
import KinevoxAudio
import KinevoxCapture

/// `kinevox vad`: runs the daemon's VAD and utterance segmenter on a recording and prints the
/// utterances it would cut. With `--realtime-capture` the file goes through the real ALSA capture
/// thread at real-time pace first (what the daemon does with `device = "file:…"`), and `--cpu`
/// reports the process's CPU use while listening.
struct Vad: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the utterances the daemon's VAD cuts from a recording.",
        discussion: """
        start_ms/end_ms are the detected speech; audio_start_ms/audio_end_ms the audio handed on \
        (with pre-roll and the trailing silence that closed the utterance).
        """)

    @Option(name: .long, help: "Recording to segment (WAV, any rate and channel count).")
    var audio: String

    @Flag(name: .long, help: "Print JSON: [{\"start_ms\":…, \"end_ms\":…, …}, …].")
    var json = false

    @Option(name: .long, help: "VAD settings as JSON with [vad] keys, e.g. '{\"hangover_ms\":500}'.")
    var vadConfig: String?

    @Flag(name: .long, help: "Feed the file through the ALSA capture thread at real-time pace.")
    var realtimeCapture = false

    @Option(name: .long, help: "With --realtime-capture: ALSA period in milliseconds ([capture] period_ms).")
    var periodMs = 20

    @Flag(name: .long, help: "With --realtime-capture: print CPU use while listening to stderr.")
    var cpu = false

    func run() throws {
        do {
            let config = try vadSettings()
            let (utterances, usage) = realtimeCapture ? try listen(config: config) : (try segmentFile(config: config), nil)
            print(render(utterances, sampleRate: config.sampleRate))
            if let usage, cpu {
                FileHandle.standardError.write(Data((usage.summary + "\n").utf8))
            }
        } catch let error as CaptureError {
            FileHandle.standardError.write(Data("kinevox vad: \(error.message)\n".utf8))
            throw ExitCode(2)
        } catch let error as AudioError {
            FileHandle.standardError.write(Data("kinevox vad: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    private func vadSettings() throws -> VADConfig {
        guard let vadConfig else { return VADConfig() }
        do {
            let config = try JSONDecoder().decode(VADConfig.self, from: Data(vadConfig.utf8))
            try config.validate()
            return config
        } catch let error as CaptureError {
            throw error
        } catch {
            throw CaptureError("--vad-config is not a JSON object of [vad] keys with numbers: \(vadConfig)")
        }
    }

    private func segmentFile(config: VADConfig) throws -> [Utterance] {
        try UtteranceSegmenter.utterances(in: try wavSampleDecoder(audio), config: config)
    }

    /// Captures through ALSA at real time and segments with the daemon's VAD loop (`UtteranceListener`).
    private func listen(config: VADConfig) throws -> ([Utterance], CPUUsage) {
        let samples = try wavSampleDecoder(audio)
        let capture = try AudioCapture(.init(source: .file(path: audio, pace: .realTime), periodMs: periodMs),
                                       decode: { _ in samples }, log: { event in
                                           if case .openFailed(let error, _) = event {
                                               FileHandle.standardError.write(Data("kinevox vad: \(error.message)\n".utf8))
                                           }
                                       })
        let listener = try UtteranceListener(capture: capture, config: config)
        var utterances: [Utterance] = []
        let meter = CPUUsage.Meter()
        listener.run { utterances.append($0) }
        return (utterances, meter.read())
    }

    private func render(_ utterances: [Utterance], sampleRate: Int) -> String {
        func ms(_ sample: Int) -> Int { Int((Double(sample) * 1000 / Double(sampleRate)).rounded()) }
        if json {
            let items = utterances.map { u in
                "{\"start_ms\":\(ms(u.speechStartSample)),\"end_ms\":\(ms(u.speechEndSample)),"
                    + "\"audio_start_ms\":\(ms(u.startSample)),\"audio_end_ms\":\(ms(u.endSample)),"
                    + "\"cut_at_maximum\":\(u.cutAtMaximum)}"
            }
            return "[" + items.joined(separator: ",") + "]"
        }
        if utterances.isEmpty { return "no utterances" }
        return utterances.map { u in
            "\(ms(u.speechStartSample)) ms – \(ms(u.speechEndSample)) ms (speech \(ms(u.speechEndSample - u.speechStartSample)) ms)"
                + (u.cutAtMaximum ? " [cut at maximum length]" : "")
        }.joined(separator: "\n")
    }
}

/// Process CPU time (all threads, user + system) over wall-clock time, from getrusage.
struct CPUUsage {
    var cpuSeconds: Double
    var wallSeconds: Double
    var percentOfOneCore: Double { wallSeconds > 0 ? 100 * cpuSeconds / wallSeconds : 0 }
    var summary: String {
        String(format: "cpu: %.3f s of CPU over %.2f s listening = %.3f%% of one core", cpuSeconds, wallSeconds, percentOfOneCore)
    }

    /// Starts measuring at creation.
    struct Meter {
        private let startCPU = Meter.processCPUSeconds()
        private let startWall = Date()

        func read() -> CPUUsage {
            CPUUsage(cpuSeconds: Meter.processCPUSeconds() - startCPU, wallSeconds: Date().timeIntervalSince(startWall))
        }

        private static func processCPUSeconds() -> Double {
            var usage = rusage()
            getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
            func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
            return seconds(usage.ru_utime) + seconds(usage.ru_stime)
        }
    }
}
