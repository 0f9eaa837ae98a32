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
    /// Longest push-to-talk upload, seconds of audio.
    public var maxUploadSeconds: Double = 15
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

    /// Checks every limit; the error names the field and the accepted range.
    public func validate() throws {
        _ = try listenAddress()
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
