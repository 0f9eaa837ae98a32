import CSoxr

/// Streaming sample-rate converter for mono Float audio (libsoxr, high quality).
///
/// Feed consecutive blocks with `process(_:)`, then call `finish()` once to get the tail that the
/// filter still holds. Output is in the same units as input (e.g. [-1, 1] floats). One instance
/// serves one stream; call it from one thread at a time.
public final class Resampler {
    /// Input rate in Hz.
    public let inputRate: Double
    /// Output rate in Hz.
    public let outputRate: Double
    private let handle: soxr_t

    public init(inputRate: Double, outputRate: Double = 16_000) throws {
        for rate in [inputRate, outputRate] where !(rate.isFinite && rate > 0) {
            throw AudioError.invalidSampleRate(rate)
        }
        self.inputRate = inputRate
        self.outputRate = outputRate
        var error: soxr_error_t?
        var io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I)
        var quality = soxr_quality_spec(UInt(SOXR_HQ), 0)
        guard let handle = soxr_create(inputRate, outputRate, 1, &error, &io, &quality, nil) else {
            throw AudioError.resampler(reason: error.map { String(cString: $0) } ?? "soxr_create failed")
        }
        self.handle = handle
    }

    deinit { soxr_delete(handle) }

    /// Converts the next block of input samples; returns the output samples that are ready.
    public func process(_ input: [Float]) throws -> [Float] {
        if inputRate == outputRate { return input }
        return try input.withUnsafeBufferPointer { try run(input: $0.baseAddress, count: $0.count) }
    }

    /// Ends the stream and returns the remaining output. Call once, after the last `process(_:)`.
    public func finish() throws -> [Float] {
        if inputRate == outputRate { return [] }
        return try run(input: nil, count: 0)
    }

    private func run(input: UnsafePointer<Float>?, count: Int) throws -> [Float] {
        var output: [Float] = []
        let chunk = Int((Double(max(count, 1)) * outputRate / inputRate).rounded(.up)) + 256
        var consumed = 0
        repeat {
            var block = [Float](repeating: 0, count: chunk)
            var used = 0
            var produced = 0
            let pointer = input.map { $0 + consumed }
            let error = block.withUnsafeMutableBufferPointer { out in
                soxr_process(handle, pointer, count - consumed, &used, out.baseAddress, chunk, &produced)
            }
            if let error { throw AudioError.resampler(reason: String(cString: error)) }
            consumed += used
            output.append(contentsOf: block[0..<produced])
            // At end of input, soxr keeps returning output until the filter tail is drained.
            if input == nil ? produced == 0 : (consumed >= count && produced < chunk) { break }
        } while true
        return output
    }
}

/// Converts a whole signal from `inputRate` to `outputRate` (default 16 kHz) in one call.
public func resample(_ samples: [Float], from inputRate: Double, to outputRate: Double = 16_000) throws -> [Float] {
    let resampler = try Resampler(inputRate: inputRate, outputRate: outputRate)
    return try resampler.process(samples) + resampler.finish()
}
