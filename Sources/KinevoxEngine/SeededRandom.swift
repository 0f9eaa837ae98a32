/// xoshiro256** pseudo-random generator seeded through splitmix64: the same seed gives the same bits on every
/// machine and build, and every draw method below is defined bit-exactly on top of `next()` (no
/// `Float.random`). A value type: one per sampling thread.
public struct SeededRandom: RandomNumberGenerator {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// State expanded from `seed` by four splitmix64 steps.
    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitmix(); s1 = splitmix(); s2 = splitmix(); s3 = splitmix()
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform in [0, 1) with 24 random bits.
    public mutating func nextFloat() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// An index drawn with probability proportional to `weights[i]` (non-negative, not necessarily normalised),
    /// by inverting the cumulative sum (in Double) at one uniform draw. Returns the last positive-weight index if
    /// rounding runs past the end; 0 if all weights are zero.
    public mutating func sampleCategorical(probabilities weights: UnsafeBufferPointer<Float>) -> Int {
        var total = 0.0
        for w in weights { total += Double(w) }
        let target = nextDouble() * total
        var cumulative = 0.0
        var lastPositive = 0
        for (i, w) in weights.enumerated() where w > 0 {
            cumulative += Double(w)
            lastPositive = i
            if target < cumulative { return i }
        }
        return lastPositive
    }

    /// An index drawn from `softmax(logits / temperature)` (temperature > 0), without modifying the logits:
    /// inverse CDF over `exp((l - max) / temperature)` (the engine's own exp, so draws do not depend on the libm
    /// version). -inf logits (e.g. from top-k filtering) are never drawn.
    public mutating func sampleCategorical(logits: UnsafeBufferPointer<Float>, temperature: Float = 1) -> Int {
        var m = -Float.infinity
        for l in logits { m = Swift.max(m, l) }
        let inverse = 1 / Swift.max(temperature, 1e-10)
        var total = 0.0
        for l in logits { total += Double(VectorMath.exp((l - m) * inverse)) }
        let target = nextDouble() * total
        var cumulative = 0.0
        var lastPositive = 0
        for (i, l) in logits.enumerated() where l > -.infinity {
            cumulative += Double(VectorMath.exp((l - m) * inverse))
            lastPositive = i
            if target < cumulative { return i }
        }
        return lastPositive
    }

    /// MoMask's `gumbel_sample`: `argmax(logits / max(temperature, 1e-10) + g)` with Gumbel noise
    /// `g = −log(−log(max(u, 1e-20)))` clamped the same way, one uniform `u` per logit in order (the engine's own
    /// log, so draws do not depend on the libm version).
    public mutating func gumbelArgmax(logits: UnsafeBufferPointer<Float>, temperature: Float = 1) -> Int {
        let inverse = 1 / Swift.max(temperature, 1e-10)
        var best = 0
        var bestValue = -Float.infinity
        for (i, l) in logits.enumerated() {
            let u = Swift.max(nextFloat(), 1e-20)
            let g = -VectorMath.log(Swift.max(-VectorMath.log(u), 1e-20))
            let v = l * inverse + g
            if v > bestValue { bestValue = v; best = i }
        }
        return best
    }
}

/// Keeps the `k` largest values of each row (last dimension) of `logits` and sets the rest to -inf, in place.
/// Ties at the k-th value: by default the first ones in index order are kept so that exactly k values survive
/// (PyTorch's `topk` + `scatter` into a -inf tensor); with `keepingTies` every value ≥ the k-th largest survives
/// (`masked_fill(logits < kth, -inf)`, Kinevox training's `top_k_filter`). Scratch for one row comes from
/// `arena`. Any thread (with its own arena).
public func topKFilter(_ logits: TensorView, k: Int, keepingTies: Bool = false, arena: ScratchArena) {
    let n = logits.shape.last
    guard k < n else { return }
    precondition(k > 0, "top-k with k = \(k)")
    let mark = arena.mark()
    let scratch = arena.allocate(count: n)
    for r in 0 ..< logits.shape.rows {
        let row = logits.data + r * n
        scratch.update(from: row, count: n)
        let threshold = kthLargest(scratch, count: n, k: k)
        var above = 0
        for j in 0 ..< n where row[j] > threshold { above += 1 }
        var tiesToKeep = keepingTies ? n : k - above
        for j in 0 ..< n {
            if row[j] > threshold { continue }
            if row[j] == threshold && tiesToKeep > 0 {
                tiesToKeep -= 1
            } else {
                row[j] = -.infinity
            }
        }
    }
    arena.release(to: mark)
}

/// The k-th largest of `count` values at `values` (1-based k), by in-place quickselect (reorders `values`).
public func kthLargest(_ values: UnsafeMutablePointer<Float>, count: Int, k: Int) -> Float {
    var lo = 0, hi = count - 1
    let target = k - 1  // index in descending order
    while lo < hi {
        let pivot = values[lo + (hi - lo) / 2]
        var i = lo, j = hi
        while i <= j {
            while values[i] > pivot { i += 1 }
            while values[j] < pivot { j -= 1 }
            if i <= j {
                values.swapAt(i, j)
                i += 1
                j -= 1
            }
        }
        if target <= j { hi = j } else if target >= i { lo = i } else { return values[target] }
    }
    return values[target]
}

extension UnsafeMutablePointer where Pointee == Float {
    @inline(__always) fileprivate func swapAt(_ i: Int, _ j: Int) {
        let t = self[i]; self[i] = self[j]; self[j] = t
    }
}
