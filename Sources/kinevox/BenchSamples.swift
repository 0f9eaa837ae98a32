import Foundation
import KinevoxAudio

/// One utterance that `kinevox bench` times: 16 kHz mono samples and where they came from.
struct BenchUtterance {
    /// File path, or the spoken text for a bundled sample.
    let name: String
    let samples: [Float]
    var seconds: Double { Double(samples.count) / 16_000 }
}

/// The bundled sample utterances: spoken instructions made with espeak-ng at bench time (nothing is committed),
/// padded with silence or cut to exactly 3 s and 6 s, cached under the user's cache directory.
enum BenchSamples {
    /// (spoken text, length in seconds) of each bundled sample.
    static let instructions: [(text: String, seconds: Int)] = [
        ("walk forward and wave with the right hand", 3),
        ("walk forward, turn around to the left, then jump twice and sit down on the floor slowly", 6),
    ]

    /// Reads each WAV at `paths` (any rate or channel count) as 16 kHz mono.
    static func load(paths: [String]) throws -> [BenchUtterance] {
        try paths.map { path in
            let samples: [Float]
            do {
                samples = try WAVFile.readMono(path)
            } catch {
                throw BenchFailure(status: 2, message: "\(path): \(error)")
            }
            guard !samples.isEmpty else { throw BenchFailure(status: 2, message: "\(path): the file holds no audio") }
            return BenchUtterance(name: path, samples: samples)
        }
    }

    /// `utterance` repeated (and cut) to exactly `seconds`: the longest utterance the bench plans for.
    static func tiled(_ utterance: BenchUtterance, seconds: Double) -> BenchUtterance {
        let count = Int(seconds * 16_000)
        let samples = (0 ..< count).map { utterance.samples[$0 % utterance.samples.count] }
        return BenchUtterance(name: String(format: "longest planned, %.0f s (first one tiled)", seconds), samples: samples)
    }

    /// The bundled samples, spoken with espeak-ng into `directory` on first use.
    static func bundled(directory: URL = cacheDirectory()) throws -> [BenchUtterance] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try instructions.enumerated().map { index, instruction in
            let wav = directory.appendingPathComponent("instruction\(index)-\(instruction.seconds)s.wav")
            if !FileManager.default.fileExists(atPath: wav.path) { try speak(instruction.text, to: wav) }
            var samples = try WAVFile.readMono(wav.path)
            let count = instruction.seconds * 16_000
            samples = Array(samples.prefix(count)) + [Float](repeating: 0, count: max(0, count - samples.count))
            return BenchUtterance(name: "\"\(instruction.text)\" (espeak-ng, \(instruction.seconds) s)", samples: samples)
        }
    }

    /// `$XDG_CACHE_HOME/kinevox/bench` (default `~/.cache/kinevox/bench`).
    static func cacheDirectory() -> URL {
        let environment = ProcessInfo.processInfo.environment
        let base = environment["XDG_CACHE_HOME"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
        return base.appendingPathComponent("kinevox/bench")
    }

    /// Runs espeak-ng (US English, 150 words/min) writing `text` to `wav`; the file appears only when complete.
    private static func speak(_ text: String, to wav: URL) throws {
        let partial = wav.appendingPathExtension("partial")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["espeak-ng", "-v", "en-us", "-s", "150", "-w", partial.path, text]
        do {
            try process.run()
        } catch {
            throw BenchFailure(status: 1, message: "cannot run espeak-ng to make the sample utterances (\(error)); install espeak-ng or pass --audio")
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BenchFailure(status: 1, message: "espeak-ng failed (status \(process.terminationStatus)) making \(wav.path)")
        }
        try FileManager.default.moveItem(at: partial, to: wav)
    }
}

/// A bench failure: the one-line cause and the exit status (2 bad usage or input, 1 anything else).
struct BenchFailure: Error, CustomStringConvertible {
    let status: Int32
    let message: String
    var description: String { message }
}
