/// Element-wise arithmetic and layout changes on views, in place or into caller buffers; none allocates.
/// Any thread that owns the memory.
extension TensorView {
    /// `self += alpha · other` element-wise (same element count), e.g. residual connections
    /// or classifier-free guidance `uncond + s · (cond − uncond)`.
    public func add(_ other: TensorView, scaledBy alpha: Float = 1) {
        precondition(other.count == count, "add \(other.shape) into \(shape)")
        let a = data, b = other.data
        if alpha == 1 {
            for i in 0 ..< count { a[i] += b[i] }
        } else {
            for i in 0 ..< count { a[i] += alpha * b[i] }
        }
    }

    /// `self *= factor` element-wise.
    public func scale(by factor: Float) {
        let a = data
        for i in 0 ..< count { a[i] *= factor }
    }

    /// `self = max(self, other)` element-wise (same element count).
    public func maximum(_ other: TensorView) {
        precondition(other.count == count, "maximum of \(other.shape) and \(shape)")
        let a = data, b = other.data
        for i in 0 ..< count { a[i] = Swift.max(a[i], b[i]) }
    }

    /// Swaps the last two dimensions into `y` (e.g. [B, T, C] ↔ [B, C, T] between transformer and conv layouts).
    /// `y` must have the swapped shape and must not overlap this view.
    public func transposeLastTwo(into y: TensorView) {
        precondition(shape.rank >= 2 && y.count == count, "transpose \(shape) into \(y.shape)")
        let rows = shape[shape.rank - 2], columns = shape.last
        precondition(y.shape.last == rows && y.shape[y.shape.rank - 2] == columns, "transpose \(shape) into \(y.shape)")
        let plane = rows * columns
        for b in 0 ..< count / Swift.max(plane, 1) {
            let src = data + b * plane, dst = y.data + b * plane
            var r0 = 0
            while r0 < rows {  // 32×32 tiles keep both sides in cache
                let r1 = Swift.min(r0 + 32, rows)
                var c0 = 0
                while c0 < columns {
                    let c1 = Swift.min(c0 + 32, columns)
                    for r in r0 ..< r1 {
                        for c in c0 ..< c1 { dst[c * rows + r] = src[r * columns + c] }
                    }
                    c0 = c1
                }
                r0 = r1
            }
        }
    }
}
