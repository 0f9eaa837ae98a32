import Foundation
import KinevoxMotion

/// The server's microphone as viewers see it (`hello.microphone` and the `microphone` message). A value.
public enum MicrophoneStatus: Sendable, Equatable {
    /// The capture thread has not opened or failed yet.
    case starting
    /// Capturing from the named device or file.
    case on(device: String)
    /// Not capturing, for `reason` (retried meanwhile).
    case off(reason: String)
    /// The machine has no sound card; push-to-talk from a browser still works.
    case noSoundCard

    /// `{"state":"on|off|none|starting","detail":…}` (the object's members, without braces).
    var jsonMembers: String {
        switch self {
        case .starting: return "\"state\":\"starting\""
        case .on(let device): return "\"state\":\"on\",\"detail\":" + ServerMessage.quoted(device)
        case .off(let reason): return "\"state\":\"off\",\"detail\":" + ServerMessage.quoted(reason)
        case .noSoundCard: return "\"state\":\"none\",\"detail\":\"no sound card on the server\""
        }
    }
}

/// A server → client JSON message of protocol `kinevox.v1` (see docs/interfaces.md). Values; any thread.
public enum ServerMessage: Sendable {
    /// Sent on connect; `pose` is the avatar's current pose (its rest pose before any motion). `microphone`
    /// is the server microphone's state, and `commandsJSON` the model's command list (a JSON object, from the
    /// model file's `kinevox.commands` metadata), when known.
    case hello(pose: [SIMD3<Float>]?, microphone: MicrophoneStatus? = nil, commandsJSON: String? = nil)
    /// The server microphone changed state (`{"type":"microphone","state":…,"detail":…}`).
    case microphone(MicrophoneStatus)
    /// An utterance was closed (VAD or upload) and run through the model; `durationMs` is its audio length and
    /// `understanding` what the model understood (nil when it cannot tell: then the fields are left out).
    case utterance(id: Int, durationMs: Int, understanding: Understanding? = nil)
    /// Motion `id` starts: `frames` frames follow at 20 fps; `latencyMs` runs from the utterance's
    /// close to this message.
    case motionBegin(id: Int, frames: Int, latencyMs: Double?)
    /// Frame `index` of motion `id` in world coordinates; `sentAtMs` is the wall clock (ms since
    /// the Unix epoch) at which the playback clock released it.
    case frame(id: Int, index: Int, joints: [SIMD3<Float>], sentAtMs: Double)
    /// Motion `id` finished, or was `interrupted` by a newer one.
    case motionEnd(id: Int, interrupted: Bool)
    /// A client message was refused; the connection stays open.
    case error(message: String)

    /// True for `frame` messages (counted in frame metrics).
    var isFrame: Bool { if case .frame = self { return true } else { return false } }

    /// The JSON text of the message.
    public var json: String {
        switch self {
        case .hello(let pose, let microphone, let commandsJSON):
            let names = Skeleton.jointNames.map { "\"\($0)\"" }.joined(separator: ",")
            var s = "{\"type\":\"hello\",\"version\":1,\"fps\":\(Skeleton.fps),\"joints\":[\(names)]"
            if let pose { s += ",\"pose\":" + Self.encodeJoints(pose) }
            if let microphone { s += ",\"microphone\":{" + microphone.jsonMembers + "}" }
            if let commandsJSON { s += ",\"commands\":" + commandsJSON }
            return s + "}"
        case .microphone(let status):
            return "{\"type\":\"microphone\"," + status.jsonMembers + "}"
        case .utterance(let id, let durationMs, let understanding):
            var s = "{\"type\":\"utterance\",\"id\":\(id),\"duration_ms\":\(durationMs)"
            if let understanding {
                s += ",\"understood\":\(understanding.understood),\"action\":" + Self.quoted(understanding.action)
                    + ",\"confidence\":" + Self.decimal(Double(understanding.confidence), places: 3)
            }
            return s + "}"
        case .motionBegin(let id, let frames, let latencyMs):
            var s = "{\"type\":\"motion.begin\",\"id\":\(id),\"frames\":\(frames),\"fps\":\(Skeleton.fps)"
            if let latencyMs { s += ",\"latency_ms\":\(Int(latencyMs.rounded()))" }
            return s + "}"
        case .frame(let id, let index, let joints, let sentAtMs):
            return "{\"type\":\"frame\",\"id\":\(id),\"i\":\(index),\"t\":\(Self.decimal(sentAtMs, places: 3)),"
                + "\"joints\":\(Self.encodeJoints(joints))}"
        case .motionEnd(let id, let interrupted):
            return "{\"type\":\"motion.end\",\"id\":\(id)" + (interrupted ? ",\"interrupted\":true}" : "}")
        case .error(let message):
            return "{\"type\":\"error\",\"message\":\(Self.quoted(message))}"
        }
    }

