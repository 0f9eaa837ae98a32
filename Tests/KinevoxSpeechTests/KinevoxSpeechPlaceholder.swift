import XCTest
@testable import KinevoxSpeech

/// Replaced by the module's real tests.
final class KinevoxSpeechPlaceholder: XCTestCase {
    func testModuleLoads() {}
}
