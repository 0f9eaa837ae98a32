"""Speech front ends: speech_embedding (ONNX → safetensors) and WavLM checkpoint conversion."""
