import Foundation

/// The file formats a motion can be written in (see docs: interfaces, `kinevox generate --format`).
public enum MotionFormat: String, CaseIterable, Sendable {
    /// `kinevox.motion.v1` JSON: joint names, T × 22 × [x, y, z] frames, stage timings.
    case json
    /// NumPy float32 array T × 22 × 3 (metres).
    case npy
    /// NumPy float32 array T × 263 of un-normalised HumanML3D features.
    case hml263
    /// BVH on the 22-joint SMPL hierarchy (see `BVHAnimation`).
    case bvh
}

/// Milliseconds each pipeline stage took for one motion; filled by the caller, written in JSON.
public struct MotionTiming: Equatable, Sendable {
    public var audioEncoder: Double
    public var generator: Double
    public var decoder: Double
    public var total: Double

    public init(audioEncoder: Double = 0, generator: Double = 0, decoder: Double = 0, total: Double = 0) {
        self.audioEncoder = audioEncoder
        self.generator = generator
        self.decoder = decoder
        self.total = total
    }
}

/// Encodes motions in the `MotionFormat`s and writes files atomically (a temporary file in the
/// destination's folder, renamed over the destination only once complete), so a failure never
/// leaves a half-written file. Stateless; safe from any thread.
public enum MotionFile {
    /// The bytes of `motion` in `format`; `timing` goes into JSON only.
    public static func encode(_ motion: Motion, as format: MotionFormat, timing: MotionTiming = MotionTiming()) throws -> Data {
        switch format {
        case .json:
            return Data(json(motion, timing: timing).utf8)
        case .npy:
            return try NumpyArray(shape: [motion.frameCount, Skeleton.jointCount, 3], scalars: motion.joints).npyData()
        case .hml263:
            return try NumpyArray(shape: [motion.frameCount, HumanML3D.featureCount], scalars: motion.features).npyData()
        case .bvh:
            return Data(try BVHAnimation(joints: motion.joints).text().utf8)
        }
    }

    /// Encodes `motion` and writes it to `url` atomically.
    public static func write(_ motion: Motion, as format: MotionFormat, to url: URL, timing: MotionTiming = MotionTiming()) throws {
        try writeAtomically(try encode(motion, as: format, timing: timing), to: url)
    }

    /// Writes `data` to a temporary file beside `url`, then renames it to `url`. On any error the
    /// temporary file is removed and `url` is left as it was.
    public static func writeAtomically(_ data: Data, to url: URL) throws {
        let folder = url.deletingLastPathComponent()
        let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp")
        guard FileManager.default.createFile(atPath: temporary.path, contents: data) else {
            try? FileManager.default.removeItem(at: temporary)
            throw MotionError("cannot write \(url.path): cannot create a file in \(folder.path)")
        }
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw MotionError("cannot write \(url.path): \(reason)")
        }
    }

    /// The `kinevox.motion.v1` document. Coordinates are written as the shortest decimal that reads
    /// back as the same Float.
    static func json(_ motion: Motion, timing: MotionTiming) -> String {
        var out = "{\"format\":\"kinevox.motion.v1\",\"fps\":\(Skeleton.fps),\"joints\":["
        out += Skeleton.jointNames.map { "\"\($0)\"" }.joined(separator: ",")
        out += "],\"frames\":["
        let stride = Skeleton.jointCount * 3
        for frame in 0..<motion.frameCount {
            if frame > 0 { out += "," }
            out += "["
            for joint in 0..<Skeleton.jointCount {
                let base = frame * stride + joint * 3
                if joint > 0 { out += "," }
                out += "[\(motion.joints[base]),\(motion.joints[base + 1]),\(motion.joints[base + 2])]"
            }
            out += "]"
        }
        out += "],\"timing_ms\":{\"audio_encoder\":\(timing.audioEncoder),\"generator\":\(timing.generator),"
        out += "\"decoder\":\(timing.decoder),\"total\":\(timing.total)}}"
        return out
    }
}
