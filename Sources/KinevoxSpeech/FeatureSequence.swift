import KinevoxEngine

/// Front-end output: `frames` feature vectors of `dim` floats each, row-major, one every `frameMs`
/// milliseconds of audio. A plain value; any thread.
public struct FeatureSequence: Equatable, Sendable {
    public var frames: Int
    public var dim: Int
    /// `frames * dim` floats, frame after frame.
    public var values: [Float]

    public init(frames: Int, dim: Int, values: [Float]) {
        precondition(values.count == frames * dim, "\(values.count) values for \(frames) × \(dim)")
        self.frames = frames
        self.dim = dim
        self.values = values
    }

    /// A copy of the feature view `view` ([1, T, D] or [T, D]).
    public init(_ view: TensorView) {
        let frames = view.shape.rank == 3 ? view.shape[1] : view.shape[0]
        self.init(frames: frames, dim: view.shape[view.shape.rank - 1], values: view.toArray())
    }

    /// Feature vector `index` (copy).
    public subscript(frame index: Int) -> ArraySlice<Float> { values[index * dim ..< (index + 1) * dim] }
}

/// Why a speech front end could not be built from a model file.
public enum SpeechModelError: Error, Equatable, CustomStringConvertible {
    /// The config is self-inconsistent (e.g. list lengths differ); `reason` says which fields.
    case invalidConfig(section: String, reason: String, path: String)

    public var description: String {
        switch self {
        case let .invalidConfig(section, reason, path):
            return "\(path): config section '\(section)' is invalid: \(reason)"
        }
    }
}
