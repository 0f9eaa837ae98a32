import Foundation

/// Sinusoidal position table [maxLength, dModel]: `pe[p, 2i] = sin(p · w_i)`, `pe[p, 2i+1] = cos(p · w_i)`,
/// `w_i = exp(2i · (−ln 10000 / dModel))` — MoMask's `PositionalEncoding` (computed in float32, like PyTorch
/// does for it) or Kinevox training's `layers.sinusoidal_positions` (computed in float64, then rounded).
/// Added to [B, T, dModel] inputs. Read-only after creation: any thread.
public final class SinusoidalPositionalEncoding {
    /// The arithmetic the table is computed in (the reference implementations differ by up to ~1e-5).
    public enum Precision {
        /// float32 throughout, as MoMask's PositionalEncoding runs in PyTorch.
        case float32
        /// float64, rounded to float32 at the end, as Kinevox training's `sinusoidal_positions`.
        case float64
    }

    public let dModel: Int
    public let maxLength: Int
    /// [maxLength, dModel]
    public let table: Tensor

    /// Computes the table in `precision`.
    public init(dModel: Int, maxLength: Int, precision: Precision = .float32) {
        self.dModel = dModel
        self.maxLength = maxLength
        table = Tensor(shape: [maxLength, dModel])
        let factor = -log(10000.0) / Double(dModel)
        for i in stride(from: 0, to: dModel, by: 2) {
            for p in 0 ..< maxLength {
                let (sine, cosine): (Float, Float)
                switch precision {
                case .float32:
                    let angle = Float(p) * expf(Float(i) * Float(factor))
                    (sine, cosine) = (sinf(angle), cosf(angle))
                case .float64:
                    let angle = Double(p) * exp(Double(i) * factor)
                    (sine, cosine) = (Float(sin(angle)), Float(cos(angle)))
                }
                table.data[p * dModel + i] = sine
                if i + 1 < dModel { table.data[p * dModel + i + 1] = cosine }
            }
        }
    }

    /// Takes the stored buffer `pe` ([maxLength, 1, dModel] as MoMask registers it, or [maxLength, dModel]).
    public init(_ weights: WeightScope, dModel: Int, maxLength: Int) throws {
        self.dModel = dModel
        self.maxLength = maxLength
        let stored = weights.shape(of: "pe") == [maxLength, dModel] ? [maxLength, dModel] : [maxLength, 1, dModel]
        let pe = try weights.take("pe", shape: stored)
        table = Tensor(shape: [maxLength, dModel])
        table.data.update(from: pe.data, count: maxLength * dModel)
    }

    /// Adds positions `offset ..< offset + T` to `x` [B, T, dModel] in place.
    public func add(to x: TensorView, offset: Int = 0) {
        precondition(x.shape.rank == 3 && x.shape[2] == dModel && offset + x.shape[1] <= maxLength, "positional encoding: \(x.shape) at \(offset)")
        let t = x.shape[1]
        for b in 0 ..< x.shape[0] {
            let row = x.data + b * t * dModel, pe = table.data + offset * dModel
            for i in 0 ..< t * dModel { row[i] += pe[i] }
        }
    }
}
