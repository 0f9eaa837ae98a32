import Foundation

/// The systemd side of sd_notify for tests: an AF_UNIX datagram socket bound to a path or an abstract
/// name, read with a timeout. Used on the test thread only.
final class NotifySocket {
    /// The value to put in `NOTIFY_SOCKET` (`@name` for the abstract namespace).
    let address: String
    private let fd: Int32

    init(abstract: Bool, folder: URL) throws {
        address = abstract ? "@kinevoxd-test-\(getpid())-\(UUID().uuidString.prefix(8))"
                           : folder.appendingPathComponent("notify.sock").path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno)!) }
        var socketAddress = sockaddr_un()
        socketAddress.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(address.utf8)
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &socketAddress.sun_path) { $0.copyBytes(from: bytes) }
        let length = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + (abstract ? 0 : 1)
        let result = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(length)) }
        }
        guard result == 0 else { throw POSIXError(.init(rawValue: errno)!) }
    }

    deinit { close(fd) }

    /// The next datagram, or nil when none arrives within `timeout` seconds.
    func receive(timeout: TimeInterval) -> String? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(timeout * 1000)) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(fd, &buffer, buffer.count, 0)
        guard count >= 0 else { return nil }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }

    /// Datagrams until one contains `line` as a whole line (returned), or nil at `timeout`.
    func receive(containing line: String, timeout: TimeInterval) -> String? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while case let left = deadline.timeIntervalSinceNow, left > 0 {
            guard let message = receive(timeout: left) else { return nil }
            if message.split(separator: "\n").contains(Substring(line)) { return message }
        }
        return nil
    }
}
