import Foundation
@testable import KinevoxMotion

/// Where the tests find committed fixtures and the shared reference data (relative to this file).
enum TestData {
    /// The repository root (two folders above Tests/KinevoxMotionTests).
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    /// Tests/Fixtures/Motion.
    static let fixtures = repoRoot.appendingPathComponent("Tests/Fixtures/Motion")
    /// ../shared/data/humanml3d beside the repository.
    static let humanML3D = repoRoot.appendingPathComponent("../shared/data/humanml3d").standardizedFileURL

    static func fixture(_ name: String) throws -> NumpyArray {
        try NumpyArray(contentsOf: fixtures.appendingPathComponent(name))
    }

    static func shared(_ name: String) throws -> NumpyArray {
        try NumpyArray(contentsOf: humanML3D.appendingPathComponent(name))
    }
}
