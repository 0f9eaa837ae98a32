import Foundation

/// Explains why the server could not listen, by trying to bind the same address itself: libwebsockets
/// only reports that creating its context failed. Main thread, at start only.
enum ListenProbe {
    /// A one-line reason for `listen` ("HOST:PORT") being unusable, or `fallback` when binding works now.
    static func explain(listen: String, fallback: String) -> String {
        guard let colon = listen.lastIndex(of: ":"), let port = UInt16(listen[listen.index(after: colon)...]) else {
            return fallback
        }
        var host = String(listen[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var results: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &results)
        guard status == 0, let first = results else {
            return "cannot listen on \(listen): unknown host \(host) (\(String(cString: gai_strerror(status))))"
        }
        defer { freeaddrinfo(results) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { return fallback }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 {
            switch errno {
            case EADDRINUSE:
                return "cannot listen on \(listen): port \(port) is already in use by another program ([server] listen)"
            case EADDRNOTAVAIL:
                return "cannot listen on \(listen): \(host) is not an address of this machine ([server] listen)"
            case EACCES:
                return "cannot listen on \(listen): port \(port) needs privileges ([server] listen)"
            default:
                return "cannot listen on \(listen): \(String(cString: strerror(errno)))"
            }
        }
        return fallback
    }
}
