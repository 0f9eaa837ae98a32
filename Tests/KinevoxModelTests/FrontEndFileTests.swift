import Foundation
import KinevoxEngine
import KinevoxSpeech
import XCTest
@testable import KinevoxModel

/// A model's `frontend` section naming a front-end file: the file is found beside the model, its sha256 checked,
/// its `output_layer` overridable; a missing or different file is a one-line error naming both files.
final class FrontEndFileTests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let tinyWhisper = repository.appendingPathComponent("Tests/Fixtures/Speech/whisper_a_tiny.safetensors")
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kinevox-frontend-file-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Self.tinyWhisper, to: directory.appendingPathComponent("whisper.safetensors"))
    }

    override func tearDownWithError() throws { try FileManager.default.removeItem(at: directory) }

    /// A tensor-less model file whose only config is `frontend` (what the loader reads before the other parts).
    func model(frontend: [String: Any]) throws -> WeightStore {
        let config = String(data: try JSONSerialization.data(withJSONObject: ["frontend": frontend]), encoding: .utf8)!
        let header = try JSONSerialization.data(withJSONObject: ["__metadata__": [WeightStore.configKey: config]])
        let length = (0 ..< 8).map { UInt8(truncatingIfNeeded: header.count >> (8 * $0)) }
        let url = directory.appendingPathComponent("model.safetensors")
        try (Data(length) + header).write(to: url)
        return try WeightStore(path: url.path)
    }

    func testSHA256IsTheFileDigest() throws {
        // Digest of the committed encoder as recorded beside it (and checked by pytest with hashlib).
        let encoder = Self.repository.appendingPathComponent("Models/whisper-base-encoder.safetensors")
        let recorded = try String(contentsOf: encoder.appendingPathExtension("sha256"), encoding: .utf8).split(separator: " ")[0]
        XCTAssertEqual(try FrontEndFile.sha256Hex(ofFileAt: encoder.path), String(recorded))
        let empty = directory.appendingPathComponent("empty")
        try Data().write(to: empty)
        XCTAssertEqual(try FrontEndFile.sha256Hex(ofFileAt: empty.path), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    func testNamedFileIsLoadedWithItsOutputLayer() throws {
        let digest = try FrontEndFile.sha256Hex(ofFileAt: Self.tinyWhisper.path)
        let store = try model(frontend: ["kind": "whisper", "file": "whisper.safetensors", "sha256": digest, "output_layer": 1])
        let frontEnd = try XCTUnwrap(try FrontEndFile.loadFrontEnd(of: store, matmulPrecision: .fp32) as? Whisper)
        XCTAssertEqual(frontEnd.config.outputLayer, 1)
        XCTAssertEqual(frontEnd.config.nLayers, 2)
    }

    func testMissingFileIsOneLineNamingBoth() throws {
        let store = try model(frontend: ["kind": "whisper", "file": "gone.safetensors", "sha256": String(repeating: "0", count: 64)])
        XCTAssertThrowsError(try FrontEndFile.loadFrontEnd(of: store, matmulPrecision: .fp32)) { error in
            XCTAssertEqual(error as? FrontEndFileError, .missing(file: self.directory.appendingPathComponent("gone.safetensors").path,
                                                                 model: store.path))
            XCTAssertFalse("\(error)".contains("\n"))
        }
    }

    func testDifferentFileIsOneLineNamingBothDigests() throws {
        let store = try model(frontend: ["kind": "whisper", "file": "whisper.safetensors", "sha256": String(repeating: "ab", count: 32)])
        XCTAssertThrowsError(try FrontEndFile.loadFrontEnd(of: store, matmulPrecision: .fp32)) { error in
            guard case let .different(file, expected, found, modelPath) = error as? FrontEndFileError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, self.directory.appendingPathComponent("whisper.safetensors").path)
            XCTAssertEqual(expected, String(repeating: "ab", count: 32))
            XCTAssertEqual(found, try? FrontEndFile.sha256Hex(ofFileAt: Self.tinyWhisper.path))
            XCTAssertEqual(modelPath, store.path)
            XCTAssertTrue("\(error)".contains(file) && "\(error)".contains(modelPath))
        }
    }
}
