import Foundation
import KinevoxEngine
import XCTest
@testable import KinevoxSpeech

/// Locates the committed fixtures written by Training/kinevox_train/fixtures/speech.py, and the
/// speech_embedding weights converted on demand from the installed openwakeword package.
enum SpeechFixtures {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let directory = repository.appendingPathComponent("Tests/Fixtures/Speech")

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    static func store(_ name: String) throws -> WeightStore { try WeightStore(path: path(name)) }

    /// The speech_embedding front end converted by the committed converter
    /// (`python -m kinevox_train.frontends.convert_speech_embedding`), once per test run.
    static func speechEmbeddingModel() throws -> String {
        try convertedModel.get()
    }

    private static let convertedModel: Result<String, Error> = Result {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("kinevox-speech-embedding-\(getpid()).safetensors").path
        let python = repository.appendingPathComponent(".venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw ConversionFailed(message: "no Python venv at \(python); run `make venv` first")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-m", "kinevox_train.frontends.convert_speech_embedding", out]
        process.currentDirectoryURL = repository.appendingPathComponent("Training")
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ConversionFailed(message: "convert_speech_embedding exited with status \(process.terminationStatus)")
        }
        return out
    }

    struct ConversionFailed: Error, CustomStringConvertible { let message: String; var description: String { message } }
}

extension WeightStore {
    /// A fixture tensor at whatever shape it is stored with.
    func fixture(_ name: String) throws -> Tensor { try root.take(name, shape: root.shape(of: name) ?? []) }
}

/// Max |a − b| over two equally long float sequences (infinity when lengths differ or a NaN appears).
func maxAbsDifference<A: Collection, B: Collection>(_ a: A, _ b: B) -> Float where A.Element == Float, B.Element == Float {
    guard a.count == b.count else { return .infinity }
    var worst: Float = 0
    for (x, y) in zip(a, b) {
        if x.isNaN || y.isNaN { return .infinity }
        worst = max(worst, abs(x - y))
    }
    return worst
}

extension SpeechFrontEnd {
    /// `featureView` copied out as a `FeatureSequence`, its arena space given back.
    func features(_ samples: [Float], arena: ScratchArena = ScratchArena()) -> FeatureSequence {
        let mark = arena.mark()
        defer { arena.release(to: mark) }
        return FeatureSequence(featureView(of: samples, arena: arena))
    }
}
