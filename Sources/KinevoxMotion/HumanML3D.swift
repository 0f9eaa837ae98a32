import Foundation

/// The HumanML3D 263-dimensional motion features (one vector per frame at 20 fps) and their
/// decoding into 22 joint positions, as HumanML3D's `recover_from_ric` does it.
///
/// Layout of one frame: root angular velocity about Y (rad/frame), root linear velocity in the
/// root's heading frame (x, z; m/frame), root height (m), 21 root-relative joint positions in the
/// heading frame (63), 21 joint rotations in 6D (126), 22 joint velocities (66), 4 foot contacts.
/// Stateless; safe from any thread.
public enum HumanML3D {
    /// Features per frame.
    public static let featureCount = 263
    /// The longest motion HumanML3D models generate (frames at 20 fps).
    public static let maxFrames = 196

    /// Undoes the dataset normalisation: `features * std + mean`, frame by frame.
    /// - Parameters:
    ///   - normalized: T × 263 values, C order.
    ///   - mean, std: 263 values each (`motion_mean`, `motion_std` of the model file).
    public static func denormalize(_ normalized: [Float], mean: [Float], std: [Float]) throws -> [Float] {
        var out = normalized
        try denormalize(&out, mean: mean, std: std)
        return out
    }

    /// `denormalize` in place (no copy of the features).
    public static func denormalize(_ features: inout [Float], mean: [Float], std: [Float]) throws {
        guard mean.count == featureCount, std.count == featureCount else {
            throw MotionError("motion mean/std must have \(featureCount) values, got \(mean.count) and \(std.count)")
        }
        guard features.count % featureCount == 0 else {
            throw MotionError("features hold \(features.count) values, not a multiple of \(featureCount)")
        }
        for index in features.indices {
            let feature = index % featureCount
            features[index] = features[index] * std[feature] + mean[feature]
        }
    }

    /// Joint positions from un-normalised features: integrates the root's heading and velocity,
    /// then rotates each frame's root-relative joints into the world.
    /// - Parameter features: T × 263 un-normalised values, C order, T ≥ 1, all finite.
    /// - Returns: T × 22 × 3 positions in metres (Y up, the clip starts at x = z = 0 facing +Z).
    public static func joints(fromFeatures features: [Float]) throws -> [Float] {
        var out = [Float](repeating: 0, count: features.count / featureCount * Skeleton.jointCount * 3)
        try features.withUnsafeBufferPointer { features in
            try out.withUnsafeMutableBufferPointer { try joints(fromFeatures: features, into: $0) }
        }
        return out
    }

    /// `joints(fromFeatures:)` into caller-owned memory (no allocation).
    /// - Parameters:
    ///   - features: T × 263 un-normalised values, C order, T ≥ 1, all finite.
    ///   - out: T × 22 × 3 floats, every one of them written.
    public static func joints(fromFeatures features: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<Float>) throws {
        guard !features.isEmpty, features.count % featureCount == 0 else {
            throw MotionError("features hold \(features.count) values; need T × \(featureCount) with T ≥ 1")
        }
        if let bad = features.firstIndex(where: { !$0.isFinite }) {
            throw MotionError("feature \(bad % featureCount) of frame \(bad / featureCount) is not a finite number")
        }
        let frames = features.count / featureCount
        let joints = Skeleton.jointCount
        precondition(out.count == frames * joints * 3, "joints: \(out.count) floats for \(frames) frames")
        // Heading angle and root position accumulate in Float, as the reference's cumsum does.
        var angle: Float = 0
        var rootX: Float = 0
        var rootZ: Float = 0
        for frame in 0..<frames {
            let row = frame * featureCount
            if frame > 0 {
                let previous = row - featureCount
                angle += features[previous]
                // The velocity stored in frame t−1 moves the root from t−1 to t, in frame t's heading.
                let (vx, vz) = rotateByInverseHeading(x: features[previous + 1], z: features[previous + 2], angle: angle)
                rootX += vx
                rootZ += vz
            }
            let base = frame * joints * 3
            out[base] = rootX
            out[base + 1] = features[row + 3]
            out[base + 2] = rootZ
            for joint in 1..<joints {
                let source = row + 4 + (joint - 1) * 3
                let (x, z) = rotateByInverseHeading(x: features[source], z: features[source + 2], angle: angle)
                out[base + joint * 3] = x + rootX
                out[base + joint * 3 + 1] = features[source + 1]
                out[base + joint * 3 + 2] = z + rootZ
            }
        }
    }

    /// Rotates (x, 0, z) by the inverse of the heading quaternion (cos a, 0, sin a, 0), i.e. by −2a
    /// about Y written out the way HumanML3D's `qrot(qinv(q), v)` evaluates it.
    private static func rotateByInverseHeading(x: Float, z: Float, angle: Float) -> (Float, Float) {
        let w = cos(angle)
        let qy = -sin(angle)
        // uv = q⃗ × v, uuv = q⃗ × uv with q⃗ = (0, qy, 0); v' = v + 2 (w uv + uuv).
        let uvx = qy * z
        let uvz = -qy * x
        let uuvx = qy * uvz
        let uuvz = -qy * uvx
        return (x + 2 * (w * uvx + uuvx), z + 2 * (w * uvz + uuvz))
    }
}
