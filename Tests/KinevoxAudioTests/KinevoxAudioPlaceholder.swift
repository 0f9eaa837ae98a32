import XCTest
@testable import KinevoxAudio

/// Replaced by the module's real tests.
final class KinevoxAudioPlaceholder: XCTestCase {
    func testModuleLoads() {}
}
