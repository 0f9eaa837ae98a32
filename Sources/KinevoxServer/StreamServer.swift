import CWebSockets
import Foundation
import KinevoxMotion

/// The libwebsockets server: one port serves the viewer page (`/`), three.js (`/three/`),
/// `/healthz`, `/metrics` and the WebSocket stream (`/`, subprotocol `kinevox.v1`, or none).
///
/// Threads: libwebsockets runs on the server's own service thread, which alone touches sockets
/// and client sessions. Other threads call `broadcast` (any thread); the message is queued in an
/// outbox and the service thread is woken with `lws_cancel_service`. Each client has a bounded
/// queue; a client whose queue is full is disconnected, so a slow client never delays the others
/// or the caller. `onUtterance` is called on the service thread and must return quickly.
public final class StreamServer: @unchecked Sendable {
    /// The configuration the server was built with.
    public let config: ServerConfig
    /// Where the server counts what it does.
    public let metrics: ServerMetrics
    /// Receives each push-to-talk upload once its `audio.end` arrives (service thread). Set before `start()`.
    public var onUtterance: ((Utterance) -> Void)?
    /// The model's command list as a JSON object, sent in `hello.commands` (the viewer's "try saying…"
    /// panel). Set before `start()`.
    public var commandsJSON: String?

    private let log: (String) -> Void
    private let lock = NSLock()
    private var context: OpaquePointer?
    private var outbox: [(target: Int?, message: OutboundMessage)] = []
    private var lastPose = Skeleton.standingPose
    private var microphone: MicrophoneStatus?
    private var stopRequested = false
    private var listenPort = 0
    private let serviceStopped = DispatchSemaphore(value: 0)
    private let cStrings: CStringTable
    private var protocols: UnsafeMutablePointer<lws_protocols>?
    private var mounts: UnsafeMutablePointer<lws_http_mount>?
    private var vhostOptions: UnsafeMutablePointer<lws_protocol_vhost_options>?

    // Service thread only.
    private var sessions: [OpaquePointer: ClientSession] = [:]
    private var sessionsByID: [Int: ClientSession] = [:]
    private var nextClientID = 1
    private var httpReplies: [OpaquePointer: [UInt8]] = [:]

    /// Protocol name clients may request; clients naming none get the same service.
    public static let subprotocol = "kinevox.v1"

    /// A stopped server; `log` receives one line per notable event (default: stderr).
    public init(config: ServerConfig, metrics: ServerMetrics = ServerMetrics(),
                log: @escaping (String) -> Void = logToStandardError) {
        self.config = config
        self.metrics = metrics
        self.log = log
        self.cStrings = CStringTable()
    }

    deinit {
        stop()
        releaseContextTables()
    }

    private func releaseContextTables() {
        protocols?.deallocate()
        mounts?.deallocate()
        vhostOptions?.deallocate()
        protocols = nil
        mounts = nil
        vhostOptions = nil
    }

    /// The TCP port the server listens on (useful when `listen` names port 0), 0 before `start()`.
    public var port: Int { lock.withLock { listenPort } }