    /// `[[x,y,z],…]` with millimetre precision.
    static func encodeJoints(_ joints: [SIMD3<Float>]) -> String {
        var s = "["
        s.reserveCapacity(joints.count * 24)
        for (j, p) in joints.enumerated() {
            if j > 0 { s += "," }
            s += "[" + decimal(Double(p.x), places: 3) + "," + decimal(Double(p.y), places: 3) + ","
                + decimal(Double(p.z), places: 3) + "]"
        }
        return s + "]"
    }

    /// A fixed-point decimal without exponent (JSON-safe, faster than String(format:)).
    static func decimal(_ value: Double, places: Int) -> String {
        guard value.isFinite else { return "0" }
        guard abs(value) < 1e12 else { return String(value) }  // beyond Int64 fixed point; still valid JSON
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let scaled = Int64((value * scale).rounded())
        let magnitude = scaled.magnitude
        let whole = magnitude / UInt64(scale)
        var fraction = String(magnitude % UInt64(scale))
        while fraction.count < places { fraction = "0" + fraction }
        return (scaled < 0 ? "-" : "") + String(whole) + "." + fraction
    }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String {
        var s = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": s += "\\\""
            case "\\": s += "\\\\"
            case "\n": s += "\\n"
            case "\r": s += "\\r"
            case "\t": s += "\\t"
            default:
                if scalar.value < 0x20 {
                    s += "\\u" + String(format: "%04x", scalar.value)
                } else {
                    s.unicodeScalars.append(scalar)
                }
            }
        }
        return s + "\""
    }
}

/// A client → server JSON message, parsed; refusals carry the text of the `error` reply.
enum ClientMessage {
    case audioBegin(sampleRate: Int)
    case audioEnd

    /// Parses one text message or returns the reason it is refused.
    static func parse(_ bytes: [UInt8]) -> Result<ClientMessage, ClientRefusal> {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)),
              let dict = object as? [String: Any]
        else { return .failure(ClientRefusal("malformed JSON: expected one JSON object")) }
        guard let type = dict["type"] as? String else {
            return .failure(ClientRefusal("message has no string \"type\""))
        }
        switch type {
        case "audio.begin":
            guard let rate = (dict["sample_rate"] as? NSNumber)?.intValue, (8_000...48_000).contains(rate) else {
                return .failure(ClientRefusal("audio.begin needs sample_rate between 8000 and 48000"))
            }
            let encoding = dict["encoding"] as? String ?? "s16le"
            guard encoding == "s16le" else {
                return .failure(ClientRefusal("audio.begin encoding must be \"s16le\", got \"\(encoding)\""))
            }
            return .success(.audioBegin(sampleRate: rate))
        case "audio.end":
            return .success(.audioEnd)
        default:
            return .failure(ClientRefusal("unknown message type \"\(type)\""))
        }
    }
}

/// Why a client message was refused (the `error` reply's text).
struct ClientRefusal: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
