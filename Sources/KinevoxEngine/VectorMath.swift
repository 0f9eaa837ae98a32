import CKinevoxKernels

/// Float32 kernels for the element-wise layers and sampling: exp, log and erf as branch-free straight-line code
/// (so loops over them auto-vectorise, unlike calls into libm, and results do not depend on the libm version) and
/// 8-lane reductions. Accuracy: exp within 2 ulp for inputs in [-87, 88] (0 below -87); log within 2 ulp;
/// erf within 3e-7 absolute everywhere. Polynomial coefficients were fitted for
/// Kinevox (Chebyshev least squares on dense grids, converted to the monomial basis).
enum VectorMath {
    /// e^x (0 for x < −87, e^88 for x > 88).
    @inline(__always)
    static func exp(_ x: Float) -> Float {
        let clamped = Swift.min(Swift.max(x, -87), 88)
        let shifter: Float = 12_582_912  // 1.5·2^23: adding it rounds to an integer held in the low mantissa bits
        let shifted = clamped * 1.442_695_04 + shifter
        let n = shifted - shifter
        let r = clamped - n * 0.693_359_375 - n * -2.121_944_4e-4  // x − n·ln2 in two parts, |r| ≤ ln2/2
        let p = 0.5 + r * (0.166_666_667 + r * (0.041_666_504 + r * (0.008_333_304 + r * (0.001_392_957 + r * 0.000_198_948))))
        let scale = Float(bitPattern: (shifted.bitPattern &- shifter.bitPattern &+ 127) &<< 23)
        let value = (1 + r + r * r * p) * scale
        return x < -87 ? 0 : value
    }

    /// erf(x): x·P(x²) for |x| < 1.5, else 1 − e^{−x²}·Q(1/|x|)/|x| (|x| clamped to 3.92, where erf rounds to 1).
    @inline(__always)
    static func erf(_ x: Float) -> Float {
        let a = Swift.min(Float(bitPattern: x.bitPattern & 0x7FFF_FFFF), 3.92)
        let near = erfNear(a), far = erfFar(a)  // both, so loops stay branch-free and vectorise
        let magnitude = a < 1.5 ? near : far
        return Float(bitPattern: magnitude.bitPattern | (x.bitPattern & 0x8000_0000))
    }

    /// erf's branch for 0 ≤ a < 1.5: a·P(a²).
    @inline(__always)
    static func erfNear(_ a: Float) -> Float {
        let z = a * a
        return a * (1.128_379_16 + z * (-0.376_125_805 + z * (0.112_832_052 + z * (-0.026_843_703
            + z * (0.005_181_442 + z * (-0.000_810_438_874 + z * (9.400_085_35e-5 + z * -5.921_695_64e-6)))))))
    }

    /// erf's branch for 1.5 ≤ a ≤ 3.92: 1 − e^{−a²}·Q(1/a)/a.
    @inline(__always)
    static func erfFar(_ a: Float) -> Float {
        let t = 1 / Swift.max(a, 1.5)
        let tail = 0.563_640_859 + t * (0.009_188_825_79 + t * (-0.344_400_066 + t * (0.208_313_105
            + t * (0.138_698_627 + t * (-0.240_596_142 + t * 0.093_881_344_4)))))
        return 1 - exp(-(a * a)) * tail * t
    }

    /// Whether `gelu` and `expShifted` run the AVX-512 kernels `kv_gelu` and `kv_exp_shifted` (bit-identical to
    /// the portable loops) on this CPU.
    static let hasAVX512Kernels = kv_elementwise_supported() != 0

    /// x[i] = exp(x[i] − shift) for `count` floats in place: `kv_exp_shifted` where the CPU has AVX-512, else
    /// `exp` element by element (the same results).
    static func expShifted(_ x: UnsafeMutablePointer<Float>, count: Int, shift: Float) {
        if hasAVX512Kernels {
            kv_exp_shifted(x, count, shift)
        } else {
            for i in 0 ..< count { x[i] = exp(x[i] - shift) }
        }
    }

