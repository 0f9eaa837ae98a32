import COpenBLAS

/// Entry points into OpenBLAS: the GEMM every layer uses and the library's thread count. Thread-safe
/// (OpenBLAS serialises its own thread pool); `setThreadCount` is meant to be called once at start-up.
public enum BLAS {
    /// Sets the number of threads OpenBLAS uses for one GEMM (process-wide).
    public static func setThreadCount(_ count: Int) { openblas_set_num_threads(Int32(count)) }

    /// The number of threads OpenBLAS uses for one GEMM.
    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// Row-major `C = alpha * op(A) * op(B) + beta * C` with `op(A)` m×k, `op(B)` k×n, `C` m×n, and leading
    /// dimensions (row strides, in floats) `lda`, `ldb`, `ldc`.
    @inlinable
    public static func sgemm(
        transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
