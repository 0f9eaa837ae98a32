/// Signed 16-bit PCM ↔ Float conversion (Float full scale is [-1, 1); Int16 full scale is 32768).

/// Converts interleaved s16 samples to Float in [-1, 1) by dividing by 32768.
public func floatSamples(fromS16 samples: UnsafeBufferPointer<Int16>) -> [Float] {
    samples.map { Float($0) / 32768 }
}

/// Converts Float samples to s16, rounding to nearest and clamping values outside [-1, 1).
public func s16Samples(from samples: [Float]) -> [Int16] {
    samples.map { Int16(clamping: Int(($0 * 32768).rounded())) }
}

/// Averages interleaved frames of `channels` samples into one mono channel.
public func downmixToMono(_ interleaved: [Float], channels: Int) -> [Float] {
    guard channels > 1 else { return interleaved }
    let frames = interleaved.count / channels
    let scale = 1 / Float(channels)
    var mono = [Float](repeating: 0, count: frames)
    interleaved.withUnsafeBufferPointer { source in
        for frame in 0..<frames {
            var sum: Float = 0
            for channel in 0..<channels { sum += source[frame * channels + channel] }
            mono[frame] = sum * scale
        }
    }
    return mono
}
