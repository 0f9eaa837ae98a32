import XCTest
@testable import KinevoxMotion

/// A BVH file read back independently of the writer: hierarchy, channels, frames, and forward
/// kinematics that composes each joint's channel rotations in the order the file lists them. A joint's
/// position channels are its local position (they replace its OFFSET), as Blender's importer reads them.
private struct ParsedBVH {
    struct Joint {
        var name: String
        var parent: Int
        var offset: [Double]
        var channels: [String]
    }

    var joints: [Joint] = []
    var frames: [[Double]] = []
    var frameTime = 0.0

    init(_ text: String) throws {
        let tokens = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).map(String.init)
        var index = 0
        var stack: [Int] = []
        var inEndSite = false
        func next() -> String { defer { index += 1 }; return tokens[index] }
        while index < tokens.count {
            let token = next()
            switch token {
            case "ROOT", "JOINT":
                joints.append(Joint(name: next(), parent: stack.last ?? -1, offset: [], channels: []))
            case "End":
                _ = next()
                inEndSite = true
            case "{":
                if !inEndSite { stack.append(joints.count - 1) }
            case "}":
                if inEndSite { inEndSite = false } else { stack.removeLast() }
            case "OFFSET":
                let offset = [Double(next())!, Double(next())!, Double(next())!]
                if !inEndSite { joints[joints.count - 1].offset = offset }
            case "CHANNELS":
                let count = Int(next())!
                joints[joints.count - 1].channels = (0..<count).map { _ in next() }
            case "MOTION":
                _ = next()
                let frameCount = Int(next())!
                _ = next(); _ = next()
                frameTime = Double(next())!
                let width = joints.reduce(0) { $0 + $1.channels.count }
                for _ in 0..<frameCount { frames.append((0..<width).map { _ in Double(next())! }) }
            case "HIERARCHY":
                break
            default:
                throw MotionError("unexpected BVH token \(token)")
            }
        }
    }

    /// World positions of every joint in one frame, in file order.
    func positions(frame: Int) -> [[Double]] {
        var values = frames[frame][...]
        var world: [(rotation: [[Double]], position: [Double])] = []
        for joint in joints {
            var position = joint.channels.contains { $0.hasSuffix("position") } ? [0, 0, 0] : joint.offset
            var rotation: [[Double]] = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
            for channel in joint.channels {
                let value = values.removeFirst()
                let angle = value * .pi / 180
                let (c, s) = (cos(angle), sin(angle))
                switch channel {
                case "Xposition": position[0] += value
                case "Yposition": position[1] += value
                case "Zposition": position[2] += value
                case "Xrotation": rotation = multiply(rotation, [[1, 0, 0], [0, c, -s], [0, s, c]])
                case "Yrotation": rotation = multiply(rotation, [[c, 0, s], [0, 1, 0], [-s, 0, c]])
                case "Zrotation": rotation = multiply(rotation, [[c, -s, 0], [s, c, 0], [0, 0, 1]])
                default: XCTFail("unknown channel \(channel)")
                }
            }
            if joint.parent < 0 {
                world.append((rotation, position))
            } else {
                let parent = world[joint.parent]
                let moved = (0..<3).map { i in parent.position[i] + (0..<3).reduce(0) { $0 + parent.rotation[i][$1] * position[$1] } }
                world.append((multiply(parent.rotation, rotation), moved))
            }
        }
        return world.map(\.position)
    }

    /// The largest per-axis distance (metres) between the file's forward kinematics and `joints` (T × 22 × 3).
    func worstError(against joints: [Float]) -> Double {
        var worst = 0.0
        for frame in 0..<frames.count {
            let posed = positions(frame: frame)
            for (fileIndex, joint) in self.joints.enumerated() {
                let smpl = BVHAnimation.jointNames.firstIndex(of: joint.name)!
                for axis in 0..<3 {
                    worst = max(worst, abs(posed[fileIndex][axis] - Double(joints[frame * 66 + smpl * 3 + axis])))
                }
            }
        }
        return worst
    }

    private func multiply(_ a: [[Double]], _ b: [[Double]]) -> [[Double]] {
        (0..<3).map { i in (0..<3).map { j in (0..<3).reduce(0) { $0 + a[i][$1] * b[$1][j] } } }
    }
}

