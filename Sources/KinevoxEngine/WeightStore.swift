import Foundation

/// Why a model's weights or config could not be bound. Each case names the tensor or section at fault.
public enum WeightBindingError: Error, Equatable, CustomStringConvertible {
    /// A layer asked for a tensor the file does not hold.
    case missing(name: String, path: String)
    /// The file holds the tensor with another shape than the layer needs.
    case shapeMismatch(name: String, expected: [Int], found: [Int], path: String)
    /// Tensors in the file that no layer took (checked by `finish()`).
    case unexpected(names: [String], path: String)
    /// A tensor was taken twice.
    case takenTwice(name: String, path: String)
    /// The file has no `kinevox.config` metadata, or it lacks the requested section.
    case missingConfig(section: String, path: String)
    /// The config JSON or one of its sections does not decode.
    case invalidConfig(section: String, reason: String, path: String)

    public var description: String {
        switch self {
        case let .missing(name, path): return "\(path): missing tensor '\(name)'"
        case let .shapeMismatch(name, expected, found, path):
            return "\(path): tensor '\(name)' has shape \(found), expected \(expected)"
        case let .unexpected(names, path):
            let shown = names.prefix(10).joined(separator: ", ") + (names.count > 10 ? ", … (\(names.count) in all)" : "")
            return "\(path): unexpected tensors no layer uses: \(shown)"
        case let .takenTwice(name, path): return "\(path): tensor '\(name)' bound twice"
        case let .missingConfig(section, path): return "\(path): no '\(section)' section in the kinevox.config metadata"
        case let .invalidConfig(section, reason, path): return "\(path): config section '\(section)' is invalid: \(reason)"
        }
    }
}

/// The tensors of one model file, handed out by PyTorch `state_dict` name to the layers that bind them, each at
/// most once; `finish()` then reports any tensor left over. Also decodes the model's architecture config from
/// the `kinevox.config` metadata. Used by the loading thread only (binding mutates the taken-set).
///
/// A store made with `init(randomSeed:)` has no file: it makes every tensor a layer asks for, in the shape the layer
/// asks for, from a seeded generator, so a random-weight model (benchmarks, smoke tests) binds through the layers'
/// own code and needs no tensor list of its own.
public final class WeightStore {
    /// The underlying file (nil for a random store).
    public let file: SafetensorsFile?
    /// The file's path, or a description of the random source, for error messages.
    public let path: String
    private var taken: Set<String> = []
    private var random = SeededRandom(seed: 0)
    private let constant: (String) -> Float?
    /// Precision of the matrix products of the layers bound from now on (set before binding them).
    public var matmulPrecision: MatmulPrecision = .fp32

    /// The metadata key holding the model's config JSON.
    public static let configKey = "kinevox.config"

    public init(file: SafetensorsFile, matmulPrecision: MatmulPrecision = .fp32) {
        self.file = file
        path = file.path
        constant = { _ in nil }
        self.matmulPrecision = matmulPrecision
    }

    /// Opens the safetensors file at `path`.
    public convenience init(path: String, matmulPrecision: MatmulPrecision = .fp32) throws {
        self.init(file: try SafetensorsFile(path: path), matmulPrecision: matmulPrecision)
    }

    /// A store of seeded random weights, each rounded through float16 as a converted checkpoint's are: the value
    /// `constant(name)` gives for a full tensor name, else, by default, 1 for norm weights (`…norm.weight`), 0 for
    /// biases, and uniform draws with standard deviation 0.02 for everything else. It holds no config.
    public init(randomSeed seed: UInt64, constant: @escaping (String) -> Float? = { _ in nil },
                matmulPrecision: MatmulPrecision = .fp32) {
        file = nil
        path = "random weights (seed \(seed))"
        random = SeededRandom(seed: seed)
        self.constant = constant
        self.matmulPrecision = matmulPrecision
    }

    /// The file's `__metadata__` (empty for a random store).
    public var metadata: [String: String] { file?.metadata ?? [:] }

    /// The full names bound so far.
    public var takenNames: Set<String> { taken }

    /// The scope of all names (no prefix).
    public var root: WeightScope { WeightScope(store: self, prefix: "") }

    /// The scope of names under `prefix` (e.g. `"rvq"` → `rvq.*`).
    public func scope(_ prefix: String) -> WeightScope { root.scope(prefix) }

