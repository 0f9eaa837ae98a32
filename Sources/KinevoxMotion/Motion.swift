/// One generated (or loaded) motion: HumanML3D features and the joint positions they decode to,
/// at 20 fps. A value; safe to pass between threads.
public struct Motion: Equatable, Sendable {
    /// Number of frames T (1 … 196 for generated motions).
    public let frameCount: Int
    /// T × 263 un-normalised HumanML3D features, C order.
    public let features: [Float]
    /// T × 22 × 3 joint positions in metres (Y up, starts at x = z = 0 facing +Z), C order.
    public let joints: [Float]

    /// A motion from un-normalised features; the joints are decoded from them.
    public init(features: [Float]) throws {
        self.joints = try HumanML3D.joints(fromFeatures: features)
        self.features = features
        self.frameCount = features.count / HumanML3D.featureCount
    }

    /// A motion from features and the joints already decoded from them (shares their storage).
    init(frameCount: Int, features: [Float], joints: [Float]) {
        self.frameCount = frameCount
        self.features = features
        self.joints = joints
    }
}
