"""Benchmark support (`make bench`): random-weight model files, PyTorch eager / ONNX Runtime / cascaded
(pocketsphinx) comparisons of the Swift engine, the daemon latency probe and the docs/benchmarks.md report."""
