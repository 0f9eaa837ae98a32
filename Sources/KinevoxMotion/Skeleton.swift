/// The 22-joint SMPL/HumanML3D skeleton every motion leaves the program in
/// (metres, Y up, floor at y = 0, facing +Z, character's left = +X, 20 fps).
/// Immutable; safe from any thread.
public enum Skeleton {
    /// Joint names in SMPL/HumanML3D order.
    public static let jointNames: [String] = [
        "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
        "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
        "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
        "left_wrist", "right_wrist",
    ]

    /// Parent of each joint (−1 for the pelvis, the root).
    public static let parents: [Int] = [
        -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19,
    ]

    /// Number of joints.
    public static let jointCount = 22

    /// Frames per second of every motion.
    public static let fps = 20

    /// An adult standing at rest, arms hanging, at the origin facing +Z (metres; proportions of the SMPL
    /// neutral body, 1.6 m to the top of the head joint). What viewers show before the first motion.
    public static let standingPose: [SIMD3<Float>] = [
        SIMD3(0, 0.93, 0), SIMD3(0.06, 0.84, -0.01), SIMD3(-0.06, 0.84, -0.01), SIMD3(0, 1.04, -0.01),
        SIMD3(0.10, 0.47, 0), SIMD3(-0.10, 0.47, 0), SIMD3(0, 1.17, 0), SIMD3(0.09, 0.08, -0.03),
        SIMD3(-0.09, 0.08, -0.03), SIMD3(0, 1.22, 0.01), SIMD3(0.11, 0.02, 0.09), SIMD3(-0.11, 0.02, 0.09),
        SIMD3(0, 1.43, -0.01), SIMD3(0.07, 1.34, 0), SIMD3(-0.07, 1.34, 0), SIMD3(0, 1.52, 0.04),
        SIMD3(0.17, 1.36, -0.01), SIMD3(-0.17, 1.36, -0.01), SIMD3(0.22, 1.10, -0.03), SIMD3(-0.22, 1.10, -0.03),
        SIMD3(0.25, 0.86, 0.01), SIMD3(-0.25, 0.86, 0.01),
    ]
}
