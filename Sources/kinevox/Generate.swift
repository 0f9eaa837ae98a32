import ArgumentParser
import Foundation
import KinevoxEngine
import KinevoxAudio
import KinevoxCapture
import KinevoxModel
import KinevoxMotion

extension MotionFormat: ExpressibleByArgument {}

/// `kinevox generate`: one spoken instruction (a WAV file) → one motion (docs: interfaces, CLI).
/// Exit status 2 for bad usage or unreadable audio, 3 when the model did not understand the instruction (no motion
/// unless `--force`), 1 for any other failure; the cause is one line on stderr, and `--output` is written
/// atomically, so a failure never leaves a half-written file.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate the motion for one spoken instruction in a WAV file.")

    @Option(help: "WAV file holding one spoken instruction (any rate, channels, 16-bit PCM or float).")
    var audio: String

    @Option(help: "Model file (.safetensors); default: the bundled model.")
    var model: String?

    @Option(parsing: .unconditional, help: "Sampling seed (≥ 0): the same seed and audio give the same motion.",
            transform: parseSeed)
    var seed: UInt64 = 0

    @Option(help: "Output format: json, npy (T×22×3), hml263 (T×263) or bvh.")
    var format: MotionFormat = .json

    @Option(help: "Output file; default: standard output.")
    var output: String?

    @Option(help: "CPU threads for inference.")
    var threads: Int = 2

    @Option(help: "Precision of the matrix products: fp32, or bf16 (AVX-512 BF16; fp32 on a CPU without it).")
    var precision: MatmulPrecision = .fp32

    @Flag(help: "Make a motion even when the model did not understand the instruction (otherwise exit status 3).")
    var force = false

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be 1–256") }
    }

    func run() throws {
        let samples: [Float]
        do {
            samples = try WAVFile.readMono(audio)
        } catch {
            let reason = "\(error)"
            throw Self.fail(status: 2, reason.contains(audio) ? reason : "\(audio): \(reason)")
        }
        guard !samples.isEmpty else { throw Self.fail(status: 2, "\(audio): the file holds no audio") }
        // The daemon's VAD, as for uploads: silence or noise would still make a motion, so it is refused first.
        guard try UtteranceSegmenter.containsSpeech(s16Samples(from: samples), config: VADConfig()) else {
            throw Self.fail(status: 2, "\(audio): no speech found (the VAD finds none in \(samples.count / 16) ms of audio)")
        }

        let bundled = BundledFile.defaultModel
        let modelPath = model ?? bundled.locate(configDirectory: nil) ?? bundled.candidates(configDirectory: nil)[0]
        let result: InstructionResult
        do {
            let instructionModel = try InstructionModel(path: modelPath, threads: threads, matmulPrecision: precision)
            result = try instructionModel.generate(samples: samples, seed: seed, force: force)
        } catch {
            let reason = "\(error)"
            throw Self.fail(status: 1, reason.contains(modelPath) ? reason : "model \(modelPath): \(reason)")
        }
        guard let motion = result.motion else {
            let nearest = result.understanding.map { String(format: "nearest action %@, confidence %.2f", $0.action, $0.confidence) } ?? ""
            throw Self.fail(status: 3, "\(audio): not understood (\(nearest)); say one of the supported actions, or --force to move anyway")
        }
        let timing = MotionTiming(audioEncoder: (result.timing.frontend + result.timing.audioEncoder) * 1000,
                                  generator: result.timing.generator * 1000,
                                  decoder: result.timing.decoder * 1000,
                                  total: result.timing.total * 1000)
        do {
            if let output {
                try MotionFile.write(motion, as: format, to: URL(fileURLWithPath: output), timing: timing)
            } else {
                FileHandle.standardOutput.write(try MotionFile.encode(motion, as: format, timing: timing))
            }
        } catch {
            throw Self.fail(status: 1, "\(error)")
        }
    }

    /// Reads `--seed`: a whole number ≥ 0 (a negative one would otherwise read as an option and be reported
    /// as "Missing value").
    static func parseSeed(_ text: String) throws -> UInt64 {
        guard let seed = UInt64(text) else {
            throw ValidationError("--seed must be a whole number ≥ 0, got \(text)")
        }
        return seed
    }

    /// Prints `message` as the one-line cause and returns the exit status to throw.
    private static func fail(status: Int32, _ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("kinevox generate: \(message.replacingOccurrences(of: "\n", with: " "))\n".utf8))
        return ExitCode(status)
    }
}
