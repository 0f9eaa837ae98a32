import XCTest
@testable import KinevoxServer

/// Replaced by the module's real tests.
final class KinevoxServerPlaceholder: XCTestCase {
    func testModuleLoads() {}
}
