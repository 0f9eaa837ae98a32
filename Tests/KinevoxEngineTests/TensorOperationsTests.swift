import XCTest
@testable import KinevoxEngine

/// Element-wise operations and layout changes (exact results: no rounding beyond one fp32 operation).
final class TensorOperationsTests: XCTestCase {
    func testTransposeLastTwoAcrossTileBoundaries() {
        let (b, r, c) = (2, 37, 70)
        let x = Tensor(shape: [b, r, c], values: (0 ..< b * r * c).map(Float.init))
        let y = Tensor(shape: [b, c, r])
        x.view.transposeLastTwo(into: y.view)
        for i in 0 ..< b {
            for j in 0 ..< r {
                for k in 0 ..< c { XCTAssertEqual(y.data[(i * c + k) * r + j], x.data[(i * r + j) * c + k]) }
            }
        }
        let back = Tensor(shape: [b, r, c])
        y.view.transposeLastTwo(into: back.view)
        XCTAssertEqual(back.toArray(), x.toArray())
    }

    func testAddScaleAndMaximum() {
        let a = Tensor(shape: [4], values: [1, -2, 3, -4]), b = Tensor(shape: [4], values: [0.5, 0.5, -1, 2])
        a.view.add(b.view, scaledBy: 2)
        XCTAssertEqual(a.toArray(), [2, -1, 1, 0])
        a.view.add(b.view)
        XCTAssertEqual(a.toArray(), [2.5, -0.5, 0, 2])
        a.view.scale(by: -2)
        XCTAssertEqual(a.toArray(), [-5, 1, 0, -4])
        a.view.maximum(b.view)
        XCTAssertEqual(a.toArray(), [0.5, 1, 0, 2])
    }

    func testViewsSliceAndReshapeWithoutCopying() {
        let t = Tensor(shape: [2, 3, 4], values: (0 ..< 24).map(Float.init))
        let second = t.view[1]
        XCTAssertEqual(second.shape, Shape(3, 4))
        XCTAssertEqual(second.data, t.data + 12)
        XCTAssertEqual(second[2].toArray(), [20, 21, 22, 23])
        XCTAssertEqual(t.view.reshaped(Shape(6, 4)).shape.rows, 6)
        XCTAssertEqual(Shape(2, 3, 4).replacingLast(7), Shape(2, 3, 7))
        XCTAssertNil(Shape([1, 2, 3, 4, 5]))
    }
}
