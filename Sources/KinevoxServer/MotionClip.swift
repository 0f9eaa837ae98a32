import Foundation
import KinevoxMotion

/// One motion as joint positions: `frames[t][j]` is joint `j` (Skeleton order) of frame `t`, in
/// metres, Y up, 20 fps. A generated clip starts with the pelvis at x = z = 0 facing +Z; the
/// playback clock moves it to where the avatar stands. Immutable value; any thread.
public struct MotionClip: Sendable {
    /// T frames × 22 joints.
    public let frames: [[SIMD3<Float>]]
    /// Pipeline stage timings in seconds reported by the motion source (e.g. "generator").
    public var stageSeconds: [String: Double]

    /// A clip from T×22 joint positions; refuses an empty clip or a frame with the wrong joint count.
    public init(frames: [[SIMD3<Float>]], stageSeconds: [String: Double] = [:]) throws {
        guard !frames.isEmpty else { throw ServerError.invalidMotion("a motion needs at least one frame") }
        if let bad = frames.firstIndex(where: { $0.count != Skeleton.jointCount }) {
            throw ServerError.invalidMotion(
                "frame \(bad) has \(frames[bad].count) joints, expected \(Skeleton.jointCount)")
        }
        self.frames = frames
        self.stageSeconds = stageSeconds
    }

    /// Reads a recorded motion: a little-endian float32 `.npy` array of shape T×22×3 (the format
    /// `kinevox generate --format npy` writes and HumanML3D's `new_joints` use).
    public init(npyFile url: URL) throws {
        let bytes = [UInt8](try Data(contentsOf: url))
        let name = url.lastPathComponent
        guard bytes.count > 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw ServerError.invalidMotion("\(name) is not a .npy file")
        }
        let headerLength: Int
        let headerStart: Int
        if bytes[6] == 1 {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        } else {
            guard bytes.count > 12 else { throw ServerError.invalidMotion("\(name): truncated header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        }
        guard headerStart + headerLength <= bytes.count,
              let header = String(bytes: bytes[headerStart..<headerStart + headerLength], encoding: .ascii)
        else { throw ServerError.invalidMotion("\(name): truncated header") }
        guard header.contains("'<f4'") else {
            throw ServerError.invalidMotion("\(name): expected dtype float32 ('<f4'), header \(header)")
        }
        guard header.contains("'fortran_order': False") else {
            throw ServerError.invalidMotion("\(name): Fortran-ordered arrays are not supported")
        }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")")
        else { throw ServerError.invalidMotion("\(name): no shape in header") }
        let shape = header[open.upperBound..<close].split(separator: ",").compactMap {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        guard shape.count == 3, shape[1] == Skeleton.jointCount, shape[2] == 3 else {
            throw ServerError.invalidMotion("\(name): shape \(shape), expected T×\(Skeleton.jointCount)×3")
        }
        let dataStart = headerStart + headerLength
        let count = shape[0] * shape[1] * 3
        guard bytes.count >= dataStart + count * 4 else {
            throw ServerError.invalidMotion("\(name): \(bytes.count - dataStart) data bytes, expected \(count * 4)")
        }
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBytes { dst in
            bytes.withUnsafeBytes { src in
                dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[dataStart..<dataStart + count * 4]))
            }
        }
        let frames = (0..<shape[0]).map { t in
            (0..<Skeleton.jointCount).map { j in
                let o = (t * Skeleton.jointCount + j) * 3
                return SIMD3(Float(littleEndianBits: values[o]), Float(littleEndianBits: values[o + 1]),
                             Float(littleEndianBits: values[o + 2]))
            }
        }
        try self.init(frames: frames)
    }

    /// Number of frames.
    public var frameCount: Int { frames.count }
    /// Length in seconds at 20 fps.
    public var duration: Double { Double(frames.count) / Double(Skeleton.fps) }
}

private extension Float {
    init(littleEndianBits value: Float) {
        self = Float(bitPattern: UInt32(littleEndian: value.bitPattern))
    }
}

/// Where a pose stands and which way it faces, on the floor plane.
struct RootPlacement {
    /// Pelvis x and z, metres.
    var position: SIMD2<Float>
    /// Heading about +Y in radians; 0 faces +Z, π/2 faces +X.
    var yaw: Float

    /// The placement of a 22-joint pose: pelvis position, and the facing perpendicular to the
    /// left-pointing hip and shoulder axes (character's left is +X when facing +Z).
    init(pose: [SIMD3<Float>]) {
        position = SIMD2(pose[0].x, pose[0].z)
        let left = (pose[1] - pose[2]) + (pose[16] - pose[17])
        // Facing +Z has left = +X; a pose turned by yaw a has left = (cos a, −sin a).
        yaw = (left.x == 0 && left.z == 0) ? 0 : atan2(-left.z, left.x)
    }

    /// Rotates `point` about Y by `angle` (radians), same convention as `yaw`.
    static func rotate(_ point: SIMD3<Float>, by angle: Float) -> SIMD3<Float> {
        let c = cos(angle), s = sin(angle)
        return SIMD3(point.x * c + point.z * s, point.y, -point.x * s + point.z * c)
    }
}
