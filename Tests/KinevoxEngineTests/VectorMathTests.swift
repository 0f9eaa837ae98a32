import Foundation
import CKinevoxKernels
import XCTest
@testable import KinevoxEngine

/// The vectorisable exp and erf against libm in double precision over dense grids.
final class VectorMathTests: XCTestCase {
    func testExpWithinTwoUlpAcrossTheRange() {
        var worst = 0.0
        for i in 0 ... 200_000 {
            let x = Float(-87 + 175 * Double(i) / 200_000)
            let exact = Foundation.exp(Double(x))
            worst = max(worst, abs(Double(VectorMath.exp(x)) - exact) / exact)
        }
        XCTAssertLessThanOrEqual(worst, 2.4e-7, "max relative error \(worst)")  // 2 ulp of float32 = 2.4e-7
        XCTAssertEqual(VectorMath.exp(-.infinity), 0)
        XCTAssertEqual(VectorMath.exp(-100), 0)
        XCTAssertEqual(VectorMath.exp(0), 1)
    }

    func testLogWithinTwoUlpOverSamplingInputs() {
        var worst = 0.0
        for i in 0 ... 200_000 {
            // Geometric grid from 1e-20 to 100: the uniform draws and −log(u) values Gumbel sampling feeds it.
            let x = Float(1e-20 * pow(1e22, Double(i) / 200_000))
            let exact = Foundation.log(Double(x))
            if x != 1 { worst = max(worst, abs(Double(VectorMath.log(x)) - exact) / abs(exact)) }
        }
        XCTAssertLessThanOrEqual(worst, 2.4e-7, "max relative error \(worst)")
        XCTAssertEqual(VectorMath.log(1), 0)
    }

    func testErfWithinThreeTenMillionthsAbsolute() {
        var worst = 0.0
        for i in 0 ... 200_000 {
            let x = Float(-6 + 12 * Double(i) / 200_000)
            worst = max(worst, abs(Double(VectorMath.erf(x)) - Foundation.erf(Double(x))))
        }
        XCTAssertLessThanOrEqual(worst, 3e-7, "max absolute error \(worst)")
        XCTAssertEqual(VectorMath.erf(-0.5), -VectorMath.erf(0.5))
        XCTAssertEqual(VectorMath.erf(10), 1)
    }

    /// The blocked GELU (near-branch-only blocks) gives exactly 0.5·v·(1 + erf(v/√2)) per element: blocks all
    /// near, mixed, all far, non-finite values and a tail shorter than a block.
    func testGeluMatchesErfElementByElement() {
        var values = (0 ..< 4_003).map { Float(-4 + 8 * Double($0) / 4_003) }  // |v/√2| < 1.5 for |v| < 2.12
        values += [0.1, -0.2, 3.0, .nan, .infinity, -.infinity, 0.5, 0.25, -0.0, 2.5, 1.0]
        let expected = values.map { v in 0.5 * v * (1 + VectorMath.erf(v * 0.707_106_781)) }
        values.withUnsafeMutableBufferPointer { VectorMath.gelu($0.baseAddress!, count: $0.count) }
        for (index, (actual, wanted)) in zip(values, expected).enumerated() {
            XCTAssertEqual(actual.bitPattern, wanted.bitPattern, "element \(index): \(actual) vs \(wanted)")
        }
    }

    /// The AVX-512 kernel behind `gelu` against the portable Swift loop, bit for bit: 100 003 random values over
    /// ±12 (both erf branches and the clamp, blocks mixed and not, a tail of 3).
    func testVectorGELUMatchesPortableLoop() throws {
        try XCTSkipUnless(VectorMath.hasAVX512Kernels, "no AVX-512 on this CPU")
        var random = SeededRandom(seed: 5)
        let values = (0 ..< 100_003).map { _ in (random.nextFloat() * 2 - 1) * (random.nextFloat() < 0.5 ? 3 : 12) }
        var vector = values, portable = values
        vector.withUnsafeMutableBufferPointer { kv_gelu($0.baseAddress!, $0.count) }
        portable.withUnsafeMutableBufferPointer { VectorMath.portableGELU($0.baseAddress!, count: $0.count) }
        XCTAssertEqual(vector.map(\.bitPattern), portable.map(\.bitPattern))
    }

    /// The AVX-512 kernel behind `expShifted` against `exp` element by element, bit for bit: 10 007 values over
    /// [−120, 100] around a shift of 7 (both clamps, the underflow to 0), and −inf (a masked score).
    func testVectorExpShiftedMatchesExp() throws {
        try XCTSkipUnless(VectorMath.hasAVX512Kernels, "no AVX-512 on this CPU")
        var random = SeededRandom(seed: 6)
        var values = (0 ..< 10_007).map { _ in random.nextFloat() * 220 - 120 }
        values[17] = -.infinity
        let expected = values.map { VectorMath.exp($0 - 7) }
        values.withUnsafeMutableBufferPointer { kv_exp_shifted($0.baseAddress!, $0.count, 7) }
        XCTAssertEqual(values.map(\.bitPattern), expected.map(\.bitPattern))
    }

    func testLongSumsStayAccurate() {
        // 200 001 values around 1000 (a long GroupNorm group): error bounded by the 256-block, not the length.
        let values = (0 ... 200_000).map { 1000 + Float($0 % 97) * 0.013 }
        let exact = values.reduce(0.0) { $0 + Double($1) }
        values.withUnsafeBufferPointer { p in
            let total = VectorMath.sum(p.baseAddress!, count: p.count)
            XCTAssertLessThanOrEqual(abs(Double(total) - exact) / exact, 1e-7)
        }
    }

    func testReductionsMatchSequentialSums() {
        let values = (0 ..< 37).map { Float($0 % 7) - 2.5 }
        values.withUnsafeBufferPointer { p in
            XCTAssertEqual(VectorMath.sum(p.baseAddress!, count: 37), values.reduce(0, +), accuracy: 1e-5)
            XCTAssertEqual(VectorMath.maximum(p.baseAddress!, count: 37), 3.5)
            let mean = values.reduce(0, +) / 37
            XCTAssertEqual(VectorMath.sumOfSquaredDeviations(p.baseAddress!, count: 37, mean: mean),
                           values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +), accuracy: 1e-4)
        }
    }
}