    /// GELU (erf form) of `count` floats in place: 0.5·v·(1 + erf(v/√2)); `kv_gelu` where the CPU has AVX-512,
    /// else `portableGELU` (the same results).
    static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        if hasAVX512Kernels { kv_gelu(x, count) } else { portableGELU(x, count: count) }
    }

    /// `gelu` in portable Swift. Blocks of 8 whose arguments all take erf's near branch skip computing the far one
    /// (same results as `erf` element by element).
    @inline(__always)
    static func portableGELU(_ x: UnsafeMutablePointer<Float>, count: Int) {
        let scale: Float = 0.707_106_781
        var i = 0
        while i + 8 <= count {
            var near = true
            for l in 0 ..< 8 { near = near && Float(bitPattern: (x[i + l] * scale).bitPattern & 0x7FFF_FFFF) < 1.5 }
            if near {
                for l in 0 ..< 8 {
                    let v = x[i + l], u = v * scale
                    let magnitude = erfNear(Float(bitPattern: u.bitPattern & 0x7FFF_FFFF))
                    x[i + l] = 0.5 * v * (1 + Float(bitPattern: magnitude.bitPattern | (u.bitPattern & 0x8000_0000)))
                }
            } else {
                for l in 0 ..< 8 { let v = x[i + l]; x[i + l] = 0.5 * v * (1 + erf(v * scale)) }
            }
            i += 8
        }
        while i < count { let v = x[i]; x[i] = 0.5 * v * (1 + erf(v * scale)); i += 1 }
    }

    /// Natural log of a positive normal float (x = 2^e·m with m in [√½, √2): e·ln2 + log1p(m − 1) by polynomial);
    /// within 2 ulp. Used where results must not depend on the libm version (sampling).
    @inline(__always)
    static func log(_ x: Float) -> Float {
        let bits = x.bitPattern
        var e = Float(Int32(bitPattern: (bits >> 23) & 0xFF) - 127)
        var m = Float(bitPattern: (bits & 0x007F_FFFF) | 0x3F80_0000)
        let high = m > 1.414_213_56
        m = high ? m * 0.5 : m
        e = high ? e + 1 : e
        let f = m - 1
        let p = 0.333_333_309 + f * (-0.250_002_246 + f * (0.200_009_521 + f * (-0.166_460_234
            + f * (0.142_204_634 + f * (-0.129_410_578 + f * (0.125_470_363 + f * -0.079_947_677_7))))))
        let log1p = f - 0.5 * f * f + f * f * f * p
        return e * 0.693_359_375 + (log1p + e * -2.121_944_4e-4)
    }

    /// Sum of `count` floats: 8-lane float partial sums over blocks of 256, block totals added in Double (error
    /// grows with the block size, not with `count`: long GroupNorm groups stay as accurate as short rows).
    @inline(__always)
    static func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        blockedSum(count) { lanes, i in lanes += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) } tail: { x[$0] }
    }

    /// Sum of (x − mean)² over `count` floats, blocked like `sum`.
    @inline(__always)
    static func sumOfSquaredDeviations(_ x: UnsafePointer<Float>, count: Int, mean: Float) -> Float {
        let m = SIMD8<Float>(repeating: mean)
        return blockedSum(count) { lanes, i in
            let d = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) - m
            lanes += d * d
        } tail: { (x[$0] - mean) * (x[$0] - mean) }
    }

    /// Sums `count` terms: `accumulate(&lanes, i)` adds the 8 terms starting at i (a multiple of 8), `tail(i)`
    /// is term i for the last `count % 8`.
    @inline(__always)
    private static func blockedSum(_ count: Int, accumulate: (inout SIMD8<Float>, Int) -> Void, tail: (Int) -> Float) -> Float {
        var total = 0.0
        var i = 0
        while i + 8 <= count {
            var lanes = SIMD8<Float>()
            let blockEnd = Swift.min(i + 256, count - count % 8)
            while i < blockEnd {
                accumulate(&lanes, i)
                i += 8
            }
            total += Double(lanes.sum())
        }
        while i < count {
            total += Double(tail(i))
            i += 1
        }
        return Float(total)
    }

    /// Largest of `count` floats (−inf for none).
    @inline(__always)
    static func maximum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var lanes = SIMD8<Float>(repeating: -.infinity)
        var i = 0
        while i + 8 <= count {
            let block = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            lanes.replace(with: block, where: block .> lanes)  // inlines to vmaxps, unlike the generic pointwiseMax
            i += 8
        }
        var best = lanes.max()
        while i < count { best = Swift.max(best, x[i]); i += 1 }
        return best
    }
}