    fileprivate func take(fullName: String, shape: [Int]) throws -> Tensor {
        guard !taken.contains(fullName) else { throw WeightBindingError.takenTwice(name: fullName, path: path) }
        guard let file else {
            taken.insert(fullName)
            return randomTensor(fullName, shape: shape)
        }
        guard let entry = file.entries[fullName] else { throw WeightBindingError.missing(name: fullName, path: path) }
        guard entry.shape == shape else {
            throw WeightBindingError.shapeMismatch(name: fullName, expected: shape, found: entry.shape, path: path)
        }
        let tensor = try file.floats(fullName)
        taken.insert(fullName)
        return tensor
    }

    private func randomTensor(_ name: String, shape: [Int]) -> Tensor {
        let tensor = Tensor(shape: shape)
        let fixed = constant(name) ?? (name.hasSuffix("norm.weight") ? 1 : (name.hasSuffix(".bias") ? 0 : nil))
        let limit = Float(0.02 * 3.0.squareRoot())
        for i in 0 ..< tensor.count {
            tensor.data[i] = Float(Float16(fixed ?? (random.nextFloat() * 2 - 1) * limit))
        }
        return tensor
    }

    fileprivate func contains(_ fullName: String) -> Bool { file.map { $0.entries[fullName] != nil } ?? true }

    fileprivate func shape(of fullName: String) -> [Int]? { file?.entries[fullName]?.shape }

    fileprivate func markTaken(_ fullName: String) { taken.insert(fullName) }

    fileprivate func untaken(prefix: String) -> [String] {
        (file?.names ?? []).filter { $0.hasPrefix(prefix) && !taken.contains($0) }
    }

    /// Decodes section `section` (e.g. `"rvq"`) of the `kinevox.config` JSON as `T` (keys as written in the
    /// JSON: declare snake_case `CodingKeys`).
    public func config<T: Decodable>(_ type: T.Type, section: String) throws -> T {
        guard let text = metadata[WeightStore.configKey] else {
            throw WeightBindingError.missingConfig(section: section, path: path)
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        } catch {
            throw WeightBindingError.invalidConfig(section: section, reason: "config is not JSON: \(error)", path: path)
        }
        guard let sections = object as? [String: Any], let value = sections[section] else {
            throw WeightBindingError.missingConfig(section: section, path: path)
        }
        do {
            let data = try JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed])
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw WeightBindingError.invalidConfig(section: section, reason: "\(error)", path: path)
        }
    }
}

/// A view of a `WeightStore` under a name prefix, the way a PyTorch submodule sees its `state_dict`:
/// `scope("layers.0").scope("self_attn").take("in_proj_weight", ...)` takes `layers.0.self_attn.in_proj_weight`.
/// Layers are constructed from a scope. Loading thread only.
public struct WeightScope {
    public let store: WeightStore
    /// Prefix including its trailing dot, or empty for the root.
    public let prefix: String

    init(store: WeightStore, prefix: String) {
        self.store = store
        self.prefix = prefix
    }

    /// The scope of submodule `name` (may contain dots, e.g. `"layers.3"`).
    public func scope(_ name: String) -> WeightScope { WeightScope(store: store, prefix: prefix + name + ".") }

    /// Full state_dict name of `name` in this scope.
    public func fullName(_ name: String) -> String { prefix + name }

    /// Whether the file holds `name` in this scope (always, for a random store).
    public func contains(_ name: String) -> Bool { store.contains(prefix + name) }

    /// The stored shape of `name`, if present (nil for a random store).
    public func shape(of name: String) -> [Int]? { store.shape(of: prefix + name) }

    /// Takes tensor `name`, which must exist with exactly `shape`; the error names it otherwise.
    public func take(_ name: String, shape: [Int]) throws -> Tensor {
        try store.take(fullName: prefix + name, shape: shape)
    }

    /// Takes tensor `name` if the file holds it (with exactly `shape`), nil if absent.
    public func takeIfPresent(_ name: String, shape: [Int]) throws -> Tensor? {
        contains(name) ? try take(name, shape: shape) : nil
    }

    /// Marks `name` as used without loading it (for buffers a layer recomputes, e.g. BatchNorm's
    /// `num_batches_tracked`); does nothing if absent.
    public func ignore(_ name: String) {
        if contains(name) { store.markTaken(prefix + name) }
    }

    /// Throws `WeightBindingError.unexpected` naming every tensor under this scope that no layer took.
    /// Call on the root (or a model's top-level prefix) after constructing all layers.
    public func finish() throws {
        let left = store.untaken(prefix: prefix)
        if !left.isEmpty { throw WeightBindingError.unexpected(names: left, path: store.path) }
    }
}
