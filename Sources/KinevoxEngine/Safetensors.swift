import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Element types a safetensors file may declare. Only F32, F16 and BF16 can be read as float32 weights;
/// the others are understood (so a file holding them still validates) but refused by `SafetensorsFile.floats`.
public enum SafetensorsDType: String, CaseIterable {
    case bool = "BOOL", u8 = "U8", i8 = "I8", f8e5m2 = "F8_E5M2", f8e4m3 = "F8_E4M3"
    case i16 = "I16", u16 = "U16", f16 = "F16", bf16 = "BF16"
    case i32 = "I32", u32 = "U32", f32 = "F32", f64 = "F64", i64 = "I64", u64 = "U64"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .bool, .u8, .i8, .f8e5m2, .f8e4m3: return 1
        case .i16, .u16, .f16, .bf16: return 2
        case .i32, .u32, .f32: return 4
        case .f64, .i64, .u64: return 8
        }
    }
}

/// Why a safetensors file could not be opened or read. Every case names the file and, where there is one,
/// the tensor at fault.
public enum SafetensorsError: Error, Equatable, CustomStringConvertible {
    /// The file could not be opened or mapped.
    case cannotOpen(path: String, reason: String)
    /// The file is shorter than the 8-byte header length that starts every safetensors file.
    case truncated(path: String, fileSize: Int)
    /// The header length points past the end of the file.
    case headerPastEndOfFile(path: String, headerLength: UInt64, fileSize: Int)
    /// The header is not the JSON object the format requires.
    case invalidHeader(path: String, reason: String)
    /// A tensor declares a dtype the format does not define.
    case unknownDType(path: String, tensor: String, dtype: String)
    /// A tensor's data_offsets are malformed or reach outside the data section.
    case offsetsOutsideData(path: String, tensor: String, begin: Int, end: Int, dataSize: Int)
    /// Two tensors claim overlapping bytes.
    case overlappingTensors(path: String, first: String, second: String)
    /// A tensor's shape times its dtype size differs from its byte range.
    case sizeMismatch(path: String, tensor: String, shape: [Int], dtype: String, expectedBytes: Int, actualBytes: Int)
    /// A tensor was asked for that the file does not hold.
    case noSuchTensor(path: String, tensor: String)
    /// A tensor was asked for as float32 but its dtype is not F32, F16 or BF16.
    case notFloatingPoint(path: String, tensor: String, dtype: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason):
            return "\(path): cannot open: \(reason)"
        case let .truncated(path, size):
            return "\(path): truncated: \(size) bytes, a safetensors file starts with an 8-byte header length"
        case let .headerPastEndOfFile(path, length, size):
            return "\(path): header length \(length) runs past the end of the \(size)-byte file (truncated or not safetensors)"
        case let .invalidHeader(path, reason):
            return "\(path): header is not valid safetensors JSON: \(reason)"
        case let .unknownDType(path, tensor, dtype):
            return "\(path): tensor '\(tensor)' has unknown dtype '\(dtype)'"
        case let .offsetsOutsideData(path, tensor, begin, end, dataSize):
            return "\(path): tensor '\(tensor)' data_offsets [\(begin), \(end)] fall outside the \(dataSize)-byte data section"
        case let .overlappingTensors(path, first, second):
            return "\(path): tensors '\(first)' and '\(second)' overlap in the data section"
        case let .sizeMismatch(path, tensor, shape, dtype, expected, actual):
            return "\(path): tensor '\(tensor)' of shape \(shape) and dtype \(dtype) needs \(expected) bytes but its data_offsets span \(actual)"
        case let .noSuchTensor(path, tensor):
            return "\(path): no tensor named '\(tensor)'"
        case let .notFloatingPoint(path, tensor, dtype):
            return "\(path): tensor '\(tensor)' has dtype \(dtype); only F32, F16 and BF16 load as float32"
        }
    }
}

/// A memory-mapped safetensors file: validated header (every tensor's dtype, shape and byte range checked at
/// open), string metadata, and tensors read out as float32 (F16 and BF16 widened). The mapping lives as long as
/// the object. Reading is thread-safe once opened.
public final class SafetensorsFile {
    /// One tensor's header entry.
    public struct Entry {
        public let name: String
        public let dtype: SafetensorsDType
        public let shape: [Int]
        /// Byte range within the data section.
        public let byteRange: Range<Int>
    }

    /// The path the file was opened from (used in error messages).
    public let path: String
    /// The `__metadata__` string map (empty if absent).
    public let metadata: [String: String]
    /// Header entries by tensor name.
    public let entries: [String: Entry]
    private let mapping: UnsafeMutableRawPointer
    private let mappingLength: Int
    private let dataStart: Int

