import XCTest
@testable import KinevoxCapture

final class SampleRingTests: XCTestCase {
    func testWrapsAroundAndKeepsOrder() {
        let ring = SampleRing(minimumCapacity: 5)
        XCTAssertEqual(ring.capacity, 8)
        var next: Int16 = 0
        var expected: Int16 = 0
        var out = [Int16](repeating: 0, count: 3)
        for _ in 0..<20 {
            let chunk = (0..<5).map { _ -> Int16 in defer { next += 1 }; return next }
            XCTAssertEqual(chunk.withUnsafeBufferPointer { ring.write($0) }, 5)
            for _ in 0..<2 {
                let n = out.withUnsafeMutableBufferPointer { ring.read(into: $0) }
                for i in 0..<n { XCTAssertEqual(out[i], expected); expected += 1 }
            }
            while ring.count > 0 {
                let n = out.withUnsafeMutableBufferPointer { ring.read(into: $0) }
                for i in 0..<n { XCTAssertEqual(out[i], expected); expected += 1 }
            }
        }
        XCTAssertEqual(expected, 100)
        XCTAssertEqual(ring.droppedSamples, 0)
    }

    func testCountsWhatDoesNotFit() {
        let ring = SampleRing(minimumCapacity: 4)
        let stored = [Int16](repeating: 7, count: 6).withUnsafeBufferPointer { ring.write($0) }
        XCTAssertEqual(stored, 4)
        XCTAssertEqual(ring.droppedSamples, 2)
        XCTAssertEqual(ring.freeSpace, 0)
    }

    func testTwoThreadsTransferEverySampleInOrder() {
        let ring = SampleRing(minimumCapacity: 256)
        let total = 200_000
        let producer = Thread {
            var value = 0
            var chunk = [Int16](repeating: 0, count: 97)
            while value < total {
                let n = min(chunk.count, total - value, ring.freeSpace)
                if n == 0 { continue }
                for i in 0..<n { chunk[i] = Int16(truncatingIfNeeded: value + i) }
                chunk.withUnsafeBufferPointer { _ = ring.write(UnsafeBufferPointer(rebasing: $0[0..<n])) }
                value += n
            }
        }
        producer.start()
        var received = 0
        var buffer = [Int16](repeating: 0, count: 61)
        var mismatches = 0
        while received < total {
            let n = buffer.withUnsafeMutableBufferPointer { ring.read(into: $0) }
            for i in 0..<n where buffer[i] != Int16(truncatingIfNeeded: received + i) { mismatches += 1 }
            received += n
        }
        XCTAssertEqual(mismatches, 0)
        XCTAssertEqual(ring.droppedSamples, 0)
    }
}