    /// Creates the libwebsockets context, binds the port and starts the service thread.
    public func start() throws {
        try config.validate()
        guard lock.withLock({ context == nil }) else { return }
        let (host, port) = try config.bindAddress()
        checkAssetDirectories()
        releaseContextTables()  // from an earlier start(), if any; its context is gone

        let protocols = UnsafeMutablePointer<lws_protocols>.allocate(capacity: 3)
        protocols.initialize(repeating: lws_protocols(), count: 3)
        protocols[0].name = cStrings.keep("http")
        protocols[0].callback = kinevoxServiceCallback
        protocols[1].name = cStrings.keep(Self.subprotocol)
        protocols[1].callback = kinevoxServiceCallback
        protocols[1].rx_buffer_size = 16_384
        self.protocols = protocols

        // The stream protocol is the default for clients that name no subprotocol.
        let options = UnsafeMutablePointer<lws_protocol_vhost_options>.allocate(capacity: 2)
        options.initialize(repeating: lws_protocol_vhost_options(), count: 2)
        options[1].name = cStrings.keep("default")
        options[1].value = cStrings.keep("1")
        options[0].name = cStrings.keep(Self.subprotocol)
        options[0].value = cStrings.keep("")
        options[0].options = UnsafePointer(options + 1)
        self.vhostOptions = options

        let mountSpecs: [(point: String, origin: String, def: String?, kind: lws_mount_protocols)] = [
            ("/", config.viewerDirectory, "index.html", LWSMPRO_FILE),
            ("/three", config.threeDirectory, nil, LWSMPRO_FILE),
            ("/healthz", "http", nil, LWSMPRO_CALLBACK),
            ("/metrics", "http", nil, LWSMPRO_CALLBACK),
        ]
        let mounts = UnsafeMutablePointer<lws_http_mount>.allocate(capacity: mountSpecs.count)
        mounts.initialize(repeating: lws_http_mount(), count: mountSpecs.count)
        for (i, spec) in mountSpecs.enumerated() {
            mounts[i].mountpoint = cStrings.keep(spec.point)
            mounts[i].mountpoint_len = UInt8(spec.point.utf8.count)
            mounts[i].origin = cStrings.keep(spec.origin)
            mounts[i].def = spec.def.map { cStrings.keep($0) }
            mounts[i].origin_protocol = UInt8(spec.kind.rawValue)
            if i + 1 < mountSpecs.count { mounts[i].mount_next = UnsafePointer(mounts + i + 1) }
        }
        self.mounts = mounts

        lws_set_log_level(Int32(LLL_ERR | LLL_WARN), logLibWebSocketsLine)
        LibWebSocketsLog.starting(true)
        defer { LibWebSocketsLog.starting(false) }
        var info = lws_context_creation_info()
        info.port = Int32(port)
        info.iface = cStrings.keep(host)
        info.protocols = UnsafePointer(protocols)
        info.mounts = UnsafePointer(mounts)
        info.pvo = UnsafePointer(options)
        // Without FAIL_UPON_UNABLE_TO_BIND libwebsockets creates a context that listens nowhere when the bind fails.
        info.options = UInt64(LWS_SERVER_OPTION_VALIDATE_UTF8) | UInt64(LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND)
        if host.contains(".") { info.options |= UInt64(LWS_SERVER_OPTION_DISABLE_IPV6) }
        info.user = Unmanaged.passUnretained(self).toOpaque()
        guard let context = lws_create_context(&info) else {
            throw ServerError.startFailed("cannot listen on \(config.listen) (address in use or not local?)")
        }
        let vhost = lws_get_vhost_by_name(context, "default")
        let bound = vhost.map { Int(lws_get_vhost_listen_port($0)) } ?? 0
        guard bound > 0 else {
            lws_context_destroy(context)
            throw ServerError.startFailed("cannot listen on \(config.listen): libwebsockets bound no port")
        }
        lock.withLock {
            self.context = context
            self.listenPort = bound
            self.stopRequested = false
        }
        let thread = Thread { [self] in serve() }
        thread.name = "kinevox.lws-service"
        thread.qualityOfService = .userInteractive
        thread.start()
        log("serving viewer, stream, /healthz and /metrics on http://\(host):\(bound)/")
    }

    /// Stops the service thread and closes every connection. Safe to call twice.
    public func stop() {
        let context: OpaquePointer? = lock.withLock {
            guard let c = self.context else { return nil }
            stopRequested = true
            lws_cancel_service(c)
            return c
        }
        guard let context else { return }
        serviceStopped.wait()
        lws_context_destroy(context)
        lock.withLock {
            self.context = nil
            listenPort = 0
            outbox.removeAll()
        }
        sessions.removeAll()
        sessionsByID.removeAll()
        httpReplies.removeAll()
        metrics.setClients(0)
    }

