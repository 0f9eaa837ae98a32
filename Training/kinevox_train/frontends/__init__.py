"""Speech front ends: speech_embedding (ONNX → safetensors), WavLM checkpoint conversion, Whisper (CTranslate2
model.bin → encoder file, and its PyTorch twin)."""
