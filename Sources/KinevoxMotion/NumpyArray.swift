import Foundation

/// A little-endian float32 NumPy `.npy` array (C order): what the `npy` and `hml263` motion formats
/// are, and how fixtures and shared reference data are stored. Float64 files are narrowed to float32
/// when read. A value; safe to pass between threads.
public struct NumpyArray: Equatable, Sendable {
    /// Dimensions, outermost first.
    public let shape: [Int]
    /// Elements in C order; `scalars.count` is the product of `shape`.
    public let scalars: [Float]

    public init(shape: [Int], scalars: [Float]) throws {
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == scalars.count else {
            throw MotionError("npy: shape \(shape) does not hold \(scalars.count) values")
        }
        self.shape = shape
        self.scalars = scalars
    }

    /// Reads an `.npy` file written by NumPy (format 1.0–3.0, `<f4` or `<f8`, C order).
    public init(contentsOf url: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw MotionError("npy: cannot read \(url.path): \(error.localizedDescription)")
        }
        try self.init(npyData: data, source: url.path)
    }

    /// Parses the bytes of an `.npy` file; `source` names it in error messages.
    public init(npyData data: Data, source: String = "npy data") throws {
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw MotionError("\(source): not a NumPy .npy file")
        }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        if major == 1 {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        } else {
            guard bytes.count >= 12 else { throw MotionError("\(source): truncated .npy header") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            headerStart = 12
        }
        guard headerStart + headerLength <= bytes.count,
              let header = String(bytes: bytes[headerStart..<headerStart + headerLength], encoding: .ascii)
        else { throw MotionError("\(source): truncated .npy header") }
        guard !header.contains("'fortran_order': True") else {
            throw MotionError("\(source): Fortran-ordered arrays are not supported; save with C order")
        }
        let isDouble: Bool
        if header.contains("'<f4'") {
            isDouble = false
        } else if header.contains("'<f8'") {
            isDouble = true
        } else {
            throw MotionError("\(source): only little-endian float32/float64 arrays are supported (header: \(header))")
        }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw MotionError("\(source): .npy header has no shape")
        }
        let dims = header[open.upperBound..<close].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        var shape: [Int] = []
        for dim in dims {
            guard let value = Int(dim), value >= 0 else { throw MotionError("\(source): bad dimension '\(dim)' in .npy shape") }
            shape.append(value)
        }
        let count = shape.reduce(1, *)
        let offset = headerStart + headerLength
        let width = isDouble ? 8 : 4
        guard bytes.count - offset == count * width else {
            throw MotionError("\(source): .npy holds \(bytes.count - offset) data bytes, shape \(shape) needs \(count * width)")
        }
        var scalars = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            for index in 0..<count {
                if isDouble {
                    let bits = raw.loadUnaligned(fromByteOffset: offset + 8 * index, as: UInt64.self)
                    scalars[index] = Float(Double(bitPattern: UInt64(littleEndian: bits)))
                } else {
                    let bits = raw.loadUnaligned(fromByteOffset: offset + 4 * index, as: UInt32.self)
                    scalars[index] = Float(bitPattern: UInt32(littleEndian: bits))
                }
            }
        }
        self.shape = shape
        self.scalars = scalars
    }

    /// The `.npy` (format 1.0, `<f4`, C order) bytes of this array.
    public func npyData() -> Data {
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(dims)), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        data.append(contentsOf: Array(header.utf8))
        var payload = [UInt8](repeating: 0, count: 4 * scalars.count)
        for (index, value) in scalars.enumerated() {
            let bits = value.bitPattern
            for byte in 0..<4 { payload[4 * index + byte] = UInt8(truncatingIfNeeded: bits >> (8 * byte)) }
        }
        data.append(contentsOf: payload)
        return data
    }
}
