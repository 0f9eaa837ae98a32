// libFuzzer harness: bytes as a sequence of WebSocket frames from one client → `ClientInput`, the state machine
// `StreamServer` runs for every client (fragment assembly, max_message_bytes, JSON messages, push-to-talk
// upload, upload length and rate limits), driven in-process without sockets.
// Input: frames of [flags: bit 0 binary, bit 1 final fragment, bits 2-7 seconds elapsed before it]
// [length: 2 bytes little-endian][payload]. Limits are small so that every refusal is reachable.
// Contract checked: each refusal has a reason; each finished upload holds 1...limit samples at 8-48 kHz.
import FuzzSupport
import KinevoxServer

private let config: ServerConfig = {
    var config = ServerConfig()
    config.maxMessageBytes = 1_024
    config.maxUploadSeconds = 0.1
    config.maxUploadsPerMinute = 4
    return config
}()

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = ClientInput(config: config)
    let bytes = UnsafeBufferPointer(start: data, count: size)
    var offset = 0
    var now = 1_000.0
    while offset + 3 <= size {
        let flags = bytes[offset]
        let length = min(Int(bytes[offset + 1]) | Int(bytes[offset + 2]) << 8, size - offset - 3)
        now += Double(flags >> 2)
        let payload = UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[(offset + 3)..<(offset + 3 + length)]))
        offset += 3 + length
        for event in input.receive(payload, isBinary: flags & 1 != 0, isFinal: flags & 2 != 0, now: now) {
            switch event {
            case .refusal(let reason):
                precondition(!reason.isEmpty, "refusal without a reason")
            case .upload(let samples, let rate):
                precondition((8_000...48_000).contains(rate), "upload at \(rate) Hz")
                precondition(!samples.isEmpty && samples.count <= Int(config.maxUploadSeconds * Double(rate)),
                             "upload of \(samples.count) samples at \(rate) Hz")
            }
        }
    }
    return 0
}

runFuzzer(fuzzOne)
