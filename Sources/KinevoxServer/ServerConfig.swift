import Foundation

/// Settings of the viewer/stream server, the daemon's TOML `[server]` section plus the limits a
/// deployment may tune. A plain value; build it on any thread before `StreamServer.start()`.
public struct ServerConfig: Sendable {
    /// Address and port, "HOST:PORT". Port 0 asks the kernel for a free port (tests).
    public var listen: String = "127.0.0.1:8765"
    /// Optional bearer token. When set, WebSocket clients and `/metrics` must present it as
    /// `Authorization: Bearer TOKEN` or as the `?token=TOKEN` query argument (browsers).
    public var token: String?
    /// Browser origins allowed to open the stream, e.g. "http://localhost:8765"; "*" allows any.
    /// A page served by this server (Origin equal to "http://" + Host) and clients sending no
    /// Origin (non-browser programs) are always allowed.
    public var allowedOrigins: [String] = []
    /// Most simultaneous WebSocket clients; further handshakes get HTTP 503.
    public var maxClients: Int = 64
    /// Largest client → server message in bytes (text or one binary PCM chunk).
    public var maxMessageBytes: Int = 65_536
    /// Directory holding the viewer page (index.html, viewer.js), served at `/`.
    public var viewerDirectory: String = ServerConfig.installedViewerDirectory
    /// Directory holding three.js (Debian `libjs-three`), served at `/three/`.
    public var threeDirectory: String = "/usr/share/javascript/three"
    /// Messages queued for one client before it counts as stalled and is disconnected
    /// (64 ≈ 3 s of frames at 20 fps).
    public var maxQueuedMessages: Int = 64
    /// Kernel send buffer per WebSocket client, bytes (SO_SNDBUF). Small enough that a client
    /// that stops reading fills it within seconds and is then cut by `maxQueuedMessages`; at
    /// 20 frames of ≈ 0.6 kB per second it still covers seconds of network hiccups.
    public var socketSendBufferBytes: Int = 65_536
    /// Longest push-to-talk upload, seconds of audio: the 30 s `kinevox generate` accepts from a file
    /// (`WAVFile.defaultLimitSeconds`), room for silence around one command.
    public var maxUploadSeconds: Double = 30
    /// Push-to-talk uploads one client may start per minute.
    public var maxUploadsPerMinute: Int = 12

    /// Where `make install` puts the viewer (PREFIX=/usr/local).
    public static let installedViewerDirectory = "/usr/local/share/kinevox/viewer"

    /// A configuration with every field at its default.
    public init() {}

    /// The host and port of `listen`, or an error naming the bad value.
    public func listenAddress() throws -> (host: String, port: Int) {
        guard let colon = listen.lastIndex(of: ":"),
              let port = Int(listen[listen.index(after: colon)...]), (0...65_535).contains(port)
        else {
            throw ServerError.invalidConfig("listen must be HOST:PORT (e.g. \"127.0.0.1:8765\"), got \"\(listen)\"")
        }
        var host = String(listen[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }  // "[::1]:8765"
        guard !host.isEmpty else {
            throw ServerError.invalidConfig("listen has no host part: \"\(listen)\"")
        }
        return (host, port)
    }

    /// `listen` as the numeric address libwebsockets binds, and its port. libwebsockets reads a non-numeric
    /// host as a network interface name ("localhost" is none), so host names are resolved here, IPv4 first;
    /// a name that does not resolve is an error naming it. Wildcards ("0.0.0.0", "::") stay as written.
    public func bindAddress() throws -> (host: String, port: Int) {
        let (host, port) = try listenAddress()
        if Self.isNumericAddress(host) { return (host, port) }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var results: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &results)
        guard status == 0, let results else {
            throw ServerError.invalidConfig("listen host \"\(host)\" does not resolve (\(String(cString: gai_strerror(status)))); "
                                            + "write an address such as \"127.0.0.1:\(port)\"")
        }
        defer { freeaddrinfo(results) }
        var addresses: [String] = []
        var entry: UnsafeMutablePointer<addrinfo>? = results
        while let current = entry {
            var text = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(current.pointee.ai_addr, current.pointee.ai_addrlen, &text, socklen_t(text.count), nil, 0,
                           NI_NUMERICHOST) == 0 {
                addresses.append(String(cString: text))
            }
            entry = current.pointee.ai_next
        }
        guard let chosen = addresses.first(where: { $0.contains(".") }) ?? addresses.first else {
            throw ServerError.invalidConfig("listen host \"\(host)\" resolves to no usable address")
        }
        return (chosen, port)
    }

    /// True when `listen` binds a loopback address only (127.0.0.0/8 or ::1), so other hosts cannot connect.
    public var listensOnLoopbackOnly: Bool {
        guard let host = try? bindAddress().host else { return false }
        return host.hasPrefix("127.") || host == "::1"
    }

    private static func isNumericAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    /// Checks every limit; the error names the field and the accepted range.
    public func validate() throws {
        _ = try bindAddress()
        if maxClients < 1 { throw ServerError.invalidConfig("max_clients must be ≥ 1, got \(maxClients)") }
        if maxMessageBytes < 1024 {
            throw ServerError.invalidConfig("max_message_bytes must be ≥ 1024, got \(maxMessageBytes)")
        }
        if maxQueuedMessages < 2 {
            throw ServerError.invalidConfig("max_queued_messages must be ≥ 2, got \(maxQueuedMessages)")
        }
        if socketSendBufferBytes < 4096 {
            throw ServerError.invalidConfig("socket_send_buffer_bytes must be ≥ 4096, got \(socketSendBufferBytes)")
        }
        if !(maxUploadSeconds > 0) {
            throw ServerError.invalidConfig("max_upload_seconds must be > 0, got \(maxUploadSeconds)")
        }
        if maxUploadsPerMinute < 1 {
            throw ServerError.invalidConfig("max_uploads_per_minute must be ≥ 1, got \(maxUploadsPerMinute)")
        }
    }
}

/// Failures of the server module, each with a message a user can act on.
public enum ServerError: Error, CustomStringConvertible {
    case invalidConfig(String)
    case startFailed(String)
    case invalidMotion(String)

    public var description: String {
        switch self {
        case .invalidConfig(let m): return "server config: \(m)"
        case .startFailed(let m): return "server start: \(m)"
        case .invalidMotion(let m): return "motion: \(m)"
        }
    }
}
