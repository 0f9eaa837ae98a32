import Foundation
import XCTest
@testable import KinevoxEngine

/// The safetensors reader on bad files (one test per failure, each must be an error value naming the problem),
/// F16/BF16 widening, and state-dict binding errors.
final class SafetensorsTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kinevox-safetensors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try FileManager.default.removeItem(at: directory) }

    /// Writes `bytes` to a temporary file and returns its path.
    func file(_ bytes: [UInt8]) throws -> String {
        let url = directory.appendingPathComponent("\(UUID().uuidString).safetensors")
        try Data(bytes).write(to: url)
        return url.path
    }

    /// A safetensors file with `header` as its JSON and `dataBytes` zero bytes of data.
    func file(header: String, dataBytes: Int, declaredLength: UInt64? = nil) throws -> String {
        let json = Array(header.utf8)
        let length = declaredLength ?? UInt64(json.count)
        let prefix = (0 ..< 8).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) }
        return try file(prefix + json + [UInt8](repeating: 0, count: dataBytes))
    }

    func expectError(_ path: String, file: StaticString = #filePath, line: UInt = #line, _ match: (SafetensorsError) -> Bool) {
        XCTAssertThrowsError(try SafetensorsFile(path: path), file: file, line: line) { error in
            guard let error = error as? SafetensorsError else { return XCTFail("not a SafetensorsError: \(error)", file: file, line: line) }
            XCTAssertTrue(match(error), "unexpected error: \(error)", file: file, line: line)
            XCTAssertTrue(error.description.contains(path), "message should name the file: \(error)", file: file, line: line)
        }
    }

    func testTruncatedFile() throws {
        expectError(try file([1, 0, 0])) { if case .truncated(_, 3) = $0 { return true } else { return false } }
    }

    func testHeaderLengthPastEndOfFile() throws {
        expectError(try file(header: "{}", dataBytes: 0, declaredLength: 1000)) {
            if case .headerPastEndOfFile(_, 1000, 10) = $0 { return true } else { return false }
        }
    }

    func testInvalidJSON() throws {
        expectError(try file(header: "{\"a\": [1, 2", dataBytes: 0)) { if case .invalidHeader = $0 { return true } else { return false } }
        expectError(try file(header: "{\"a\": {\"dtype\": \"F32\"}}", dataBytes: 0)) {
            if case let .invalidHeader(_, reason) = $0 { return reason.contains("shape") } else { return false }
        }
    }

    func testUnknownDType() throws {
        let header = #"{"w": {"dtype": "F13", "shape": [2], "data_offsets": [0, 8]}}"#
        expectError(try file(header: header, dataBytes: 8)) {
            if case .unknownDType(_, "w", "F13") = $0 { return true } else { return false }
        }
    }

    func testOffsetsOutsideData() throws {
        let header = #"{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}"#
        expectError(try file(header: header, dataBytes: 8)) {
            if case .offsetsOutsideData(_, "w", 0, 16, 8) = $0 { return true } else { return false }
        }
        let reversed = #"{"w": {"dtype": "F32", "shape": [0], "data_offsets": [8, 4]}}"#
        expectError(try file(header: reversed, dataBytes: 8)) {
            if case .offsetsOutsideData(_, "w", 8, 4, 8) = $0 { return true } else { return false }
        }
    }

    func testOverlappingTensors() throws {
        let header = #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}"#
        expectError(try file(header: header, dataBytes: 12)) {
            if case .overlappingTensors(_, "a", "b") = $0 { return true } else { return false }
        }
    }

    func testShapeTimesDTypeSizeDiffersFromByteRange() throws {
        let header = #"{"w": {"dtype": "F16", "shape": [3, 2], "data_offsets": [0, 8]}}"#
        expectError(try file(header: header, dataBytes: 8)) {
            if case .sizeMismatch(_, "w", [3, 2], "F16", 12, 8) = $0 { return true } else { return false }
        }
    }

    func testMissingFileIsAnError() {
        expectError(directory.appendingPathComponent("absent.safetensors").path) {
            if case .cannotOpen = $0 { return true } else { return false }
        }
    }

    func testF16AndBF16WidenExactly() throws {
        let store = try WeightStore(path: Fixtures.path("dtypes.safetensors"))
        XCTAssertEqual(store.file!.entries["values.f16"]?.dtype, .f16)
        XCTAssertEqual(store.file!.entries["values.bf16"]?.dtype, .bf16)
        for name in ["values.f16", "values.bf16", "matrix.f16"] {
            let widened = try store.root.data(name).toArray()
            let reference = try store.root.data(name + ".f32").toArray()
            XCTAssertEqual(widened.map(\.bitPattern), reference.map(\.bitPattern), "\(name) must widen bit-exactly")
            if name.hasPrefix("values") {
                XCTAssertTrue(widened.contains(.infinity) && widened.contains(-.infinity), "infinities survive widening of \(name)")
            }
        }
        try store.root.finish()
    }

    func testBindingNamesMissingMisshapedAndExtraTensors() throws {
        let store = try Fixtures.layers()
        XCTAssertThrowsError(try Linear(store.scope("linear.layer"), inFeatures: 24, outFeatures: 41)) { error in
            XCTAssertEqual(error as? WeightBindingError,
                           .shapeMismatch(name: "linear.layer.weight", expected: [41, 24], found: [40, 24], path: store.path))
        }
        XCTAssertThrowsError(try Linear(store.scope("linear_nobias.layer"), inFeatures: 24, outFeatures: 40)) { error in
            XCTAssertEqual(error as? WeightBindingError, .missing(name: "linear_nobias.layer.bias", path: store.path))
        }
        let layerNorm = store.scope("layer_norm.layer")
        _ = try layerNorm.take("weight", shape: [32])
        XCTAssertThrowsError(try layerNorm.finish()) { error in
            XCTAssertEqual(error as? WeightBindingError, .unexpected(names: ["layer_norm.layer.bias"], path: store.path))
            XCTAssertTrue("\(error)".contains("layer_norm.layer.bias"))
        }
        XCTAssertThrowsError(try layerNorm.take("weight", shape: [32])) { error in
            XCTAssertEqual(error as? WeightBindingError, .takenTwice(name: "layer_norm.layer.weight", path: store.path))
        }
    }

    func testConfigSectionDecodesFromMetadata() throws {
        struct FixtureConfig: Decodable, Equatable {
            let dModel: Int, numHeads: Int
            enum CodingKeys: String, CodingKey { case dModel = "d_model", numHeads = "num_heads" }
        }
        let store = try Fixtures.layers()
        XCTAssertEqual(try store.config(FixtureConfig.self, section: "engine_fixture"), FixtureConfig(dModel: 32, numHeads: 4))
        XCTAssertThrowsError(try store.config(FixtureConfig.self, section: "rvq")) { error in
            XCTAssertEqual(error as? WeightBindingError, .missingConfig(section: "rvq", path: store.path))
        }
    }
}
