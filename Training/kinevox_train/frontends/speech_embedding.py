"""Reference speech front end: Google's speech_embedding as packaged in openwakeword 0.5.1.

This file is the Python reference that the Swift speech front end (KinevoxSpeech) is parity-tested
against; it runs the two ONNX graphs bundled with openwakeword 0.5.1 through onnxruntime.

Conventions (those of openwakeword 0.5.1 ``utils.AudioFeatures._get_embeddings``):

1. Input: 16 kHz mono float audio in [-1, 1]. It is scaled to the int16 range by multiplying by
   32767 in float32 (no rounding, no clipping) and fed to ``melspectrogram.onnx`` as shape (1, N).
2. The graph output (time, 1, 1, 32) is squeezed to (F, 32) mel frames (512-sample FFT frames every
   160 samples = 10 ms), F = floor((N - 512) / 160) + 1 for N >= 512 samples (the graph rejects
   shorter input), and transformed as ``spec / 10 + 2``.
3. Windows of 76 mel frames start every 8 frames (frames 0, 8, 16, ...); only full windows are kept,
   so T = floor((F - 76) / 8) + 1 windows when F >= 76, else none.
4. The windows, shape (T, 76, 32, 1), go through ``embedding_model.onnx`` whose output
   (T, 1, 1, 96) is reshaped to (T, 96) float32: one 96-d embedding per 80 ms.

Kinevox framing rule on top of that: an utterance too short to give one full window (fewer than
``MIN_SAMPLES`` = 512 + 75 * 160 = 12,512 samples) is right-padded with zeros to exactly
``MIN_SAMPLES`` samples, so every utterance yields T >= 1. Longer utterances are never padded.

onnxruntime runs with one intra-op and one inter-op thread (deterministic and cheap on a shared
machine). Not thread-safe: use one ``SpeechEmbedding`` per thread.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000
MEL_BINS = 32
MEL_FFT_SAMPLES = 512
MEL_HOP_SAMPLES = 160
WINDOW_FRAMES = 76
WINDOW_STEP_FRAMES = 8
EMBEDDING_DIM = 96
INT16_SCALE = np.float32(32767.0)
MIN_SAMPLES = MEL_FFT_SAMPLES + (WINDOW_FRAMES - 1) * MEL_HOP_SAMPLES


def openwakeword_model_dir() -> Path:
    """Folder of the ONNX graphs shipped inside the installed openwakeword package."""
    import openwakeword

    return Path(os.path.dirname(openwakeword.__file__)) / "resources" / "models"


def n_mel_frames(n_samples: int) -> int:
    """Mel frames the melspectrogram graph returns for ``n_samples`` samples (0 if too short)."""
    if n_samples < MEL_FFT_SAMPLES:
        return 0
    return (n_samples - MEL_FFT_SAMPLES) // MEL_HOP_SAMPLES + 1


def n_embeddings(n_samples: int) -> int:
    """Embedding frames T for an utterance of ``n_samples`` samples, after the framing rule."""
    frames = n_mel_frames(max(n_samples, MIN_SAMPLES))
    return (frames - WINDOW_FRAMES) // WINDOW_STEP_FRAMES + 1


class SpeechEmbedding:
    """Frozen speech front end: 16 kHz mono float audio -> (T, 96) float32 embeddings (80 ms each)."""

    def __init__(self, model_dir: str | os.PathLike | None = None):
        import onnxruntime as ort

        model_dir = Path(model_dir) if model_dir is not None else openwakeword_model_dir()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        self.melspec = ort.InferenceSession(str(model_dir / "melspectrogram.onnx"), options, providers=providers)
        self.embedding = ort.InferenceSession(str(model_dir / "embedding_model.onnx"), options, providers=providers)

    def melspectrogram(self, audio: np.ndarray) -> np.ndarray:
        """(F, 32) float32 transformed mel frames (``spec / 10 + 2``) of float audio in [-1, 1]."""
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        scaled = (audio * INT16_SCALE)[None, :]
        spec = self.melspec.run(None, {"input": scaled})[0]
        spec = np.squeeze(spec).reshape(-1, MEL_BINS)
        return (spec / 10.0 + 2.0).astype(np.float32)

    def windows(self, spec: np.ndarray) -> np.ndarray:
        """(T, 76, 32, 1) float32 full windows of 76 mel frames every 8 frames."""
        starts = range(0, spec.shape[0] - WINDOW_FRAMES + 1, WINDOW_STEP_FRAMES)
        batch = np.stack([spec[s:s + WINDOW_FRAMES] for s in starts]) if len(starts) else np.zeros((0, WINDOW_FRAMES, MEL_BINS))
        return batch[..., None].astype(np.float32)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """(T, 96) float32 embeddings of one utterance (16 kHz mono float in [-1, 1]), T >= 1."""
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if audio.shape[0] < MIN_SAMPLES:
            audio = np.concatenate([audio, np.zeros(MIN_SAMPLES - audio.shape[0], np.float32)])
        batch = self.windows(self.melspectrogram(audio))
        out = self.embedding.run(None, {"input_1": batch})[0]
        return out.reshape(-1, EMBEDDING_DIM).astype(np.float32)
