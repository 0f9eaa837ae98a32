import Foundation

/// A minimal RFC 6455 WebSocket client over a blocking TCP socket, enough to watch kinevoxd's stream and
/// upload push-to-talk audio in tests: text and binary messages, pings answered. Test thread only.
final class WebSocketTestClient {
    private let fd: Int32
    private var buffer: [UInt8] = []

    struct Failure: Error, CustomStringConvertible { let description: String }

    /// Connects to `host:port` and completes the handshake for subprotocol `kinevox.v1`.
    init(host: String = "127.0.0.1", port: Int, timeout: TimeInterval = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { close(fd); throw Failure(description: "connect to \(host):\(port): errno \(errno)") }
        var limit = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        try writeAll(Array(("GET / HTTP/1.1\r\nHost: \(host):\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: kinevox.v1\r\n\r\n").utf8))
        let terminator: [UInt8] = Array("\r\n\r\n".utf8)
        while true {
            if let range = findSequence(terminator) {
                let head = String(decoding: buffer[..<range], as: UTF8.self)
                buffer.removeFirst(range + 4)
                guard head.hasPrefix("HTTP/1.1 101") else { close(fd); throw Failure(description: "handshake refused: \(head)") }
                return
            }
            try fill()
        }
    }

    deinit { close(fd) }

    /// The next text message as a JSON object.
    func receiveJSON() throws -> [String: Any] {
        while true {
            let (opcode, payload) = try receiveMessage()
            guard opcode == 1 else { continue }
            guard let object = try JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any] else {
                throw Failure(description: "not a JSON object: \(String(decoding: payload, as: UTF8.self))")
            }
            return object
        }
    }

    func sendJSON(_ object: [String: Any]) throws {
        try sendFrame(opcode: 1, Array(try JSONSerialization.data(withJSONObject: object)))
    }

    /// One push-to-talk utterance: `audio.begin`, s16le chunks, `audio.end`.
    func upload(samples: [Int16], sampleRate: Int, chunkSamples: Int = 4096) throws {
        try sendJSON(["type": "audio.begin", "sample_rate": sampleRate, "encoding": "s16le"])
        var start = 0
        while start < samples.count {
            let chunk = samples[start..<min(samples.count, start + chunkSamples)]
            try sendFrame(opcode: 2, chunk.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] })
            start += chunkSamples
        }
        try sendJSON(["type": "audio.end"])
    }

    private func receiveMessage() throws -> (UInt8, [UInt8]) {
        var message: [UInt8] = []
        var messageOpcode: UInt8 = 0
        while true {
            let header = try take(2)
            let opcode = header[0] & 0x0F
            var length = Int(header[1] & 0x7F)
            if length == 126 { length = try take(2).reduce(0) { $0 << 8 | Int($1) } }
            if length == 127 { length = try take(8).reduce(0) { $0 << 8 | Int($1) } }
            let mask = header[1] & 0x80 != 0 ? try take(4) : nil
            var payload = try take(length)
            if let mask { for i in payload.indices { payload[i] ^= mask[i % 4] } }
            switch opcode {
            case 0x9: try sendFrame(opcode: 0xA, payload); continue
            case 0xA: continue
            case 0x8: throw Failure(description: "server closed the WebSocket")
            case 0x0: break
            default: messageOpcode = opcode
            }
            message += payload
            if header[0] & 0x80 != 0 { return (messageOpcode, message) }
        }
    }

    private func sendFrame(opcode: UInt8, _ payload: [UInt8]) throws {
        var frame: [UInt8] = [0x80 | opcode]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else if payload.count < 65_536 {
            frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            frame.append(0x80 | 127)
            frame += (0..<8).reversed().map { UInt8((payload.count >> ($0 * 8)) & 0xFF) }
        }
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        try writeAll(frame)
    }

    private func take(_ count: Int) throws -> [UInt8] {
        while buffer.count < count { try fill() }
        let bytes = Array(buffer[..<count])
        buffer.removeFirst(count)
        return bytes
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = recv(fd, &chunk, chunk.count, 0)
        guard count > 0 else { throw Failure(description: count == 0 ? "connection closed" : "receive timed out or failed (errno \(errno))") }
        buffer += chunk[..<count]
    }

    private func writeAll(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { throw Failure(description: "send failed (errno \(errno))") }
            offset += sent
        }
    }

    private func findSequence(_ needle: [UInt8]) -> Int? {
        guard buffer.count >= needle.count else { return nil }
        for start in 0...(buffer.count - needle.count) where Array(buffer[start..<start + needle.count]) == needle {
            return start
        }
        return nil
    }
}
