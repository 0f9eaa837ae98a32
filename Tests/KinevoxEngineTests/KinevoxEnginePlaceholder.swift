import XCTest
@testable import KinevoxEngine

/// Replaced by the module's real tests.
final class KinevoxEnginePlaceholder: XCTestCase {
    func testModuleLoads() {}
}
