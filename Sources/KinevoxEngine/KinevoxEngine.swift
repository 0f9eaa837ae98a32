/// Tensors and BLAS-backed layers.
