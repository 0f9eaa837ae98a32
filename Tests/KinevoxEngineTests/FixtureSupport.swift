import Foundation
import XCTest
@testable import KinevoxEngine

/// Locates the committed fixtures written by Training/kinevox_train/fixtures/engine.py.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/Engine")

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// A fresh store over layers.safetensors (each test binds its own case).
    static func layers() throws -> WeightStore { try WeightStore(path: path("layers.safetensors")) }
}

extension WeightScope {
    /// Takes a fixture tensor at whatever shape it is stored with.
    func data(_ name: String) throws -> Tensor { try take(name, shape: shape(of: name) ?? []) }
}

/// Relative error used by every parity test: max|actual − expected| / max(max|expected|, 1e-6).
/// Infinities must match exactly and are left out of the maximum.
func relativeError(_ actual: UnsafeBufferPointer<Float>, _ expected: UnsafeBufferPointer<Float>) -> Float {
    precondition(actual.count == expected.count)
    var diff: Float = 0, scale: Float = 1e-6
    for (a, b) in zip(actual, expected) {
        if b.isInfinite {
            if a != b { return .infinity }
            continue
        }
        if a.isNaN || b.isNaN { return .infinity }
        diff = max(diff, abs(a - b))
        scale = max(scale, abs(b))
    }
    return diff / scale
}

/// Asserts `actual` matches `expected` within `tolerance` relative error (see `relativeError`).
func assertClose(_ actual: TensorView, _ expected: Tensor, tolerance: Float = 1e-5, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "element count \(message)", file: file, line: line)
    guard actual.count == expected.count else { return }
    let error = relativeError(UnsafeBufferPointer(start: actual.data, count: actual.count),
                              UnsafeBufferPointer(start: expected.data, count: expected.count))
    XCTAssertLessThanOrEqual(error, tolerance, "relative error \(error) \(message)", file: file, line: line)
}
