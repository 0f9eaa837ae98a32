import COpenBLAS
import Foundation
import XCTest
@testable import KinevoxEngine

/// `BLAS.sgemm` split over a `GEMMThreads` team against one single-threaded `cblas_sgemm` call on the same operands.
/// Each part is itself a `cblas_sgemm` over a slice of rows or columns, so every output element sums the same
/// products; the tolerance allows for OpenBLAS choosing another kernel for a slice: relative error (max |diff| /
/// max |reference|) ≤ 1e-5. Runs of the same team repeat bit for bit.
final class GEMMThreadsTests: XCTestCase {
    /// One GEMM's shape and layout: row strides are padded by `pad` floats beyond what the shape needs.
    struct Shape: CustomStringConvertible {
        var m: Int, n: Int, k: Int
        var transposeA = false, transposeB = false
        var pad = 0
        var alpha: Float = 1, beta: Float = 0

        var lda: Int { (transposeA ? m : k) + pad }
        var ldb: Int { (transposeB ? k : n) + pad }
        var ldc: Int { n + pad }
        var description: String {
            "\(m)×\(n)×\(k) transposeA \(transposeA) transposeB \(transposeB) pad \(pad) alpha \(alpha) beta \(beta)"
        }
    }

    /// Operands of one shape and the C every run starts from (padding holds a sentinel).
    struct Operands {
        let shape: Shape
        let a: [Float], b: [Float], c: [Float]
        static let sentinel: Float = 12345

        init(_ shape: Shape, seed: UInt64) {
            var random = SeededRandom(seed: seed)
            func values(_ count: Int) -> [Float] { (0 ..< count).map { _ in random.nextFloat() - 0.5 } }
            self.shape = shape
            a = values((shape.transposeA ? shape.k : shape.m) * shape.lda)
            b = values((shape.transposeB ? shape.n : shape.k) * shape.ldb)
            var c = values(shape.m * shape.ldc)
            for row in 0 ..< shape.m {
                for column in shape.n ..< shape.ldc { c[row * shape.ldc + column] = Self.sentinel }
            }
            self.c = c
        }

        /// C after one single-threaded cblas_sgemm call.
        func reference() -> [Float] {
            var c = self.c
            let s = shape
            openblas_set_num_threads(1)
            cblas_sgemm(CblasRowMajor, s.transposeA ? CblasTrans : CblasNoTrans, s.transposeB ? CblasTrans : CblasNoTrans,
                        Int32(s.m), Int32(s.n), Int32(s.k), s.alpha, a, Int32(s.lda), b, Int32(s.ldb), s.beta, &c, Int32(s.ldc))
            return c
        }

