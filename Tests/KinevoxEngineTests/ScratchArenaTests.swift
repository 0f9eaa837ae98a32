import XCTest
@testable import KinevoxEngine

/// Scratch arena planning: growth during warm-up, none afterwards; mark/release reuse.
final class ScratchArenaTests: XCTestCase {
    func testWarmUpPlansMemoryThenNothingIsAllocated() throws {
        let store = try Fixtures.layers()
        let layer = try TransformerEncoderLayer(store.scope("encoder_layer_pre_gelu.layer"), dModel: 32, numHeads: 4,
                                                dimFeedforward: 64, activation: .gelu, normFirst: true)
        let input = try store.scope("encoder_layer_pre_gelu").data("input")
        let arena = ScratchArena()
        func inference() {
            arena.reset()
            let x = arena.tensor(input.view.shape)
            x.copy(from: input.view)
            layer.forward(x, arena: arena)
        }
        inference()
        XCTAssertGreaterThan(arena.systemAllocationCount, 1, "the first inference overflows an empty arena")
        inference()
        let planned = arena.systemAllocationCount
        XCTAssertEqual(arena.capacity, arena.highWater)
        for _ in 0 ..< 3 { inference() }
        XCTAssertEqual(arena.systemAllocationCount, planned, "no arena growth after warm-up")
    }

    func testReleaseReusesMemoryAndViewsAreAligned() {
        let arena = ScratchArena(capacity: 1024)
        let mark = arena.mark()
        let a = arena.allocate(count: 10)
        XCTAssertEqual(Int(bitPattern: a) % 64, 0)
        let b = arena.allocate(count: 3)
        XCTAssertEqual(b - a, 16, "allocations are rounded to 16 floats")
        arena.release(to: mark)
        XCTAssertEqual(arena.allocate(count: 5), a)
        XCTAssertEqual(arena.systemAllocationCount, 1)
    }
}
