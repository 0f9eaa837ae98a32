import Foundation
import KinevoxEngine

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
        var masked = [Bool](repeating: false, count: scores.count)
        var order = [Int](repeating: 0, count: scores.count)
        scores.withUnsafeBufferPointer { scores in
            masked.withUnsafeMutableBufferPointer { masked in
                order.withUnsafeMutableBufferPointer { lowestScores(scores, count: count, into: masked, order: $0) }
            }
        }
        return masked
    }

    /// `lowestScores` into `masked` (one flag per score), with `order` (as long as `scores`) as scratch:
    /// an insertion sort of the positions by (score, position), which allocates nothing.
    public static func lowestScores(_ scores: UnsafeBufferPointer<Float>, count: Int,
                                    into masked: UnsafeMutableBufferPointer<Bool>, order: UnsafeMutableBufferPointer<Int>) {
        let n = scores.count
        precondition(masked.count == n && order.count >= n, "lowestScores: \(n) scores, \(masked.count) flags")
        for i in 0..<n {
            var j = i
            while j > 0 && scores[i] < scores[order[j - 1]] {  // equal scores stay in position order
                order[j] = order[j - 1]
                j -= 1
            }
            order[j] = i
        }
        for i in 0..<n { masked[i] = false }
        for rank in 0..<min(max(count, 0), n) { masked[order[rank]] = true }
    }

    /// Keeps, per row, the logits ≥ the row's k-th largest (ties kept) and sets the rest to −∞.
    /// k ≤ 0 or k ≥ classes leaves the logits unchanged.
    public static func topKFilter(_ logits: inout [Float], classes: Int, k: Int) {
        var row = [Float](repeating: 0, count: classes)
        logits.withUnsafeMutableBufferPointer { logits in
            row.withUnsafeMutableBufferPointer { topKFilter(logits, classes: classes, k: k, scratch: $0) }
        }
    }

    /// `topKFilter` in place, with `scratch` (at least `classes` floats) to find each row's k-th
    /// largest value by selection; allocates nothing.
    public static func topKFilter(_ logits: UnsafeMutableBufferPointer<Float>, classes: Int, k: Int,
                                  scratch: UnsafeMutableBufferPointer<Float>) {
        guard k > 0, k < classes else { return }
        precondition(scratch.count >= classes, "topKFilter: scratch of \(scratch.count) for \(classes) classes")
        for row in stride(from: 0, to: logits.count, by: classes) {
            for index in 0..<classes { scratch[index] = logits[row + index] }
            let kth = kthLargest(scratch.baseAddress!, count: classes, k: k)
            for index in row..<row + classes where logits[index] < kth { logits[index] = -.infinity }
        }
    }

    /// Per row, argmax(logits / temperature + g) with Gumbel noise g = −log(−log(clamp(u, 1e-20,
    /// 1 − 1e-7))) from `uniforms` (same shape as `logits`); temperature ≤ 0 is plain argmax (first
    /// maximum on ties). Writes one entry per row into `chosen`; allocates nothing.
    public static func gumbelArgmax(_ logits: UnsafeBufferPointer<Float>, classes: Int, temperature: Float,
                                    uniforms: UnsafeBufferPointer<Float>, into chosen: UnsafeMutableBufferPointer<Int>) {
        precondition(chosen.count == logits.count / classes, "gumbelArgmax: \(chosen.count) results for \(logits.count / classes) rows")
        for (rowIndex, row) in stride(from: 0, to: logits.count, by: classes).enumerated() {
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
            chosen[rowIndex] = best
        }
    }

    /// softmax(logits[row] / temperature)[chosen[row]] per row (temperature ≤ 0 counts as 1): the
    /// confidence MaskGIT keeps for each sampled token. Writes one entry per row into `probability`;
    /// allocates nothing.
    public static func chosenProbability(_ logits: UnsafeBufferPointer<Float>, classes: Int, temperature: Float,
                                         chosen: UnsafeBufferPointer<Int>, into probability: UnsafeMutableBufferPointer<Float>) {
        precondition(probability.count == chosen.count, "chosenProbability: \(probability.count) results for \(chosen.count) rows")
        let scale = temperature > 0 ? temperature : 1
        for (row, choice) in chosen.enumerated() {
            let base = row * classes
            var maximum = -Float.infinity
            for index in 0..<classes { maximum = max(maximum, logits[base + index] / scale) }
            var total: Float = 0
            for index in 0..<classes { total += exp(logits[base + index] / scale - maximum) }
            probability[row] = exp(logits[base + choice] / scale - maximum) / total
        }
    }

    /// A motion length in tokens from the length estimator's logits: classes below `minTokens` are
    /// excluded; `argmax`, or the number of CDF entries ≤ `u` (clamped to the last class).
    public static func length(logits: [Float], minTokens: Int, argmax: Bool, u: Float) -> Int {
        logits.withUnsafeBufferPointer { length(logits: $0, minTokens: minTokens, argmax: argmax, u: u) }
    }

    /// `length` over a buffer; allocates nothing.
    public static func length(logits: UnsafeBufferPointer<Float>, minTokens: Int, argmax: Bool, u: Float) -> Int {
        let count = logits.count
        func masked(_ index: Int) -> Float { index < minTokens ? -.infinity : logits[index] }
        if argmax {
            var best = 0
            var bestValue = -Float.infinity
            for index in 0..<count where index == 0 || masked(index) > bestValue {
                best = index
                bestValue = masked(index)
            }
            return best
        }
        var maximum: Float = 0
        if count > 0 {
            maximum = masked(0)
            for index in 1..<count where maximum < masked(index) { maximum = masked(index) }
        }
        var total: Float = 0
        for index in 0..<count { total += exp(masked(index) - maximum) }
        var cumulative: Float = 0
        var chosen = 0
        for index in 0..<count {
            cumulative += exp(masked(index) - maximum) / total
            if cumulative <= u { chosen += 1 }
        }
        return min(chosen, count - 1)
    }
}
