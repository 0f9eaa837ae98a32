import KinevoxModel
import XCTest

final class BundledFileTests: XCTestCase {
    /// A binary built in the repository finds the repository's copy first, from `.build` and from the Makefile's
    /// other build folders (`make test-tsan` starts kinevoxd from `.build-thread-release/…/release`).
    func testBinaryInABuildFolderLooksInItsRepositoryFirst() {
        for binary in ["/repo/.build/x86_64-unknown-linux-gnu/debug/kinevoxd",
                       "/repo/.build-thread-release/x86_64-unknown-linux-gnu/release/kinevoxd",
                       "/repo/.build-address/debug/kinevoxd"] {
            let candidates = BundledFile.viewer.candidates(configDirectory: nil, executablePath: binary)
            XCTAssertEqual(candidates.first, "/repo/Sources/KinevoxServer/Viewer", binary)
        }
    }

    /// An installed binary looks under its prefix's share folder, then the system's.
    func testInstalledBinaryLooksUnderItsPrefix() {
        let candidates = BundledFile.viewer.candidates(configDirectory: nil, executablePath: "/opt/kv/bin/kinevoxd")
        XCTAssertEqual(candidates, ["/opt/kv/share/kinevox/viewer", "/usr/local/share/kinevox/viewer",
                                    "/usr/share/kinevox/viewer"])
    }
}
