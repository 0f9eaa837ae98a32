import Foundation

/// A stream of uniform draws in [0, 1): the only randomness in generation, consumed in the order
/// of the training code's `generation.py` (one per length, then one T × N block per MaskGIT step,
/// then one T × N block per residual layer). Owned by one generation at a time (not thread-safe).
public protocol UniformSource {
    /// Fills `buffer` with the next draws.
    mutating func fill(_ buffer: inout [Float])
}

/// The decoding rules of `generation.py`, ported exactly: MaskGIT's cosine masking schedule,
/// top-k filtering, Gumbel-max sampling and length sampling.
/// Stateless functions over row-major `[rows × classes]` arrays; safe from any thread.
public enum TokenSampling {
    /// Tokens to (re)mask before MaskGIT step `step` of `steps` for a motion of `length` tokens:
    /// max(1, round(cos(π/2 · step/(steps−1)) · length)), rounding half to even as torch.round does.
    public static func maskedCount(step: Int, steps: Int, length: Int) -> Int {
        let fraction = steps > 1 ? Double(step) / Double(steps - 1) : 1
        let ratio = Float(cos(Double.pi * 0.5 * fraction))
        return max(1, Int((ratio * Float(length)).rounded(.toNearestOrEven)))
    }

    /// Positions to mask: the `count` lowest `scores`, ties broken towards the lower index (a
    /// stable sort). Returns one flag per position.
    public static func lowestScores(_ scores: [Float], count: Int) -> [Bool] {
        let order = scores.indices.sorted { scores[$0] < scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        var masked = [Bool](repeating: false, count: scores.count)
        for position in order.prefix(count) { masked[position] = true }
        return masked
    }

    /// Keeps, per row, the logits ≥ the row's k-th largest (ties kept) and sets the rest to −∞.
    /// k ≤ 0 or k ≥ classes leaves the logits unchanged.
    public static func topKFilter(_ logits: inout [Float], classes: Int, k: Int) {
        guard k > 0, k < classes else { return }
        for row in stride(from: 0, to: logits.count, by: classes) {
            let kth = logits[row..<row + classes].sorted(by: >)[k - 1]
            for index in row..<row + classes where logits[index] < kth { logits[index] = -.infinity }
        }
    }

    /// Per row, argmax(logits / temperature + g) with Gumbel noise g = −log(−log(clamp(u, 1e-20,
    /// 1 − 1e-7))) from `uniforms` (same shape as `logits`); temperature ≤ 0 is plain argmax (first
    /// maximum on ties).
    public static func gumbelArgmax(_ logits: [Float], classes: Int, temperature: Float, uniforms: [Float]) -> [Int] {
        stride(from: 0, to: logits.count, by: classes).map { row in
            var best = 0
            var bestValue = -Float.infinity
            for index in 0..<classes {
                var value = logits[row + index]
                if temperature > 0 {
                    let u = min(max(uniforms[row + index], 1e-20), 1 - 1e-7)
                    value = value / temperature - log(-log(u))
                }
                if index == 0 || value > bestValue {
                    best = index
                    bestValue = value
                }
            }
            return best
        }
    }

    /// softmax(logits[row] / temperature)[chosen[row]] per row (temperature ≤ 0 counts as 1): the
    /// confidence MaskGIT keeps for each sampled token.
    public static func chosenProbability(_ logits: [Float], classes: Int, temperature: Float, chosen: [Int]) -> [Float] {
        let scale = temperature > 0 ? temperature : 1
        return chosen.enumerated().map { row, choice in
            let base = row * classes
            var maximum = -Float.infinity
            for index in 0..<classes { maximum = max(maximum, logits[base + index] / scale) }
            var total: Float = 0
            for index in 0..<classes { total += exp(logits[base + index] / scale - maximum) }
            return exp(logits[base + choice] / scale - maximum) / total
        }
    }

    /// A motion length in tokens from the length estimator's logits: classes below `minTokens` are
    /// excluded; `argmax`, or the number of CDF entries ≤ `u` (clamped to the last class).
    public static func length(logits: [Float], minTokens: Int, argmax: Bool, u: Float) -> Int {
        var masked = logits
        for index in 0..<min(minTokens, masked.count) { masked[index] = -.infinity }
        if argmax {
            return gumbelArgmax(masked, classes: masked.count, temperature: 0, uniforms: [])[0]
        }
        let maximum = masked.max() ?? 0
        let weights = masked.map { exp($0 - maximum) }
        let total = weights.reduce(0, +)
        var cumulative: Float = 0
        var count = 0
        for weight in weights {
            cumulative += weight / total
            if cumulative <= u { count += 1 }
        }
        return min(count, masked.count - 1)
    }
}