final class BVHExportTests: XCTestCase {
    /// Forward kinematics of the exported BVH of HumanML3D clip 012314 gives its joints back
    /// within 1 cm at every joint of every frame.
    func testRoundTripReproducesJointsWithinOneCentimetre() throws {
        let joints = try TestData.shared("new_joints_012314.npy").scalars
        let text = try BVHAnimation(joints: joints).text()
        let bvh = try ParsedBVH(text)
        XCTAssertEqual(bvh.joints.count, 22)
        XCTAssertEqual(bvh.frames.count, 170)
        XCTAssertEqual(bvh.frameTime, 0.05, accuracy: 1e-9)
        let worst = bvh.worstError(against: joints)
        XCTAssertLessThan(worst, 0.01, "worst joint error \(worst) m")
    }

    /// Generated joints do not keep their bone lengths (a generated wave's bones vary by σ up to 4 cm);
    /// rotations on fixed offsets alone then miss the wrist by centimetres. The position channels carry
    /// the lengths: the round trip of a clip whose bones stretch by ±10 % stays within 0.1 mm.
    func testRoundTripOfAClipWhoseBonesChangeLength() throws {
        let joints = TestData.stretchingBones(try TestData.shared("new_joints_012314.npy").scalars)
        let worst = try ParsedBVH(try BVHAnimation(joints: joints).text()).worstError(against: joints)
        XCTAssertLessThan(worst, 1e-4, "worst joint error \(worst) m")
    }

    /// The hierarchy is the SMPL tree: every BVH joint's parent is its SMPL parent, and the rest
    /// pose is a T-pose (left arm along +X, right along −X, legs down).
    func testHierarchyIsSMPLTreeInTPose() throws {
        let joints = try TestData.shared("new_joints_012314.npy").scalars
        let bvh = try ParsedBVH(try BVHAnimation(joints: joints).text())
        for joint in bvh.joints where joint.parent >= 0 {
            let smpl = BVHAnimation.jointNames.firstIndex(of: joint.name)!
            let parent = BVHAnimation.jointNames.firstIndex(of: bvh.joints[joint.parent].name)!
            XCTAssertEqual(Skeleton.parents[smpl], parent, joint.name)
        }
        let byName = Dictionary(uniqueKeysWithValues: bvh.joints.map { ($0.name, $0.offset) })
        XCTAssertGreaterThan(byName["LeftForeArm"]![0], 0.2)
        XCTAssertLessThan(byName["RightForeArm"]![0], -0.2)
        XCTAssertLessThan(byName["LeftLeg"]![1], -0.3)
        XCTAssertEqual(bvh.joints[0].channels.count, 6)
    }

    /// A rigid rotation of the whole clip changes the root rotation but not the rest pose, and the
    /// round trip still holds (the solver does not depend on the clip facing +Z).
    func testRoundTripOfRotatedClip() throws {
        var joints = try TestData.shared("new_joints_012314.npy").scalars
        let (c, s) = (Float(cos(2.0)), Float(sin(2.0)))
        for index in stride(from: 0, to: joints.count, by: 3) {
            let (x, z) = (joints[index], joints[index + 2])
            (joints[index], joints[index + 2]) = (c * x + s * z, -s * x + c * z)
        }
        let bvh = try ParsedBVH(try BVHAnimation(joints: joints).text())
        let positions = bvh.positions(frame: 100)
        for (fileIndex, joint) in bvh.joints.enumerated() {
            let smpl = BVHAnimation.jointNames.firstIndex(of: joint.name)!
            for axis in 0..<3 {
                XCTAssertEqual(positions[fileIndex][axis], Double(joints[100 * 66 + smpl * 3 + axis]), accuracy: 0.01)
            }
        }
    }

    func testNonFiniteJointsAreRefused() {
        var joints = [Float](repeating: 0.1, count: 66 * 2)
        joints[66 + 5] = .infinity
        XCTAssertThrowsError(try BVHAnimation(joints: joints)) { error in
            XCTAssertEqual("\(error)", "joint 1 of frame 1 is not a finite number")
        }
        XCTAssertThrowsError(try BVHAnimation(joints: []))
    }
}
