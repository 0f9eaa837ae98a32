import Foundation

/// A 3 × 3 rotation matrix in double precision (rows), with the few constructions the BVH solver
/// needs: the shortest arc between two directions, the best rigid fit of vector sets, and Z-Y-X
/// Euler angles. A value; safe from any thread.
struct Rotation3: Equatable {
    var r0: SIMD3<Double>
    var r1: SIMD3<Double>
    var r2: SIMD3<Double>

    static let identity = Rotation3(r0: [1, 0, 0], r1: [0, 1, 0], r2: [0, 0, 1])

    var transposed: Rotation3 {
        Rotation3(r0: [r0.x, r1.x, r2.x], r1: [r0.y, r1.y, r2.y], r2: [r0.z, r1.z, r2.z])
    }

    static func * (lhs: Rotation3, rhs: SIMD3<Double>) -> SIMD3<Double> {
        SIMD3(dot(lhs.r0, rhs), dot(lhs.r1, rhs), dot(lhs.r2, rhs))
    }

    static func * (lhs: Rotation3, rhs: Rotation3) -> Rotation3 {
        let rows = [lhs.r0, lhs.r1, lhs.r2].map { row in row.x * rhs.r0 + row.y * rhs.r1 + row.z * rhs.r2 }
        return Rotation3(r0: rows[0], r1: rows[1], r2: rows[2])
    }

    /// From a unit quaternion (w, x, y, z).
    init(quaternion q: SIMD4<Double>) {
        let n = q / sqrt(dot(q, q))
        let (w, x, y, z) = (n.x, n.y, n.z, n.w)
        r0 = [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)]
        r1 = [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)]
        r2 = [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]
    }

    init(r0: SIMD3<Double>, r1: SIMD3<Double>, r2: SIMD3<Double>) {
        self.r0 = r0
        self.r1 = r1
        self.r2 = r2
    }

    /// The shortest-arc rotation turning direction `from` into direction `to` (neither need be unit).
    static func shortestArc(from: SIMD3<Double>, to: SIMD3<Double>) -> Rotation3 {
        let a = normalized(from)
        let b = normalized(to)
        let c = dot(a, b)
        if c < -1 + 1e-12 {
            // Opposite directions: half a turn about any axis perpendicular to `a`.
            let helper: SIMD3<Double> = abs(a.x) < 0.9 ? [1, 0, 0] : [0, 1, 0]
            let axis = normalized(cross(a, helper))
            return Rotation3(quaternion: SIMD4(0, axis.x, axis.y, axis.z))
        }
        let k = cross(a, b)
        return Rotation3(quaternion: SIMD4(1 + c, k.x, k.y, k.z))
    }

    /// The rotation R that best maps each `from[i]` onto `to[i]` (least squares, Horn's quaternion
    /// method): maximises Σ to[i] · R from[i].
    static func bestFit(from: [SIMD3<Double>], to: [SIMD3<Double>]) -> Rotation3 {
        var s = [[Double]](repeating: [0, 0, 0], count: 3)
        for (a, b) in zip(from, to) {
            for i in 0..<3 { for j in 0..<3 { s[i][j] += a[i] * b[j] } }
        }
        let (xx, xy, xz) = (s[0][0], s[0][1], s[0][2])
        let (yx, yy, yz) = (s[1][0], s[1][1], s[1][2])
        let (zx, zy, zz) = (s[2][0], s[2][1], s[2][2])
        let n: [[Double]] = [
            [xx + yy + zz, yz - zy, zx - xz, xy - yx],
            [yz - zy, xx - yy - zz, xy + yx, zx + xz],
            [zx - xz, xy + yx, -xx + yy - zz, yz + zy],
            [xy - yx, zx + xz, yz + zy, -xx - yy + zz],
        ]
        let q = largestEigenvector(n)
        return Rotation3(quaternion: SIMD4(q[0], q[1], q[2], q[3]))
    }

    /// Angles (z, y, x) in radians with self = Rz(z) · Ry(y) · Rx(x), the order of a BVH
    /// `Zrotation Yrotation Xrotation` channel list.
    var eulerZYX: SIMD3<Double> {
        let sinY = max(-1, min(1, -r2.x))
        if abs(sinY) > 1 - 1e-12 {
            return SIMD3(atan2(-r0.y, r1.y), asin(sinY), 0)
        }
        return SIMD3(atan2(r1.x, r0.x), asin(sinY), atan2(r2.y, r2.z))
    }

    /// Eigenvector of the largest eigenvalue of a symmetric 4 × 4 matrix (cyclic Jacobi sweeps).
    private static func largestEigenvector(_ matrix: [[Double]]) -> [Double] {
        var a = matrix
        var v: [[Double]] = (0..<4).map { i in (0..<4).map { $0 == i ? 1.0 : 0.0 } }
        for _ in 0..<50 {
            var off = 0.0
            for p in 0..<4 { for q in (p + 1)..<4 { off += a[p][q] * a[p][q] } }
            if off < 1e-30 { break }
            for p in 0..<4 {
                for q in (p + 1)..<4 where abs(a[p][q]) > 1e-300 {
                    let theta = (a[q][q] - a[p][p]) / (2 * a[p][q])
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + sqrt(theta * theta + 1))
                    let c = 1 / sqrt(t * t + 1)
                    let s = t * c
                    for k in 0..<4 {
                        let akp = a[k][p]
                        let akq = a[k][q]
                        a[k][p] = c * akp - s * akq
                        a[k][q] = s * akp + c * akq
                    }
                    for k in 0..<4 {
                        let apk = a[p][k]
                        let aqk = a[q][k]
                        a[p][k] = c * apk - s * aqk
                        a[q][k] = s * apk + c * aqk
                    }
                    for k in 0..<4 {
                        let vkp = v[k][p]
                        let vkq = v[k][q]
                        v[k][p] = c * vkp - s * vkq
                        v[k][q] = s * vkp + c * vkq
                    }
                }
            }
        }
        let best = (0..<4).max { a[$0][$0] < a[$1][$1] } ?? 0
        return (0..<4).map { v[$0][best] }
    }
}

func dot(_ a: SIMD3<Double>, _ b: SIMD3<Double>) -> Double { (a * b).sum() }
func dot(_ a: SIMD4<Double>, _ b: SIMD4<Double>) -> Double { (a * b).sum() }
func cross(_ a: SIMD3<Double>, _ b: SIMD3<Double>) -> SIMD3<Double> {
    SIMD3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
}
func normalized(_ v: SIMD3<Double>) -> SIMD3<Double> {
    let length = sqrt(dot(v, v))
    return length > 0 ? v / length : v
}