    /// Sends `message` to every WebSocket client. Any thread; never blocks on a client.
    public func broadcast(_ message: ServerMessage) {
        enqueue(message, to: nil)
    }

    /// Records the server microphone's state for `hello` and tells every client (`microphone` message). Any thread.
    public func setMicrophone(_ status: MicrophoneStatus) {
        let changed = lock.withLock { () -> Bool in
            defer { microphone = status }
            return microphone != status
        }
        if changed { broadcast(.microphone(status)) }
    }

    /// Sends `message` to client number `client` only (see `Utterance.Origin.upload`). Any thread.
    public func send(_ message: ServerMessage, toClient client: Int) {
        enqueue(message, to: client)
    }

    private func enqueue(_ message: ServerMessage, to client: Int?) {
        let outbound = OutboundMessage(text: message.json, isFrame: message.isFrame)
        lock.withLock {
            if case .frame(_, _, let joints, _) = message { lastPose = joints }
            guard let context else { return }
            outbox.append((client, outbound))
            lws_cancel_service(context)
        }
    }

    private func serve() {
        guard let context = lock.withLock({ self.context }) else { return }
        while !lock.withLock({ stopRequested }) {
            if lws_service(context, 0) < 0 { break }
        }
        serviceStopped.signal()
    }

    private func checkAssetDirectories() {
        let files = FileManager.default
        if !files.fileExists(atPath: config.viewerDirectory + "/index.html") {
            log("viewer page missing: no index.html in \(config.viewerDirectory) (set the viewer directory, or run make install)")
        }
        if !files.fileExists(atPath: config.threeDirectory + "/three.min.js") {
            log("three.js missing: no three.min.js in \(config.threeDirectory); install the Debian package libjs-three (the viewer page will say so)")
        }
    }

    // MARK: service thread

    fileprivate func handle(_ wsi: OpaquePointer, _ reason: lws_callback_reasons, _ user: UnsafeMutableRawPointer?,
                            _ input: UnsafeMutableRawPointer?, _ length: Int) -> Int32 {
        switch reason {
        case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
            drainOutbox()
            return 0
        case LWS_CALLBACK_HTTP:
            return answerHTTP(wsi)
        case LWS_CALLBACK_HTTP_WRITEABLE:
            if let body = httpReplies.removeValue(forKey: wsi) {
                return writeHTTPBody(wsi, body)
            }
        case LWS_CALLBACK_CLOSED_HTTP:
            httpReplies.removeValue(forKey: wsi)
        case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
            if let refusal = admissionRefusal(wsi) {
                log("refused WebSocket client: \(refusal.reason)")
                _ = lws_return_http_status(wsi, refusal.status, refusal.reason)
                return -1
            }
            return 0
        case LWS_CALLBACK_ESTABLISHED:
            var sendBuffer = Int32(config.socketSendBufferBytes)
            setsockopt(lws_get_socket_fd(wsi), SOL_SOCKET, SO_SNDBUF, &sendBuffer, socklen_t(MemoryLayout<Int32>.size))
            let session = ClientSession(id: nextClientID, wsi: wsi, config: config)
            nextClientID += 1
            sessions[wsi] = session
            sessionsByID[session.id] = session
            metrics.setClients(sessions.count)
            let (pose, microphone) = lock.withLock { (lastPose, self.microphone) }
            let hello = ServerMessage.hello(pose: pose, microphone: microphone, commandsJSON: commandsJSON)
            deliver(OutboundMessage(text: hello.json, isFrame: false), to: session)
            return 0
        case LWS_CALLBACK_CLOSED:
            if let session = sessions.removeValue(forKey: wsi) {
                sessionsByID.removeValue(forKey: session.id)
                metrics.setClients(sessions.count)
            }
            return 0
        case LWS_CALLBACK_SERVER_WRITEABLE:
            return writeNext(wsi)
        case LWS_CALLBACK_RECEIVE:
            if let session = sessions[wsi], let input {
                receive(session, UnsafeRawBufferPointer(start: input, count: length))
            }
            return 0
        default:
            break
        }
        return lws_callback_http_dummy(wsi, reason, user, input, length)
    }

