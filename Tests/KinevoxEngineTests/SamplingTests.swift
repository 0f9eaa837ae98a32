import Foundation
import XCTest
@testable import KinevoxEngine

/// The seeded generator (bit-exact against a pure-Python xoshiro256** reference in prng.json), determinism of
/// every sampling method, and top-k filtering against PyTorch's topk + scatter.
final class SamplingTests: XCTestCase {
    struct Reference: Decodable {
        struct Stream: Decodable { let seed: String; let outputs: [String] }
        struct Categorical: Decodable { let seed: String; let probabilities: [Float]; let draws: [Int] }
        let streams: [Stream]
        let categorical: Categorical
    }

    func reference() throws -> Reference {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("prng.json")))
        return try JSONDecoder().decode(Reference.self, from: data)
    }

    func testGeneratorMatchesReferenceStreamBitExactly() throws {
        let reference = try reference()
        XCTAssertEqual(reference.streams.count, 3)
        for stream in reference.streams {
            var generator = SeededRandom(seed: UInt64(stream.seed)!)
            let outputs = (0 ..< stream.outputs.count).map { _ in generator.next() }
            XCTAssertEqual(outputs, stream.outputs.map { UInt64($0)! }, "seed \(stream.seed)")
        }
    }

    func testCategoricalDrawsMatchReferenceExactly() throws {
        let categorical = try reference().categorical
        var generator = SeededRandom(seed: UInt64(categorical.seed)!)
        let draws = categorical.probabilities.withUnsafeBufferPointer { p in
            (0 ..< categorical.draws.count).map { _ in generator.sampleCategorical(probabilities: p) }
        }
        XCTAssertEqual(draws, categorical.draws)
    }

    func testUniformDrawsUseTheTopBits() {
        var a = SeededRandom(seed: 7), b = SeededRandom(seed: 7)
        for _ in 0 ..< 100 {
            let bits = b.next()
            XCTAssertEqual(a.nextDouble(), Double(bits >> 11) / 9007199254740992)
        }
        var c = SeededRandom(seed: 7), d = SeededRandom(seed: 7)
        for _ in 0 ..< 100 {
            let f = c.nextFloat()
            XCTAssertEqual(f, Float(d.next() >> 40) / 16777216)
            XCTAssertTrue(f >= 0 && f < 1)
        }
    }

    func draws(seed: UInt64, _ method: (inout SeededRandom, UnsafeBufferPointer<Float>) -> Int, _ values: [Float], count: Int = 2000) -> [Int] {
        var generator = SeededRandom(seed: seed)
        return values.withUnsafeBufferPointer { buffer in (0 ..< count).map { _ in method(&generator, buffer) } }
    }

    func testCategoricalSamplingIsReproducibleAndFollowsTheDistribution() {
        let probabilities: [Float] = [0.1, 0.0, 0.6, 0.3]
        let first = draws(seed: 99, { $0.sampleCategorical(probabilities: $1) }, probabilities)
        XCTAssertEqual(first, draws(seed: 99, { $0.sampleCategorical(probabilities: $1) }, probabilities))
        XCTAssertNotEqual(first, draws(seed: 100, { $0.sampleCategorical(probabilities: $1) }, probabilities))
        XCTAssertFalse(first.contains(1), "zero-probability class drawn")
        let frequency = (0 ..< 4).map { k in Float(first.filter { $0 == k }.count) / Float(first.count) }
        for (f, p) in zip(frequency, probabilities) { XCTAssertEqual(f, p, accuracy: 0.04) }

        let logits: [Float] = probabilities.map { $0 > 0 ? log($0) : -.infinity }
        let fromLogits = draws(seed: 99, { $0.sampleCategorical(logits: $1) }, logits)
        XCTAssertEqual(fromLogits, draws(seed: 99, { $0.sampleCategorical(logits: $1) }, logits))
        XCTAssertFalse(fromLogits.contains(1))
        let agreement = zip(first, fromLogits).filter { $0 == $1 }.count
        XCTAssertGreaterThan(agreement, 1990, "same uniform draws on equal distributions should pick the same class")
    }

    func testGumbelArgmaxIsReproducibleAndLowTemperatureIsGreedy() {
        let logits: [Float] = [0.5, 2.0, -1.0, 1.9]
        let a = draws(seed: 5, { $0.gumbelArgmax(logits: $1, temperature: 1) }, logits)
        XCTAssertEqual(a, draws(seed: 5, { $0.gumbelArgmax(logits: $1, temperature: 1) }, logits))
        XCTAssertEqual(Set(a), [0, 1, 2, 3])
        XCTAssertEqual(Set(draws(seed: 5, { $0.gumbelArgmax(logits: $1, temperature: 1e-6) }, logits)), [1])
    }

    func testTopKMatchesTorch() throws {
        let scope = try Fixtures.layers().scope("top_k")
        let logits = try scope.data("input")
        topKFilter(logits.view, k: 5, arena: ScratchArena())
        XCTAssertEqual(logits.toArray(), try scope.data("output").toArray())
    }

    func testTopKKeepsExactlyKWithTies() {
        let values: [Float] = [1, 3, 3, 3, 0, 3, 2]
        let tensor = Tensor(shape: [1, 7], values: values)
        topKFilter(tensor.view, k: 3, arena: ScratchArena())
        XCTAssertEqual(tensor.toArray(), [-.infinity, 3, 3, 3, -.infinity, -.infinity, -.infinity])
        let keepingTies = Tensor(shape: [1, 7], values: values)
        topKFilter(keepingTies.view, k: 3, keepingTies: true, arena: ScratchArena())
        XCTAssertEqual(keepingTies.toArray(), [-.infinity, 3, 3, 3, -.infinity, 3, -.infinity])
        XCTAssertEqual(kthLargestOf([5, 1, 4, 2, 3], k: 2), 4)
    }

    func kthLargestOf(_ values: [Float], k: Int) -> Float {
        var copy = values
        return copy.withUnsafeMutableBufferPointer { kthLargest($0.baseAddress!, count: $0.count, k: k) }
    }
}
