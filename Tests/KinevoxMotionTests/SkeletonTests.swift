import XCTest
@testable import KinevoxMotion

final class SkeletonTests: XCTestCase {
    /// Every joint's parent comes before it, so one forward pass over the list is forward kinematics.
    func testParentsPrecedeChildren() {
        XCTAssertEqual(Skeleton.jointNames.count, Skeleton.jointCount)
        XCTAssertEqual(Skeleton.parents.count, Skeleton.jointCount)
        for (joint, parent) in Skeleton.parents.enumerated() where joint > 0 {
            XCTAssertLessThan(parent, joint)
        }
    }
}