    private func drainOutbox() {
        let items: [(target: Int?, message: OutboundMessage)] = lock.withLock {
            let items = outbox
            outbox.removeAll(keepingCapacity: true)
            return items
        }
        for item in items {
            if let target = item.target {
                if let session = sessionsByID[target] { deliver(item.message, to: session) }
            } else {
                for session in sessions.values { deliver(item.message, to: session) }
            }
        }
    }

    /// Queues a message for one client, or cuts the client when its queue is full.
    private func deliver(_ message: OutboundMessage, to session: ClientSession) {
        guard !session.isCut else { return }
        if session.queue.count >= config.maxQueuedMessages {
            session.isCut = true
            let droppedFrames = session.queue.reduce(message.isFrame ? 1 : 0) { $0 + ($1.isFrame ? 1 : 0) }
            session.queue.removeAll()
            metrics.recordFramesDropped(droppedFrames)
            metrics.recordClientDropped()
            log("client \(session.id) disconnected: too slow (\(config.maxQueuedMessages) messages queued)")
            lws_set_timeout(session.wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC)
            return
        }
        session.queue.append(message)
        if session.queue.count == 1 { lws_callback_on_writable(session.wsi) }
    }

    private func writeNext(_ wsi: OpaquePointer) -> Int32 {
        guard let session = sessions[wsi] else { return 0 }
        if session.isCut { return -1 }
        guard !session.queue.isEmpty else { return 0 }
        let message = session.queue.removeFirst()
        let written = lws_write(wsi, message.payload, message.count, LWS_WRITE_TEXT)
        if written < Int32(message.count) { return -1 }
        if message.isFrame { metrics.recordFramesSent(1) }
        if !session.queue.isEmpty { lws_callback_on_writable(wsi) }
        return 0
    }

    private func refuse(_ session: ClientSession, _ reason: String) {
        metrics.recordRefusal()
        deliver(OutboundMessage(text: ServerMessage.error(message: reason).json, isFrame: false), to: session)
    }

    private func receive(_ session: ClientSession, _ bytes: UnsafeRawBufferPointer) {
        let wsi = session.wsi
        let events = session.input.receive(bytes, isBinary: lws_frame_is_binary(wsi) != 0,
                                           isFinal: lws_is_final_fragment(wsi) != 0 && lws_remaining_packet_payload(wsi) == 0,
                                           now: ProcessInfo.processInfo.systemUptime)
        for event in events {
            switch event {
            case .refusal(let reason):
                refuse(session, reason)
            case .upload(let samples, let rate):
                if let onUtterance {
                    onUtterance(Utterance(samples: samples, sampleRate: rate, origin: .upload(client: session.id)))
                } else {
                    refuse(session, "push-to-talk is not available on this server")
                }
            }
        }
    }

    private struct Refusal {
        let status: UInt32
        let reason: String
    }

    private func admissionRefusal(_ wsi: OpaquePointer) -> Refusal? {
        if sessions.count >= config.maxClients {
            return Refusal(status: UInt32(HTTP_STATUS_SERVICE_UNAVAILABLE.rawValue),
                           reason: "server full (max_clients \(config.maxClients))")
        }
        if !tokenAccepted(wsi) {
            return Refusal(status: UInt32(HTTP_STATUS_UNAUTHORIZED.rawValue),
                           reason: "missing or wrong token (Authorization: Bearer, or ?token=)")
        }
        if let origin = Self.header(wsi, WSI_TOKEN_ORIGIN), !origin.isEmpty {
            let host = Self.header(wsi, WSI_TOKEN_HOST) ?? ""
            let allowed = config.allowedOrigins.contains("*") || config.allowedOrigins.contains(origin)
                || origin == "http://" + host
            if !allowed {
                return Refusal(status: UInt32(HTTP_STATUS_FORBIDDEN.rawValue),
                               reason: "origin \(origin) is not in allowed_origins")
            }
        }
        return nil
    }

