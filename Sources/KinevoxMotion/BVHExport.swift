import Foundation

/// A BVH animation of the 22-joint SMPL hierarchy solved from joint positions, ready to be written
/// as text that Blender (and other BVH readers) import.
///
/// Rest pose: a T-pose (legs down, arms out along ±X, feet forward along +Z, facing +Z) whose bone
/// lengths are the motion's own (mean over frames). Joints with several children (pelvis, spine3) keep
/// the motion's own arrangement of those children, turned as a whole to best match the T-pose.
/// Rotations: per joint, the shortest arc from the rest bone to the observed bone in the parent's frame
/// (pelvis and spine3: the best rigid fit of all their children).
///
/// Every joint has `Xposition Yposition Zposition Zrotation Yrotation Xrotation` channels (degrees,
/// metres). A joint's position channels are its position in its parent's frame, as Blender's importer
/// reads them (they replace the OFFSET; the root's OFFSET is zero, so for it "replace" and "add" agree).
/// They are needed because generated joints do not keep their bone lengths: across one motion a bone
/// varies by centimetres (σ up to 4 cm in a wave), which rotations alone on fixed offsets cannot
/// reproduce (9.5 cm off at the wrist). With them forward kinematics gives every joint back exactly; a
/// reader that ignores them still gets the bone directions. 20 fps. A value; safe from any thread.
public struct BVHAnimation: Sendable {
    /// BVH joint names by SMPL index (those of MoMask's SMPL BVH template).
    public static let jointNames: [String] = [
        "Hips", "LeftUpLeg", "RightUpLeg", "Spine", "LeftLeg", "RightLeg", "Spine1", "LeftFoot",
        "RightFoot", "Spine2", "LeftToe", "RightToe", "Neck", "LeftShoulder", "RightShoulder", "Head",
        "LeftArm", "RightArm", "LeftForeArm", "RightForeArm", "LeftHand", "RightHand",
    ]

    /// Rest-pose direction of the bone from each joint's parent to the joint (the T-pose).
    static let restDirections: [SIMD3<Double>] = [
        [0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0], [0, 1, 0], [0, -1, 0],
        [0, -1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0],
        [1, 0, 0], [-1, 0, 0], [1, 0, 0], [-1, 0, 0], [1, 0, 0], [-1, 0, 0],
    ]

    /// Length of the End Site bone that closes each leaf joint (metres).
    static let endSiteLength = 0.05

    /// Rest offset of each joint from its parent (metres; the root's is zero).
    public let restOffsets: [SIMD3<Double>]
    /// Pelvis position per frame (metres).
    public var rootPositions: [SIMD3<Double>] { localPositions.map { $0[0] } }
    /// Position of each joint in its parent's frame, per frame (metres; the root's in the world).
    public let localPositions: [[SIMD3<Double>]]
    /// Local rotation per frame and joint as (Z, Y, X) Euler angles in degrees.
    public let rotations: [[SIMD3<Double>]]

    /// Solves the animation from joint positions.
    /// - Parameter joints: T × 22 × 3 positions in metres (C order), T ≥ 1, all finite.
    public init(joints: [Float]) throws {
        let stride = Skeleton.jointCount * 3
        guard !joints.isEmpty, joints.count % stride == 0 else {
            throw MotionError("BVH export needs T × 22 × 3 joint positions, got \(joints.count) values")
        }
        if let bad = joints.firstIndex(where: { !$0.isFinite }) {
            throw MotionError("joint \(bad % stride / 3) of frame \(bad / stride) is not a finite number")
        }
        let frames = joints.count / stride
        let positions: [[SIMD3<Double>]] = (0..<frames).map { frame in
            (0..<Skeleton.jointCount).map { joint in
                let base = frame * stride + joint * 3
                return SIMD3(Double(joints[base]), Double(joints[base + 1]), Double(joints[base + 2]))
            }
        }
        let offsets = Self.fitRestOffsets(positions)
        var rotations: [[SIMD3<Double>]] = []
        var localPositions: [[SIMD3<Double>]] = []
        rotations.reserveCapacity(frames)
        localPositions.reserveCapacity(frames)
        for pose in positions {
            let solved = Self.solve(pose: pose, offsets: offsets)
            rotations.append(solved.rotations.map { $0.eulerZYX * (180 / Double.pi) })
            localPositions.append(solved.positions)
        }
        self.restOffsets = offsets
        self.localPositions = localPositions
        self.rotations = rotations
    }

    /// The BVH file text (HIERARCHY then MOTION, one line per frame).
    public func text() -> String {
        var out = "HIERARCHY\n"
        writeJoint(0, depth: 0, into: &out)
        out += "MOTION\nFrames: \(rootPositions.count)\nFrame Time: \(Self.number(1 / Double(Skeleton.fps)))\n"
        let order = Self.depthFirstOrder
        for frame in localPositions.indices {
            var values: [Double] = []
            for joint in order {
                let position = localPositions[frame][joint]
                let angles = rotations[frame][joint]
                values += [position.x, position.y, position.z, angles.x, angles.y, angles.z]
            }
            out += values.map(Self.number).joined(separator: " ") + "\n"
        }
        return out
    }

