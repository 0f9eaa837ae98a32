/// A variant a model config names by a string (`"kind": "conv1d"`): an enum whose raw values are those strings. It
/// decodes from the string; an unknown one fails with `UnknownKindError`, one line listing the known kinds.
public protocol ConfigKind: RawRepresentable, CaseIterable, Codable, Sendable where RawValue == String {}

extension ConfigKind {
    public init(from decoder: Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let kind = Self(rawValue: name) else {
            throw UnknownKindError(kind: name, known: Self.allCases.map(\.rawValue))
        }
        self = kind
    }
}

/// A config names a kind this build does not implement.
public struct UnknownKindError: Error, Equatable, CustomStringConvertible {
    public let kind: String
    public let known: [String]

    public init(kind: String, known: [String]) {
        self.kind = kind
        self.known = known
    }

    public var description: String {
        "kind '\(kind)' is not one of " + known.map { "'\($0)'" }.joined(separator: ", ")
    }
}
