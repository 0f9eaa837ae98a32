import XCTest
@testable import KinevoxMotion

final class TokenSamplingTests: XCTestCase {
    /// Cosine schedule: everything masked first, one token last, torch.round's half-to-even.
    func testMaskedCountFollowsCosineSchedule() {
        XCTAssertEqual(TokenSampling.maskedCount(step: 0, steps: 10, length: 49), 49)
        XCTAssertEqual(TokenSampling.maskedCount(step: 9, steps: 10, length: 49), 1)
        let counts = (0..<10).map { TokenSampling.maskedCount(step: $0, steps: 10, length: 49) }
        XCTAssertEqual(counts, counts.sorted(by: >))
        // cos(π/2 · 1/3) · 10 = 8.66 → 9; cos(π/3) · 5 = 2.5 → 2 (half to even).
        XCTAssertEqual(TokenSampling.maskedCount(step: 1, steps: 4, length: 10), 9)
        XCTAssertEqual(TokenSampling.maskedCount(step: 2, steps: 4, length: 5), 2)
        XCTAssertEqual(TokenSampling.maskedCount(step: 0, steps: 1, length: 8), 1)
    }

    func testLowestScoresBreakTiesByPosition() {
        XCTAssertEqual(TokenSampling.lowestScores([0.5, 0.1, 0.5, 0.5, 1e5], count: 3), [true, true, true, false, false])
        XCTAssertEqual(TokenSampling.lowestScores([0, 0, 0], count: 3), [true, true, true])
    }

    func testTopKKeepsTiesAtTheKthValue() {
        var logits: [Float] = [1, 5, 3, 4, 3, 3, 0, 9]
        TokenSampling.topKFilter(&logits, classes: 4, k: 2)
        XCTAssertEqual(logits, [-.infinity, 5, -.infinity, 4, 3, 3, -.infinity, 9])
        var untouched: [Float] = [1, 2]
        TokenSampling.topKFilter(&untouched, classes: 2, k: 2)
        XCTAssertEqual(untouched, [1, 2])
    }

    /// The allocation-free selection keeps exactly what the definition (sort each row, take the k-th
    /// value) keeps, on random rows full of ties and −∞; the insertion-sorted masking equals a stable sort.
    func testSelectionMatchesSortingOnRandomRows() {
        var random = SystemRandomNumberGenerator()
        for trial in 0..<200 {
            let classes = Int.random(in: 2...40, using: &random), rows = Int.random(in: 1...4, using: &random)
            var logits = (0..<rows * classes).map { _ -> Float in
                Int.random(in: 0..<8, using: &random) == 0 ? -.infinity : Float(Int.random(in: -3...3, using: &random))
            }
            let k = Int.random(in: 1..<classes, using: &random)
            var expected = logits
            for row in stride(from: 0, to: expected.count, by: classes) {
                let kth = expected[row..<row + classes].sorted(by: >)[k - 1]
                for i in row..<row + classes where expected[i] < kth { expected[i] = -.infinity }
            }
            TokenSampling.topKFilter(&logits, classes: classes, k: k)
            XCTAssertEqual(logits, expected, "trial \(trial): k = \(k)")

            let scores = (0..<classes).map { _ in Float(Int.random(in: 0...4, using: &random)) / 4 }
            let count = Int.random(in: 1...classes, using: &random)
            let order = scores.indices.sorted { scores[$0] < scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
            var masked = [Bool](repeating: false, count: classes)
            for position in order.prefix(count) { masked[position] = true }
            XCTAssertEqual(TokenSampling.lowestScores(scores, count: count), masked, "trial \(trial)")
        }
    }

    func testGumbelArgmaxAndConfidence() {
        let logits: [Float] = [0, 2, 1, 1]
        XCTAssertEqual(gumbelArgmax(logits, classes: 2, temperature: 0, uniforms: []), [1, 0])
        // A draw near 1 gives noise near +∞ to its class, one near 0 gives −∞.
        XCTAssertEqual(gumbelArgmax(logits, classes: 2, temperature: 1, uniforms: [0.9999999, 1e-9, 0.5, 0.5]),
                       [0, 0])
        let p = chosenProbability([0, 0, 0, Float(log(3.0))], classes: 2, temperature: 1, chosen: [0, 1])
        XCTAssertEqual(p[0], 0.5, accuracy: 1e-6)
        XCTAssertEqual(p[1], 0.75, accuracy: 1e-6)
    }

    private func gumbelArgmax(_ logits: [Float], classes: Int, temperature: Float, uniforms: [Float]) -> [Int] {
        var chosen = [Int](repeating: 0, count: logits.count / classes)
        logits.withUnsafeBufferPointer { logits in
            uniforms.withUnsafeBufferPointer { uniforms in
                chosen.withUnsafeMutableBufferPointer {
                    TokenSampling.gumbelArgmax(logits, classes: classes, temperature: temperature, uniforms: uniforms, into: $0)
                }
            }
        }
        return chosen
    }

    private func chosenProbability(_ logits: [Float], classes: Int, temperature: Float, chosen: [Int]) -> [Float] {
        var probability = [Float](repeating: 0, count: chosen.count)
        logits.withUnsafeBufferPointer { logits in
            chosen.withUnsafeBufferPointer { chosen in
                probability.withUnsafeMutableBufferPointer {
                    TokenSampling.chosenProbability(logits, classes: classes, temperature: temperature, chosen: chosen, into: $0)
                }
            }
        }
        return probability
    }

    /// Inverse CDF over the softmax with the shortest lengths excluded.
    func testLengthSampling() {
        let logits: [Float] = [10, 0, 0, 0]
        XCTAssertEqual(TokenSampling.length(logits: logits, minTokens: 1, argmax: false, u: 0.1), 1)
        XCTAssertEqual(TokenSampling.length(logits: logits, minTokens: 1, argmax: false, u: 0.5), 2)
        XCTAssertEqual(TokenSampling.length(logits: logits, minTokens: 1, argmax: false, u: 0.99), 3)
        XCTAssertEqual(TokenSampling.length(logits: [0, 0, 5, 1], minTokens: 1, argmax: true, u: 0.99), 2)
    }
}
