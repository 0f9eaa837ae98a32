import Foundation

/// A minimal RFC 6455 WebSocket client over a plain TCP socket, for programs that talk to a
/// Kinevox server (tests, the load benchmark, DevTools in the browser test). One instance belongs
/// to one thread at a time; nothing inside is shared.
public final class StreamClient {
    /// One received message.
    public enum Message: Equatable {
        case text(String)
        case binary([UInt8])
        /// The server closed the connection (close code, 1006 when the socket just ended).
        case closed(code: Int)
    }

    /// Why connecting or talking failed.
    public enum Failure: Error, CustomStringConvertible {
        case connect(String)
        /// The server answered the handshake with this HTTP status instead of 101.
        case refused(status: Int, body: String)
        case protocolError(String)
        case timeout

        public var description: String {
            switch self {
            case .connect(let m): return "connect: \(m)"
            case .refused(let status, let body): return "handshake refused with HTTP \(status): \(body)"
            case .protocolError(let m): return "protocol: \(m)"
            case .timeout: return "timed out"
            }
        }
    }

    /// The socket, for callers that poll many clients at once.
    public let fileDescriptor: Int32
    private var inbox: [UInt8] = []
    private var inboxStart = 0
    private var fragments: [UInt8] = []
    private var fragmentOpcode: UInt8 = 0
    private var isClosed = false