    private func tokenAccepted(_ wsi: OpaquePointer) -> Bool {
        guard let token = config.token, !token.isEmpty else { return true }
        var presented: String?
        if let auth = Self.header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION), auth.hasPrefix("Bearer ") {
            presented = String(auth.dropFirst("Bearer ".count))
        } else {
            var buffer = [CChar](repeating: 0, count: 512)
            if let value = lws_get_urlarg_by_name(wsi, "token=", &buffer, Int32(buffer.count)) {
                presented = String(cString: value)
            }
        }
        guard let presented else { return false }
        return Self.constantTimeEqual(Array(presented.utf8), Array(token.utf8))
    }

    private static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }

    private static func header(_ wsi: OpaquePointer, _ token: lws_token_indexes) -> String? {
        let length = Int(lws_hdr_total_length(wsi, token))
        guard length > 0 else { return nil }
        var buffer = [CChar](repeating: 0, count: length + 1)
        guard lws_hdr_copy(wsi, &buffer, Int32(buffer.count), token) >= 0 else { return nil }
        return String(cString: buffer)
    }

    private func answerHTTP(_ wsi: OpaquePointer) -> Int32 {
        let path = Self.header(wsi, WSI_TOKEN_GET_URI) ?? ""
        let status: Int32
        let contentType: String
        let body: String
        switch path {
        case "/healthz":
            status = 200
            contentType = "application/json"
            let clients = sessions.count
            body = "{\"status\":\"ok\",\"clients\":\(clients),\"version\":1}\n"
        case "/metrics":
            if tokenAccepted(wsi) {
                status = 200
                contentType = "text/plain; version=0.0.4; charset=utf-8"
                body = metrics.render()
            } else {
                status = 401
                contentType = "text/plain; charset=utf-8"
                body = "missing or wrong token (Authorization: Bearer, or ?token=)\n"
            }
        default:
            status = 404
            contentType = "text/plain; charset=utf-8"
            body = "not found\n"
        }
        let bytes = Array(body.utf8)
        var headers = [UInt8](repeating: 0, count: Int(kv_lws_pre) + 1024)
        let failed = headers.withUnsafeMutableBufferPointer { buffer -> Bool in
            let start = buffer.baseAddress! + Int(kv_lws_pre)
            let end = buffer.baseAddress! + buffer.count
            var cursor: UnsafeMutablePointer<UInt8>? = start
            if lws_add_http_common_headers(wsi, UInt32(status), contentType, lws_filepos_t(bytes.count), &cursor, end) != 0 {
                return true
            }
            return lws_finalize_write_http_header(wsi, start, &cursor, end) != 0
        }
        if failed { return 1 }
        httpReplies[wsi] = bytes
        lws_callback_on_writable(wsi)
        return 0
    }

    private func writeHTTPBody(_ wsi: OpaquePointer, _ body: [UInt8]) -> Int32 {
        let message = OutboundMessage(bytes: body, isFrame: false)
        if lws_write(wsi, message.payload, message.count, LWS_WRITE_HTTP_FINAL) < Int32(message.count) { return 1 }
        return lws_http_transaction_completed(wsi) != 0 ? -1 : 0
    }
}

/// Writes one log line to stderr (journald keeps it); the default log of the server's classes.
public func logToStandardError(_ line: String) {
    FileHandle.standardError.write(Data(("kinevox: " + line + "\n").utf8))
}

/// Where libwebsockets' own error and warning lines go. Its log is process-wide (`lws_set_log_level`), so
/// this is one sink for every server; the default writes to stderr like `logToStandardError`. Lines written
/// while a server is starting arrive with `duringStart` true: a failed start is then explained by the
/// `ServerError` that `start()` throws, so a program may log them below its own error. Any thread.
public enum LibWebSocketsLog {
    /// How serious libwebsockets said a line is.
    public enum Severity: Sendable {
        case error
        case warning
    }