        /// C after `BLAS.sgemm` on `team`.
        func engine(on team: GEMMThreads) -> [Float] {
            var c = self.c
            let s = shape
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    c.withUnsafeMutableBufferPointer { c in
                        team.serving {
                            BLAS.sgemm(transposeA: s.transposeA, transposeB: s.transposeB, m: s.m, n: s.n, k: s.k, alpha: s.alpha,
                                       a: a.baseAddress!, lda: s.lda, b: b.baseAddress!, ldb: s.ldb, beta: s.beta,
                                       c: c.baseAddress!, ldc: s.ldc)
                        }
                    }
                }
            }
            return c
        }
    }

    /// Checks `actual` against `expected` (padding untouched, relative error ≤ 1e-5).
    func assertMatches(_ actual: [Float], _ expected: [Float], _ shape: Shape, file: StaticString = #filePath, line: UInt = #line) {
        for row in 0 ..< shape.m {
            for column in shape.n ..< shape.ldc where actual[row * shape.ldc + column] != Operands.sentinel {
                XCTFail("padding of C written at row \(row), column \(column): \(shape)", file: file, line: line)
                return
            }
        }
        let error = actual.withUnsafeBufferPointer { a in expected.withUnsafeBufferPointer { relativeError(a, $0) } }
        XCTAssertLessThanOrEqual(error, 1e-5, "relative error \(error): \(shape)", file: file, line: line)
    }

    /// Odd sizes, every transpose combination, padded strides, alpha/beta ≠ 1/0, and m or n too small to split.
    static let shapes: [Shape] = {
        var shapes: [Shape] = []
        for (transposeA, transposeB) in [(false, false), (false, true), (true, false), (true, true)] {
            shapes.append(Shape(m: 77, n: 301, k: 129, transposeA: transposeA, transposeB: transposeB))
            shapes.append(Shape(m: 263, n: 45, k: 517, transposeA: transposeA, transposeB: transposeB, pad: 3, alpha: 0.5, beta: 1))
            shapes.append(Shape(m: 121, n: 2049, k: 33, transposeA: transposeA, transposeB: transposeB, pad: 16, beta: -0.75))
        }
        shapes.append(Shape(m: 3, n: 1500, k: 700, transposeB: true, pad: 5, beta: 2))   // m below one block
        shapes.append(Shape(m: 1500, n: 5, k: 700, pad: 1))                                // n below one block
        shapes.append(Shape(m: 15, n: 15, k: 4000, transposeA: true))                      // neither dimension splits
        shapes.append(Shape(m: 17, n: 17, k: 20))                                          // below the FLOP threshold
        return shapes
    }()

    func testSplitMatchesOneCallForEveryLayout() {
        for threads in [2, 3] {
            let team = GEMMThreads(count: threads)
            for (index, shape) in Self.shapes.enumerated() {
                let operands = Operands(shape, seed: UInt64(index))
                assertMatches(operands.engine(on: team), operands.reference(), shape)
            }
        }
    }

    /// `A · B` with fewer than `BLAS.fewColumns` columns runs as one sgemv per column (OpenBLAS's small-matrix kernel
    /// would malloc): the tiny convolutions at the end of the Conv1d audio encoder, alone and split by rows.
    func testFewColumnProductsMatchOneCall() {
        for threads in [1, 2] {
            let team = GEMMThreads(count: threads)
            for n in 1 ..< BLAS.fewColumns {
                for shape in [Shape(m: 384, n: n, k: 1152, pad: n % 3), Shape(m: 2000, n: n, k: 700, alpha: 0.5, beta: -1.5),
                              Shape(m: 5, n: n, k: 3, pad: 2, beta: 1)] {
                    let operands = Operands(shape, seed: UInt64(n))
                    assertMatches(operands.engine(on: team), operands.reference(), shape)
                }
            }
        }
    }

    func testTheLargeShapesReallySplitAndTheSmallOnesDoNot() {
        for shape in Self.shapes.prefix(12) {
            let split = GEMMJob.partition(m: shape.m, n: shape.n, k: shape.k, threads: 2)
            XCTAssertNotNil(split, "\(shape)")
            XCTAssertGreaterThanOrEqual(2 * shape.m * shape.n * shape.k, GEMMThreads.splitThresholdFLOPs, "\(shape)")
        }
        // m = 3 splits the columns, n = 5 the rows.
        XCTAssertEqual(GEMMJob.partition(m: 3, n: 1500, k: 700, threads: 2)?.splitRows, false)
        XCTAssertEqual(GEMMJob.partition(m: 1500, n: 5, k: 700, threads: 2)?.splitRows, true)
        XCTAssertNil(GEMMJob.partition(m: 15, n: 15, k: 4000, threads: 2))
        // No part goes below OpenBLAS's small-matrix size: 1.05e6 multiply-adds cannot be split at all.
        XCTAssertNil(GEMMJob.partition(m: 64, n: 128, k: 128, threads: 2))
        if let split = GEMMJob.partition(m: 64, n: 128, k: 512, threads: 4) {
            for part in 0 ..< split.parts {
                let count = GEMMJob.range(part: part, of: split.parts, length: split.splitRows ? 64 : 128).count
                XCTAssertGreaterThan(count * (split.splitRows ? 128 : 64) * 512, GEMMJob.smallKernelMNK)
            }
        } else {
            XCTFail("4.2e6 multiply-adds should split")
        }
    }

    func testPartsTileTheDimensionInWholeBlocks() {
        for length in [1, 15, 16, 17, 100, 263, 2049] {
            for parts in 1 ... 6 {
                var next = 0
                for part in 0 ..< parts {
                    let range = GEMMJob.range(part: part, of: parts, length: length)
                    XCTAssertEqual(range.lowerBound, next, "length \(length), \(parts) parts")
                    if range.upperBound < length { XCTAssertEqual(range.upperBound % GEMMJob.block, 0) }
                    next = range.upperBound
                }
                XCTAssertEqual(next, length, "length \(length), \(parts) parts")
            }
        }
    }

    func testRunsRepeatBitForBit() {
        let team = GEMMThreads(count: 2)
        let operands = Operands(Shape(m: 120, n: 2048, k: 512, transposeB: true, beta: 1), seed: 7)
        let first = operands.engine(on: team)
        for _ in 0 ..< 20 { XCTAssertEqual(operands.engine(on: team), first) }
    }

    func testConcurrentCallersOnOneTeamAndOnSeparateTeams() {
        let shared = GEMMThreads(count: 2)
        let operands = (0 ..< 4).map { Operands(Shape(m: 96 + $0, n: 700, k: 300, transposeB: $0 % 2 == 0, beta: 0.5), seed: UInt64(40 + $0)) }
        let expected = operands.map { $0.reference() }
        DispatchQueue.concurrentPerform(iterations: 4) { index in
            // Threads 0 and 1 share a team (the one that finds it busy runs alone); 2 and 3 have their own.
            let team = index < 2 ? shared : GEMMThreads(count: 2)
            for _ in 0 ..< 25 { assertMatches(operands[index].engine(on: team), expected[index], operands[index].shape) }
        }
    }

    func testServingInstallsAndRestoresTheTeam() {
        let outer = GEMMThreads(count: 2), inner = GEMMThreads(count: 3)
        XCTAssertNil(GEMMThreads.currentCrew)
        outer.serving {
            XCTAssertTrue(GEMMThreads.currentCrew === outer.crew)
            inner.serving { XCTAssertTrue(GEMMThreads.currentCrew === inner.crew) }
            GEMMThreads(count: 1).serving { XCTAssertNil(GEMMThreads.currentCrew) }
            XCTAssertTrue(GEMMThreads.currentCrew === outer.crew)
        }
        XCTAssertNil(GEMMThreads.currentCrew)
    }

    func testTeamsStartAndStopTheirWorkers() {
        let operands = Operands(Shape(m: 64, n: 512, k: 256, transposeB: true), seed: 3)
        let expected = operands.reference()
        for threads in 1 ... 4 {
            let team = GEMMThreads(count: threads)
            XCTAssertEqual(team.count, threads)
            XCTAssertEqual(team.crew?.workers ?? 0, threads - 1)
            assertMatches(operands.engine(on: team), expected, operands.shape)
        }
        XCTAssertEqual(GEMMThreads(count: 0).count, 1)
    }

    func testGELUSplitOnATeamEqualsOneThreadBitForBit() {
        var random = SeededRandom(seed: 11)
        let count = GEMMThreads.parallelElementCount * 3 + 5  // above the split size, not a whole number of blocks
        let input = (0 ..< count).map { _ in random.nextFloat() * 8 - 4 }
        var serial = input, split = input
        serial.withUnsafeMutableBufferPointer { VectorMath.gelu($0.baseAddress!, count: count) }
        let team = GEMMThreads(count: 3)
        XCTAssertGreaterThan(team.serving { GEMMThreads.partLimit }, 1)
        split.withUnsafeMutableBufferPointer { buffer in team.serving { Activation.gelu.apply(buffer.baseAddress!, count: count) } }
        XCTAssertEqual(split, serial)
        XCTAssertNotEqual(split, input)
    }

    /// LayerNorm (rows) and GroupNorm (batch × groups) split over a team against the same calls without one, on
    /// inputs above the split size (the fixture layers' weights): equal bit for bit.
    func testNormsSplitOnATeamEqualOneThreadBitForBit() throws {
        let store = try Fixtures.layers()
        let layerNorm = try LayerNorm(store.scope("layer_norm.layer"), features: 32)
        let groupNorm = try GroupNorm(store.scope("group_norm.layer"), groups: 4, channels: 16)
        let arena = ScratchArena()
        var random = SeededRandom(seed: 12)
        let team = GEMMThreads(count: 2)
        for (shape, normalize) in [(KinevoxEngine.Shape(2_101, 32), layerNorm.forward(_:into:)), (KinevoxEngine.Shape(3, 16, 1_501), groupNorm.forward(_:into:))] {
            XCTAssertGreaterThan(shape.count, GEMMThreads.parallelElementCount)
            let x = arena.tensor(shape), serial = arena.tensor(shape), split = arena.tensor(shape)
            for i in 0 ..< x.count { x.data[i] = random.nextFloat() * 6 - 2 }
            normalize(x, serial)
            team.serving { normalize(x, split) }
            XCTAssertEqual(Array(UnsafeBufferPointer(start: split.data, count: split.count)),
                           Array(UnsafeBufferPointer(start: serial.data, count: serial.count)), "\(shape)")
        }
    }
}
