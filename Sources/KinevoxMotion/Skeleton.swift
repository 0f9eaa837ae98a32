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
}
