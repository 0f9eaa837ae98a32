import COpenBLAS

/// The GEMM every layer uses. OpenBLAS always runs single-threaded (set once, on first use); a GEMM is
/// spread over the `GEMMThreads` team that the calling thread is `serving`, so the thread count belongs to
/// a model, not to the process. Any thread may call; calls on different threads are independent.
public enum BLAS {
    /// Row-major `C = alpha * op(A) * op(B) + beta * C` with `op(A)` m×k, `op(B)` k×n, `C` m×n, and leading
    /// dimensions (row strides, in floats) `lda`, `ldb`, `ldc`. Runs on the calling thread's `GEMMThreads`
    /// team when it has one and the GEMM is large enough, else on the calling thread.
    public static func sgemm(
        transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        configureLibrary()
        if let crew = GEMMThreads.currentCrew, 2 * m * n * k >= GEMMThreads.splitThresholdFLOPs,
           let split = GEMMJob.partition(m: m, n: n, k: k, threads: crew.workers + 1) {
            let job = GEMMJob(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, beta: beta,
                              a: a, b: b, c: c, lda: lda, ldb: ldb, ldc: ldc, splitRows: split.splitRows, parts: split.parts)
            if crew.dispatch(job) { return }
        }
        sgemmOnThisThread(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                          b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// The same product on the calling thread (also each part of a split GEMM). OpenBLAS's small-matrix kernel for
    /// `A · B` with few columns mallocs a packing buffer on every call, so those run as one `sgemv` per column of
    /// B and C, which allocates nothing.
    static func sgemmOnThisThread(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if !transposeA && !transposeB && n < fewColumns {
            for j in 0 ..< n {
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(k), alpha, a, Int32(lda), b + j, Int32(ldb),
                            beta, c + j, Int32(ldc))
            }
            return
        }
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Products `A · B` (neither transposed) with fewer columns than this run as one `sgemv` per column.
    static let fewColumns = 8

    /// Makes OpenBLAS single-threaded, once per process (its own threaded driver allocates a job array per GEMM
    /// and its thread count is process-wide).
    static func configureLibrary() { _ = singleThreadedLibrary }

    private static let singleThreadedLibrary: Void = openblas_set_num_threads(1)
}
