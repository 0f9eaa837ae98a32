import Foundation

/// Tells systemd how the service is doing (the sd_notify protocol, without libsystemd).
///
/// Each state change is one datagram on an AF_UNIX socket named by `NOTIFY_SOCKET`: a file-system path,
/// or an abstract-namespace name written with a leading `@`. Without `NOTIFY_SOCKET` every call does
/// nothing, so the daemon runs the same in a terminal. Any thread may call it; each call opens, sends on
/// and closes its own socket.
struct ServiceNotifier {
    /// The socket address from `NOTIFY_SOCKET`, or nil when the daemon was not started by systemd.
    let socketName: String?
    /// Half of `WATCHDOG_USEC` when systemd asked this process for keep-alive pings, else nil.
    let watchdogInterval: TimeInterval?

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let name = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        socketName = name
        let pidMatches = environment["WATCHDOG_PID"].map { Int32($0) == getpid() } ?? true
        if name != nil, pidMatches, let usec = environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0 {
            watchdogInterval = TimeInterval(usec) / 2_000_000
        } else {
            watchdogInterval = nil
        }
    }

    /// Sends `state` (for example "READY=1" or "STATUS=…\nREADY=1") as one datagram.
    /// Returns a reason when sending failed; nil when it was sent or there is nobody to tell.
    @discardableResult
    func send(_ state: String) -> String? {
        guard let name = socketName else { return nil }
        guard name.hasPrefix("/") || name.hasPrefix("@") else {
            return "NOTIFY_SOCKET=\(name) is neither a path nor an abstract name"
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(name.utf8)
        let abstract = pathBytes.first == UInt8(ascii: "@")
        if abstract { pathBytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard pathBytes.count < capacity else { return "NOTIFY_SOCKET path is too long" }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
        }
        // Abstract names are exactly as long as given; paths include their terminating zero.
        let length = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + pathBytes.count + (abstract ? 0 : 1)

        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return "cannot create a notify socket: \(String(cString: strerror(errno)))" }
        defer { close(fd) }
        let payload = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                payload.withUnsafeBytes { bytes in
                    sendto(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), socketAddress, socklen_t(length))
                }
            }
        }
        if sent != payload.count {
            return "cannot notify systemd at \(name): \(String(cString: strerror(errno)))"
        }
        return nil
    }
}
