import XCTest
@testable import KinevoxEngine

/// The convolution's column layout (im2col) on shapes the PyTorch fixtures do not reach: whole-row kernels with
/// vertical padding and dilation (copied as one block) next to padded kernels (copied row by row), against a
/// direct convolution in double precision. Tolerance 1e-5 absolute (values are O(1), K ≤ 36 terms).
final class ConvolutionLayoutTests: XCTestCase {
    private func direct(_ x: [Float], _ kernel: ConvolutionKernel, batch: Int, height: Int, width: Int) -> [Float] {
        let out = kernel.outputSize(height: height, width: width)
        var y = [Float](repeating: 0, count: batch * kernel.outChannels * out.height * out.width)
        let cg = kernel.inChannels / kernel.groups, og = kernel.outChannels / kernel.groups
        for b in 0 ..< batch {
            for o in 0 ..< kernel.outChannels {
                let g = o / og
                for oh in 0 ..< out.height {
                    for ow in 0 ..< out.width {
                        var sum = Double(kernel.bias?.data[o] ?? 0)
                        for c in 0 ..< cg {
                            for i in 0 ..< kernel.kernel.h {
                                for j in 0 ..< kernel.kernel.w {
                                    let ih = oh * kernel.stride.h + i * kernel.dilation.h - kernel.padding.h
                                    let iw = ow * kernel.stride.w + j * kernel.dilation.w - kernel.padding.w
                                    guard ih >= 0, ih < height, iw >= 0, iw < width else { continue }
                                    let w = kernel.weight.data[((o * cg + c) * kernel.kernel.h + i) * kernel.kernel.w + j]
                                    sum += Double(w) * Double(x[((b * kernel.inChannels + g * cg + c) * height + ih) * width + iw])
                                }
                            }
                        }
                        y[((b * kernel.outChannels + o) * out.height + oh) * out.width + ow] = Float(sum)
                    }
                }
            }
        }
        return y
    }

    func testColumnLayoutsMatchDirectConvolution() {
        var random = SeededRandom(seed: 3)
        let cases: [(kernel: (h: Int, w: Int), stride: (h: Int, w: Int), padding: (h: Int, w: Int), dilation: (h: Int, w: Int), groups: Int)] = [
            ((3, 1), (1, 1), (2, 0), (2, 1), 1),  // whole rows, zero rows above and below
            ((3, 1), (1, 1), (0, 0), (1, 1), 2),  // whole rows, no padding (speech_embedding's time kernels)
            ((1, 3), (1, 1), (0, 1), (1, 1), 1),  // short padded rows
            ((3, 3), (1, 1), (1, 1), (1, 1), 1),  // both
            ((3, 2), (2, 1), (1, 0), (1, 2), 1),  // strided rows (row by row)
        ]
        let (batch, inChannels, outChannels, height, width) = (2, 4, 6, 7, 5)
        let arena = ScratchArena()
        for (index, c) in cases.enumerated() {
            let cg = inChannels / c.groups
            let weights = (0 ..< outChannels * cg * c.kernel.h * c.kernel.w).map { _ in random.nextFloat() - 0.5 }
            let kernel = ConvolutionKernel(
                inChannels: inChannels, outChannels: outChannels, groups: c.groups, kernel: c.kernel, stride: c.stride,
                padding: c.padding, dilation: c.dilation,
                weight: Tensor(shape: [outChannels, cg, c.kernel.h, c.kernel.w], values: weights),
                bias: Tensor(shape: [outChannels], values: (0 ..< outChannels).map { Float($0) * 0.1 }))
            let x = (0 ..< batch * inChannels * height * width).map { _ in random.nextFloat() * 2 - 1 }
            let expected = direct(x, kernel, batch: batch, height: height, width: width)
            let out = kernel.outputSize(height: height, width: width)
            var y = [Float](repeating: .nan, count: batch * outChannels * out.height * out.width)
            arena.reset()
            x.withUnsafeBufferPointer { xs in
                y.withUnsafeMutableBufferPointer {
                    kernel.forward(xs.baseAddress!, batch: batch, height: height, width: width, into: $0.baseAddress!, arena: arena)
                }
            }
            let worst = zip(y, expected).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(worst, 1e-5, "case \(index): max abs error \(worst)")
        }
    }
}