    /// Connects to `host:port`, sends the upgrade request for `path` with `headers`, and waits
    /// up to `timeout` seconds for `101 Switching Protocols`. `receiveBufferBytes` shrinks the
    /// socket's receive buffer (the load benchmark's stalled clients use it).
    public init(host: String = "127.0.0.1", port: Int, path: String = "/", headers: [String: String] = [:],
                subprotocol: String? = "kinevox.v1", receiveBufferBytes: Int? = nil, timeout: Double = 5) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure.connect(String(cString: strerror(errno))) }
        fileDescriptor = fd
        if var size = receiveBufferBytes.map(Int32.init) {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            Foundation.close(fd)
            throw Failure.connect("not an IPv4 address: \(host)")
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            Foundation.close(fd)
            throw Failure.connect("\(host):\(port): \(reason)")
        }
        do {
            try handshake(host: host, port: port, path: path, headers: headers, subprotocol: subprotocol,
                          timeout: timeout)
        } catch {
            Foundation.close(fd)
            throw error
        }
    }

    deinit { close() }

    /// Closes the socket (no close handshake).
    public func close() {
        if !isClosed {
            isClosed = true
            Foundation.close(fileDescriptor)
        }
    }

    /// Sends one text message.
    public func send(text: String) throws { try sendFrame(opcode: 0x1, payload: Array(text.utf8)) }

    /// Sends one binary message.
    public func send(binary: [UInt8]) throws { try sendFrame(opcode: 0x2, payload: binary) }

    /// The next message, waiting up to `timeout` seconds; nil on timeout.
    public func receive(timeout: Double) throws -> Message? {
        let deadline = ProcessInfo.processInfo.systemUptime + timeout
        while true {
            if let message = try nextBufferedMessage() { return message }
            let left = deadline - ProcessInfo.processInfo.systemUptime
            if left <= 0 { return nil }
            guard try fill(waiting: left) else { return .closed(code: 1006) }
        }
    }

    /// Every message that can be read now without waiting (for poll loops over many clients).
    /// Ends with `.closed` when the connection is over.
    public func receiveAvailable() throws -> [Message] {
        var out: [Message] = []
        while true {
            while let message = try nextBufferedMessage() {
                out.append(message)
                if case .closed = message { return out }
            }
            guard try fill(waiting: 0) else { out.append(.closed(code: 1006)); return out }
            if !hasFreshBytes { return out }
        }
    }

    private var hasFreshBytes = false

    private func handshake(host: String, port: Int, path: String, headers: [String: String],
                           subprotocol: String?, timeout: Double) throws {
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        var request = "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUpgrade: websocket\r\n"
            + "Connection: Upgrade\r\nSec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n"
        if let subprotocol { request += "Sec-WebSocket-Protocol: \(subprotocol)\r\n" }
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { request += "\(name): \(value)\r\n" }
        try writeAll(Array((request + "\r\n").utf8))

        let deadline = ProcessInfo.processInfo.systemUptime + timeout
        let terminator: [UInt8] = [13, 10, 13, 10]
        while true {
            if let end = Self.find(terminator, in: inbox) {
                let head = String(decoding: inbox[..<end], as: UTF8.self)
                let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
                inbox.removeFirst(end + 4)
                if status != 101 {
                    _ = try? fill(waiting: 0.2)
                    throw Failure.refused(status: status, body: String(decoding: inbox, as: UTF8.self))
                }
                return
            }
            let left = deadline - ProcessInfo.processInfo.systemUptime
            guard left > 0 else { throw Failure.timeout }
            guard try fill(waiting: left) else {
                throw Failure.refused(status: 0, body: "connection closed during the handshake")
            }
        }
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if Array(haystack[i..<i + needle.count]) == needle { return i }
        }
        return nil
    }

    /// Reads what is available, waiting up to `waiting` seconds for the first byte.
    /// False when the peer closed the connection.
    private func fill(waiting: Double) throws -> Bool {
        hasFreshBytes = false
        var descriptor = pollfd(fd: fileDescriptor, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, Int32(max(0, waiting * 1000).rounded(.up)))
        if ready < 0 {
            if errno == EINTR { return true }
            throw Failure.protocolError("poll: \(String(cString: strerror(errno)))")
        }
        if ready == 0 { return true }
        if inboxStart > 0 {
            inbox.removeFirst(inboxStart)
            inboxStart = 0
        }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let n = recv(fileDescriptor, &chunk, chunk.count, Int32(MSG_DONTWAIT))
        if n < 0 {
            if errno == EAGAIN || errno == EINTR { return true }
            return false
        }
        if n == 0 { return false }
        inbox.append(contentsOf: chunk[0..<n])
        hasFreshBytes = true
        return true
    }

    /// Decodes one complete message from the buffer, answering pings.
    private func nextBufferedMessage() throws -> Message? {
        while true {
            let available = inbox.count - inboxStart
            guard available >= 2 else { return nil }
            let b0 = inbox[inboxStart], b1 = inbox[inboxStart + 1]
            var length = Int(b1 & 0x7f)
            var offset = 2
            if length == 126 {
                guard available >= 4 else { return nil }
                length = Int(inbox[inboxStart + 2]) << 8 | Int(inbox[inboxStart + 3])
                offset = 4
            } else if length == 127 {
                guard available >= 10 else { return nil }
                length = (0..<8).reduce(0) { $0 << 8 | Int(inbox[inboxStart + 2 + $1]) }
                offset = 10
            }
            if b1 & 0x80 != 0 { throw Failure.protocolError("server frames must not be masked") }
            guard available >= offset + length else { return nil }
            let payload = Array(inbox[(inboxStart + offset)..<(inboxStart + offset + length)])
            inboxStart += offset + length
            let fin = b0 & 0x80 != 0
            let opcode = b0 & 0x0f
            switch opcode {
            case 0x8:
                let code = payload.count >= 2 ? Int(payload[0]) << 8 | Int(payload[1]) : 1005
                return .closed(code: code)
            case 0x9:
                try sendFrame(opcode: 0xA, payload: payload)
                continue
            case 0xA:
                continue
            case 0x0:
                fragments.append(contentsOf: payload)
                if fin { return finish(opcode: fragmentOpcode, payload: fragments) }
            default:
                if fin { return finish(opcode: opcode, payload: payload) }
                fragmentOpcode = opcode
                fragments = payload
            }
        }
    }

    private func finish(opcode: UInt8, payload: [UInt8]) -> Message {
        fragments = []
        return opcode == 0x1 ? .text(String(decoding: payload, as: UTF8.self)) : .binary(payload)
    }

    private func sendFrame(opcode: UInt8, payload: [UInt8]) throws {
        var frame: [UInt8] = [0x80 | opcode]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else if payload.count < 65_536 {
            frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
        } else {
            frame.append(0x80 | 127)
            frame += (0..<8).reversed().map { UInt8((payload.count >> ($0 * 8)) & 0xff) }
        }
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
        frame += mask
        frame.reserveCapacity(frame.count + payload.count)
        for (i, byte) in payload.enumerated() { frame.append(byte ^ mask[i & 3]) }
        try writeAll(frame)
    }

    private func writeAll(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Foundation.send(fileDescriptor, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure.protocolError("send: \(String(cString: strerror(errno)))")
            }
            sent += n
        }
    }
}
