import XCTest
@testable import KinevoxCapture

/// Replaced by the module's real tests.
final class KinevoxCapturePlaceholder: XCTestCase {
    func testModuleLoads() {}
}