    /// Maps and validates the file at `path`.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw SafetensorsError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SafetensorsError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        let size = Int(info.st_size)
        guard size >= 8 else { throw SafetensorsError.truncated(path: path, fileSize: size) }
        guard let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
            throw SafetensorsError.cannotOpen(path: path, reason: "mmap: " + String(cString: strerror(errno)))
        }
        mapping = map
        mappingLength = size
        do {
            let header = try SafetensorsFile.parseHeader(map, size: size, path: path)
            metadata = header.metadata
            entries = header.entries
            dataStart = header.dataStart
        } catch {
            munmap(map, size)
            throw error
        }
    }

    deinit { munmap(mapping, mappingLength) }

    /// Tensor names in the file, sorted.
    public var names: [String] { entries.keys.sorted() }

    /// The named tensor as float32 (F16/BF16 widened), in a newly allocated `Tensor`.
    public func floats(_ name: String) throws -> Tensor {
        guard let entry = entries[name] else { throw SafetensorsError.noSuchTensor(path: path, tensor: name) }
        let tensor = Tensor(shape: entry.shape)
        let source = UnsafeRawPointer(mapping) + dataStart + entry.byteRange.lowerBound
        let out = tensor.data
        let n = tensor.count
        switch entry.dtype {
        case .f32:
            for i in 0 ..< n { out[i] = Float(bitPattern: source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self).littleEndian) }
        case .f16:
            for i in 0 ..< n { out[i] = Float(Float16(bitPattern: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian)) }
        case .bf16:
            for i in 0 ..< n { out[i] = Float(bitPattern: UInt32(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian) << 16) }
        default:
            throw SafetensorsError.notFloatingPoint(path: path, tensor: name, dtype: entry.dtype.rawValue)
        }
        return tensor
    }

    /// Writes `tensors` as an F32 safetensors file at `path` with string `metadata` (e.g. `kinevox.config`);
    /// tensors are laid out in the order given. For tools, tests and benchmarks; models come from Training/.
    public static func write(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:], to path: String) throws {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for (name, tensor) in tensors {
            header[name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + 4 * tensor.count]] as [String: Any]
            offset += 4 * tensor.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))
        var bytes = Data()
        bytes.reserveCapacity(8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(json)
        for (_, tensor) in tensors {
            for i in 0 ..< tensor.count { withUnsafeBytes(of: tensor.data[i].bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        }
        do {
            try bytes.write(to: URL(fileURLWithPath: path))
        } catch {
            throw SafetensorsError.cannotOpen(path: path, reason: "write: \(error.localizedDescription)")
        }
    }

    private struct Header {
        var metadata: [String: String]
        var entries: [String: Entry]
        var dataStart: Int
    }

    private struct NameKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    private struct RawEntry: Decodable {
        let dtype: String
        let shape: [Int]
        let data_offsets: [Int]
    }

    private struct RawHeader: Decodable {
        var metadata: [String: String] = [:]
        var tensors: [(String, RawEntry)] = []
        init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: NameKey.self)
            for key in container.allKeys {
                if key.stringValue == "__metadata__" {
                    metadata = try container.decode([String: String].self, forKey: key)
                } else {
                    tensors.append((key.stringValue, try container.decode(RawEntry.self, forKey: key)))
                }
            }
        }
    }

    private static func parseHeader(_ map: UnsafeMutableRawPointer, size: Int, path: String) throws -> Header {
        let headerLength = map.loadUnaligned(as: UInt64.self).littleEndian
        guard headerLength <= UInt64(size - 8) else {
            throw SafetensorsError.headerPastEndOfFile(path: path, headerLength: headerLength, fileSize: size)
        }
        let dataStart = 8 + Int(headerLength)
        let dataSize = size - dataStart
        let json = Data(bytes: map + 8, count: Int(headerLength))
        let raw: RawHeader
        do {
            raw = try JSONDecoder().decode(RawHeader.self, from: json)
        } catch {
            throw SafetensorsError.invalidHeader(path: path, reason: describe(error))
        }
        var entries: [String: Entry] = [:]
        for (name, e) in raw.tensors {
            guard let dtype = SafetensorsDType(rawValue: e.dtype) else {
                throw SafetensorsError.unknownDType(path: path, tensor: name, dtype: e.dtype)
            }
            guard e.data_offsets.count == 2, e.data_offsets[0] >= 0, e.data_offsets[0] <= e.data_offsets[1],
                  e.data_offsets[1] <= dataSize else {
                let begin = e.data_offsets.first ?? -1, end = e.data_offsets.count > 1 ? e.data_offsets[1] : -1
                throw SafetensorsError.offsetsOutsideData(path: path, tensor: name, begin: begin, end: end, dataSize: dataSize)
            }
            let actual = e.data_offsets[1] - e.data_offsets[0]
            var expected = dtype.size
            var overflow = false
            for d in e.shape {
                if d < 0 { overflow = true; break }
                let (product, o) = expected.multipliedReportingOverflow(by: d)
                if o { overflow = true; break }
                expected = product
            }
            guard !overflow, expected == actual else {
                throw SafetensorsError.sizeMismatch(
                    path: path, tensor: name, shape: e.shape, dtype: e.dtype, expectedBytes: overflow ? -1 : expected, actualBytes: actual)
            }
            entries[name] = Entry(name: name, dtype: dtype, shape: e.shape, byteRange: e.data_offsets[0] ..< e.data_offsets[1])
        }
        let ordered = entries.values.filter { !$0.byteRange.isEmpty }
            .sorted { ($0.byteRange.lowerBound, $0.name) < ($1.byteRange.lowerBound, $1.name) }
        for (a, b) in zip(ordered, ordered.dropFirst()) where b.byteRange.lowerBound < a.byteRange.upperBound {
            throw SafetensorsError.overlappingTensors(path: path, first: a.name, second: b.name)
        }
        return Header(metadata: raw.metadata, entries: entries, dataStart: dataStart)
    }

    private static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context):
            return context.debugDescription + (context.underlyingError.map { " (\($0))" } ?? "")
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return context.codingPath.map(\.stringValue).joined(separator: ".") + ": " + context.debugDescription
        case DecodingError.keyNotFound(let key, let context):
            return (context.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: ".") + " is missing"
        default:
            return "\(error)"
        }
    }
}
