/// `torch.nn.Embedding(num_embeddings, embedding_dim)`: row lookup. State dict: `weight` [num, dim].
/// Any thread after loading.
public final class Embedding {
    public let numEmbeddings: Int
    public let embeddingDim: Int
    /// [numEmbeddings, embeddingDim]
    public let weight: Tensor

    public init(_ weights: WeightScope, numEmbeddings: Int, embeddingDim: Int) throws {
        self.numEmbeddings = numEmbeddings
        self.embeddingDim = embeddingDim
        weight = try weights.take("weight", shape: [numEmbeddings, embeddingDim])
    }

    /// Writes row `ids[i]` to row i of `y` [..., embeddingDim] (ids in `0 ..< numEmbeddings`).
    public func forward(_ ids: [Int], into y: TensorView) {
        precondition(y.shape.last == embeddingDim && y.shape.rows == ids.count, "Embedding: \(ids.count) ids into \(y.shape)")
        for (i, id) in ids.enumerated() {
            precondition(id >= 0 && id < numEmbeddings, "Embedding: id \(id) outside 0..<\(numEmbeddings)")
            (y.data + i * embeddingDim).update(from: weight.data + id * embeddingDim, count: embeddingDim)
        }
    }
}