    /// One line from libwebsockets, without its trailing newline.
    public typealias Sink = @Sendable (_ severity: Severity, _ line: String, _ duringStart: Bool) -> Void

    private static let lock = NSLock()
    nonisolated(unsafe) private static var sink: Sink = { _, line, _ in logToStandardError("libwebsockets: " + line) }
    nonisolated(unsafe) private static var startsInProgress = 0

    /// Sends every later libwebsockets line to `sink`.
    public static func route(to sink: @escaping Sink) {
        lock.withLock { self.sink = sink }
    }

    static func starting(_ begins: Bool) {
        lock.withLock { startsInProgress += begins ? 1 : -1 }
    }

    fileprivate static func emit(level: Int32, _ line: String) {
        let (sink, duringStart) = lock.withLock { (self.sink, startsInProgress > 0) }
        sink(level & Int32(LLL_ERR) != 0 ? .error : .warning, line, duringStart)
    }
}

/// libwebsockets' log callback (any thread): hands the line to `LibWebSocketsLog`'s sink.
private func logLibWebSocketsLine(_ level: Int32, _ line: UnsafePointer<CChar>?) {
    guard let line else { return }
    LibWebSocketsLog.emit(level: level, String(cString: line).trimmingCharacters(in: .whitespacesAndNewlines))
}

/// The libwebsockets callback for both protocols; a top-level function as C requires. Finds the
/// server through the context's user pointer. Service thread only.
private func kinevoxServiceCallback(_ wsi: OpaquePointer?, _ reason: lws_callback_reasons,
                                    _ user: UnsafeMutableRawPointer?, _ input: UnsafeMutableRawPointer?,
                                    _ length: Int) -> Int32 {
    guard let wsi, let context = lws_get_context(wsi), let server = lws_context_user(context) else {
        return lws_callback_http_dummy(wsi, reason, user, input, length)
    }
    return Unmanaged<StreamServer>.fromOpaque(server).takeUnretainedValue().handle(wsi, reason, user, input, length)
}

/// One encoded message with the LWS_PRE head room libwebsockets writes its frame header into.
/// Built on any thread, then read only by the service thread; shared by every client's queue.
final class OutboundMessage {
    private let storage: UnsafeMutablePointer<UInt8>
    let count: Int
    let isFrame: Bool

    init(bytes: [UInt8], isFrame: Bool) {
        let pre = Int(kv_lws_pre)
        storage = .allocate(capacity: pre + bytes.count)
        storage.initialize(repeating: 0, count: pre)
        (storage + pre).initialize(from: bytes, count: bytes.count)
        count = bytes.count
        self.isFrame = isFrame
    }

    convenience init(text: String, isFrame: Bool) {
        self.init(bytes: Array(text.utf8), isFrame: isFrame)
    }

    /// The payload's first byte (LWS_PRE bytes after the buffer start).
    var payload: UnsafeMutablePointer<UInt8> { storage + Int(kv_lws_pre) }

    deinit { storage.deallocate() }
}

/// One WebSocket client's state. Service thread only.
final class ClientSession {
    let id: Int
    let wsi: OpaquePointer
    /// Messages from the client (fragments, limits, push-to-talk).
    let input: ClientInput
    var queue: [OutboundMessage] = []
    var isCut = false

    init(id: Int, wsi: OpaquePointer, config: ServerConfig) {
        self.id = id
        self.wsi = wsi
        self.input = ClientInput(config: config)
    }
}

/// C strings handed to libwebsockets, kept alive (and freed) with the server.
final class CStringTable {
    private var strings: [UnsafeMutablePointer<CChar>] = []

    func keep(_ s: String) -> UnsafePointer<CChar> {
        let copy = strdup(s)!
        strings.append(copy)
        return UnsafePointer(copy)
    }

    deinit { strings.forEach { free($0) } }
}
