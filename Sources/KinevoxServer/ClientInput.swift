import Foundation

/// One WebSocket client's incoming side, without its socket: assembles fragments into messages (refusing any
/// longer than `max_message_bytes`), parses text messages and runs the push-to-talk upload (`audio.begin`, then
/// binary s16le chunks, then `audio.end`) under the upload limits. `StreamServer` feeds it from libwebsockets'
/// receive callback; the fuzz harness (Fuzz/fuzz-stream) feeds it directly. Service thread only.
public final class ClientInput {
    /// What one complete message asks of the server, in the order it happened.
    public enum Event: Equatable {
        /// Reply with this `error` message (and count a refusal).
        case refusal(String)
        /// A finished upload: mono s16 samples at `sampleRate` Hz.
        case upload(samples: [Int16], sampleRate: Int)
    }

    /// Push-to-talk upload state.
    private enum Upload {
        case idle
        case receiving(sampleRate: Int, samples: [Int16])
        /// Refused mid-way: chunks are ignored until audio.end.
        case discarding
    }

    private let config: ServerConfig
    private var receivingMessage = false
    private var rx: [UInt8] = []
    private var rxOversize = false
    private var rxBinary = false
    private var upload: Upload = .idle
    private var uploadStarts: [Double] = []
    private var events: [Event] = []

    /// Input limited by `config`'s `max_message_bytes`, `max_upload_seconds` and `max_uploads_per_minute`.
    public init(config: ServerConfig) {
        self.config = config
    }

    /// Takes one fragment of a message. `isBinary` is read at a message's first fragment; `isFinal` marks its
    /// last, after which the whole message is handled. `now` is seconds on a monotonic clock (the upload rate
    /// limit counts the last 60). Returns what the message asks for (nothing until its last fragment).
    public func receive(_ bytes: UnsafeRawBufferPointer, isBinary: @autoclosure () -> Bool, isFinal: Bool,
                        now: Double) -> [Event] {
        if !receivingMessage {
            receivingMessage = true
            rx.removeAll(keepingCapacity: true)
            rxOversize = false
            rxBinary = isBinary()
        }
        if !rxOversize {
            if rx.count + bytes.count > config.maxMessageBytes {
                rxOversize = true
                rx.removeAll()
            } else {
                rx.append(contentsOf: bytes)
            }
        }
        guard isFinal else { return [] }
        receivingMessage = false
        defer { events.removeAll() }
        if rxOversize {
            refuse("message refused: larger than max_message_bytes (\(config.maxMessageBytes) bytes)")
        } else if rxBinary {
            receiveAudioChunk()
        } else {
            switch ClientMessage.parse(rx) {
            case .failure(let refusal): refuse(refusal.message)
            case .success(.audioBegin(let rate)): beginUpload(sampleRate: rate, now: now)
            case .success(.audioEnd): endUpload()
            }
        }
        return events
    }

    private func refuse(_ reason: String) {
        events.append(.refusal(reason))
    }

    private func beginUpload(sampleRate: Int, now: Double) {
        if case .idle = upload {} else {
            upload = .idle
            refuse("audio.begin while an upload was open: the earlier upload is discarded")
        }
        uploadStarts.removeAll { now - $0 > 60 }
        guard uploadStarts.count < config.maxUploadsPerMinute else {
            upload = .discarding
            refuse("upload refused: more than \(config.maxUploadsPerMinute) uploads per minute")
            return
        }
        uploadStarts.append(now)
        upload = .receiving(sampleRate: sampleRate, samples: [])
    }

    private func receiveAudioChunk() {
        switch upload {
        case .idle:
            refuse("binary message without audio.begin: send {\"type\":\"audio.begin\",\"sample_rate\":16000,\"encoding\":\"s16le\"} first")
        case .discarding:
            break
        case .receiving(let rate, var samples):
            guard rx.count % 2 == 0 else {
                upload = .discarding
                refuse("audio chunk of odd length \(rx.count): s16le chunks hold whole samples; upload discarded")
                return
            }
            let limit = Int(config.maxUploadSeconds * Double(rate))
            if samples.count + rx.count / 2 > limit {
                upload = .discarding
                refuse("upload longer than \(Self.seconds(config.maxUploadSeconds)) s: discarded")
                return
            }
            upload = .idle  // release the array before appending (no copy)
            rx.withUnsafeBytes { raw in
                for k in 0..<raw.count / 2 {
                    samples.append(Int16(bitPattern: UInt16(raw[2 * k]) | UInt16(raw[2 * k + 1]) << 8))
                }
            }
            upload = .receiving(sampleRate: rate, samples: samples)
        }
    }

    private func endUpload() {
        let state = upload
        upload = .idle
        switch state {
        case .idle:
            refuse("audio.end without audio.begin")
        case .discarding:
            break
        case .receiving(let rate, let samples):
            guard !samples.isEmpty else {
                refuse("empty upload: no audio between audio.begin and audio.end")
                return
            }
            events.append(.upload(samples: samples, sampleRate: rate))
        }
    }

    private static func seconds(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}