    /// Children of each joint in SMPL index order.
    static let children: [[Int]] = (0..<Skeleton.jointCount).map { joint in
        Skeleton.parents.indices.filter { Skeleton.parents[$0] == joint }
    }

    /// The order joints appear in the hierarchy and in each motion line.
    static let depthFirstOrder: [Int] = {
        var order: [Int] = []
        func visit(_ joint: Int) {
            order.append(joint)
            children[joint].forEach(visit)
        }
        visit(0)
        return order
    }()

    private func writeJoint(_ joint: Int, depth: Int, into out: inout String) {
        let indent = String(repeating: "\t", count: depth)
        let offset = restOffsets[joint]
        if joint == 0 {
            out += "ROOT \(Self.jointNames[joint])\n"
        } else {
            out += "\(indent)JOINT \(Self.jointNames[joint])\n"
        }
        out += "\(indent){\n"
        out += "\(indent)\tOFFSET \(Self.number(offset.x)) \(Self.number(offset.y)) \(Self.number(offset.z))\n"
        out += "\(indent)\tCHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation\n"
        if Self.children[joint].isEmpty {
            let end = normalized(offset) * Self.endSiteLength
            out += "\(indent)\tEnd Site\n\(indent)\t{\n"
            out += "\(indent)\t\tOFFSET \(Self.number(end.x)) \(Self.number(end.y)) \(Self.number(end.z))\n"
            out += "\(indent)\t}\n"
        } else {
            for child in Self.children[joint] { writeJoint(child, depth: depth + 1, into: &out) }
        }
        out += "\(indent)}\n"
    }

    private static func number(_ value: Double) -> String {
        String(format: "%.6f", value == 0 ? 0 : value)
    }

    /// Rest offsets: T-pose directions with the motion's mean bone lengths; the children of a
    /// branching joint keep their mean arrangement, turned to best match the T-pose.
    private static func fitRestOffsets(_ positions: [[SIMD3<Double>]]) -> [SIMD3<Double>] {
        var offsets = [SIMD3<Double>](repeating: .zero, count: Skeleton.jointCount)
        for joint in 1..<Skeleton.jointCount {
            let parent = Skeleton.parents[joint]
            let length = positions.reduce(0.0) { $0 + sqrt(dot($1[joint] - $1[parent], $1[joint] - $1[parent])) }
            offsets[joint] = restDirections[joint] * (length / Double(positions.count))
        }
        for joint in 0..<Skeleton.jointCount where children[joint].count > 1 {
            let kids = children[joint]
            let vectors = positions.map { pose in kids.map { pose[$0] - pose[joint] } }
            var mean = [SIMD3<Double>](repeating: .zero, count: kids.count)
            for frameVectors in vectors {
                let toFrame = Rotation3.bestFit(from: vectors[0], to: frameVectors)
                for (index, vector) in frameVectors.enumerated() {
                    mean[index] += toFrame.transposed * vector / Double(vectors.count)
                }
            }
            let toRest = Rotation3.bestFit(from: mean, to: kids.map { offsets[$0] })
            for (index, kid) in kids.enumerated() { offsets[kid] = toRest * mean[index] }
        }
        return offsets
    }

    /// Local rotations and positions of one pose, each joint after its parent (SMPL order has parents
    /// first). A joint's local position places it exactly where the pose has it; its rotation aims its
    /// rest bone(s) at its child(ren).
    private static func solve(pose: [SIMD3<Double>], offsets: [SIMD3<Double>]) -> (rotations: [Rotation3], positions: [SIMD3<Double>]) {
        var global = [Rotation3](repeating: .identity, count: Skeleton.jointCount)
        var local = global
        var positions = pose
        for joint in 0..<Skeleton.jointCount {
            let parent = Skeleton.parents[joint]
            let parentGlobal = parent >= 0 ? global[parent] : .identity
            if parent >= 0 { positions[joint] = parentGlobal.transposed * (pose[joint] - pose[parent]) }
            let kids = children[joint]
            switch kids.count {
            case 0:
                global[joint] = parentGlobal
            case 1:
                let target = parentGlobal.transposed * (pose[kids[0]] - pose[joint])
                global[joint] = parentGlobal * Rotation3.shortestArc(from: offsets[kids[0]], to: target)
            default:
                global[joint] = Rotation3.bestFit(from: kids.map { offsets[$0] }, to: kids.map { pose[$0] - pose[joint] })
            }
            local[joint] = parentGlobal.transposed * global[joint]
        }
        return (local, positions)
    }
}
