import KinevoxEngine

/// |DFT|² of `frames` frames of `signal` (frame f: samples f·hop ..< f·hop + nFft) into `power` [frames, bins],
/// with `dft` the [2·bins, nFft] matrix of (windowed) cosine rows then sine rows: all frames in one GEMM, so the
/// DFT matrix is read once, not once per frame. Scratch from `arena`, given back. Any thread.
func powerSpectrum(_ signal: UnsafePointer<Float>, hop: Int, frames: Int, dft: Tensor, into power: UnsafeMutablePointer<Float>,
                   arena: ScratchArena) {
    let n = dft.shape[1], b = dft.shape[0] / 2
    let mark = arena.mark()
    let framed = arena.allocate(count: frames * n)
    for f in 0 ..< frames { (framed + f * n).update(from: signal + f * hop, count: n) }
    let spectrum = arena.allocate(count: frames * 2 * b)
    BLAS.sgemm(transposeB: true, m: frames, n: 2 * b, k: n, a: framed, lda: n, b: dft.data, ldb: n, c: spectrum, ldc: 2 * b)
    for f in 0 ..< frames {
        let re = spectrum + f * 2 * b, im = re + b, out = power + f * b
        for k in 0 ..< b { out[k] = re[k] * re[k] + im[k] * im[k] }
    }
    arena.release(to: mark)
}
