import KinevoxEngine

extension WavLM {
    /// A WavLM of `config` (e.g. `.base`) with seeded random weights, for benchmarks and smoke tests, bound by the
    /// layers' own code from a random `WeightStore`: norm weights 1 and biases 0, `gru_rel_pos_const` 1, everything
    /// else uniform with standard deviation 0.02, each rounded through float16 as a converted checkpoint's are.
    public static func randomlyInitialized(_ config: WavLMConfig, seed: UInt64) throws -> WavLM {
        let store = WeightStore(randomSeed: seed) { $0.hasSuffix("gru_rel_pos_const") ? 1 : nil }
        return try WavLM(store.root, config: config)
    }
}
