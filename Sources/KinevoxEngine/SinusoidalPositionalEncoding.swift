import Foundation

/// MoMask's `PositionalEncoding` table [maxLength, dModel]: `pe[p, 2i] = sin(p · w_i)`, `pe[p, 2i+1] = cos(p · w_i)`,
/// `w_i = exp(2i · (−ln 10000 / dModel))`, computed in float32 like PyTorch. Added to [B, T, dModel] inputs.
/// Read-only after creation: any thread.
public final class SinusoidalPositionalEncoding {
    public let dModel: Int
    public let maxLength: Int
    /// [maxLength, dModel]
    public let table: Tensor

    /// Computes the table.
    public init(dModel: Int, maxLength: Int) {
        self.dModel = dModel
        self.maxLength = maxLength
        table = Tensor(shape: [maxLength, dModel])
        let factor = Float(-log(10000.0) / Double(dModel))
        for i in stride(from: 0, to: dModel, by: 2) {
            let frequency = expf(Float(i) * factor)
            for p in 0 ..< maxLength {
                let angle = Float(p) * frequency
                table.data[p * dModel + i] = sinf(angle)
                if i + 1 < dModel { table.data[p * dModel + i + 1] = cosf(angle) }
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
