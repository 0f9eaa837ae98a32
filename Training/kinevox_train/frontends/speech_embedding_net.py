"""PyTorch twin of openwakeword 0.5.1's two speech_embedding ONNX graphs.

`SpeechEmbeddingNet` holds exactly the tensors that `convert_speech_embedding` writes (state_dict keys
without the `frontend.` prefix) and computes what melspectrogram.onnx + embedding_model.onnx compute,
so the Swift port (Sources/KinevoxSpeech/SpeechEmbedding.swift) mirrors this file class by class.
Audio in: 16 kHz mono float in [-1, 1]; embeddings out: (T, 96), one every 8 mel frames (80 ms).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
import torch.nn.functional as F


@dataclass
class SpeechEmbeddingConfig:
    """The `frontend` config dict of a model file whose front end is speech_embedding."""
    kind: str = "speech_embedding"
    feature_dim: int = 96                 # what the audio encoder receives (= embedding_dim)
    frame_ms: float = 80.0                # one embedding per window stride (8 × 10 ms)
    sample_rate: int = 16000
    input_scale: float = 32767.0          # float audio → int16 range, as openwakeword feeds the graph
    n_fft: int = 512
    hop_length: int = 160
    n_mels: int = 32
    amin: float = 1e-10                   # power floor before the log
    top_db: float = 80.0                  # log-mel floor = utterance max − top_db
    mel_scale: float = 0.1                # openwakeword's spec/10 + 2
    mel_offset: float = 2.0
    window_frames: int = 76               # mel frames per embedding window
    window_stride: int = 8                # mel frames between windows
    embedding_dim: int = 96
    leaky_relu_slope: float = 0.2
    activation_floor: float = -0.4        # max(leaky_relu(x), floor) after every conv but the last
    conv_kernels: list[list[int]] = field(default_factory=list)    # [kh, kw] per conv, in order
    conv_channels: list[list[int]] = field(default_factory=list)   # [in, out] per conv
    pools: dict[str, list[int]] = field(default_factory=dict)      # conv index → [kh, kw] max-pool after it


class MelSpectrogram(nn.Module):
    """Power STFT (no centering, windowed DFT as two strided convolutions) → mel → dB with top_db floor."""

    def __init__(self, cfg: SpeechEmbeddingConfig):
        super().__init__()
        self.cfg = cfg
        bins = cfg.n_fft // 2 + 1
        self.stft_real = nn.Conv1d(1, bins, cfg.n_fft, stride=cfg.hop_length, bias=False)
        self.stft_imag = nn.Conv1d(1, bins, cfg.n_fft, stride=cfg.hop_length, bias=False)
        self.mel_filters = nn.Parameter(torch.zeros(bins, cfg.n_mels))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (N,) float in [-1, 1] → (frames, n_mels), already scaled as openwakeword does (x/10 + 2)."""
        x = (audio * self.cfg.input_scale)[None, None]
        power = self.stft_real(x)[0].T ** 2 + self.stft_imag(x)[0].T ** 2
        db = torch.log(torch.clamp(power @ self.mel_filters, min=self.cfg.amin)) * 10.0 / 2.3025851
        db = torch.maximum(db, db.max() - self.cfg.top_db)
        return db * self.cfg.mel_scale + self.cfg.mel_offset


class EmbeddingNet(nn.Module):
    """The 20-conv speech_embedding CNN over one (76, 32) mel window; batch-norm already folded."""

    def __init__(self, cfg: SpeechEmbeddingConfig):
        super().__init__()
        self.cfg = cfg
        self.convs = nn.ModuleList(
            nn.Conv2d(cin, cout, tuple(k), padding=(0, (k[1] - 1) // 2))
            for (cin, cout), k in zip(cfg.conv_channels, cfg.conv_kernels))

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """windows (B, 76, 32) → (B, 96)."""
        x = windows[:, None]
        last = len(self.convs) - 1
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i == last:
                break
            x = torch.clamp(F.leaky_relu(x, self.cfg.leaky_relu_slope), min=self.cfg.activation_floor)
            if str(i) in self.cfg.pools:
                x = F.max_pool2d(x, tuple(self.cfg.pools[str(i)]))
        return x.reshape(x.shape[0], -1)


class SpeechEmbeddingNet(nn.Module):
    """Audio → log-mel → sliding 76-frame windows every 8 frames → (T, 96) embeddings."""

    def __init__(self, cfg: SpeechEmbeddingConfig):
        super().__init__()
        self.cfg = cfg
        self.melspectrogram = MelSpectrogram(cfg)
        self.embedding = EmbeddingNet(cfg)

    def min_samples(self) -> int:
        """Fewest samples that give one full window; shorter audio is right-padded with zeros to this."""
        return self.cfg.n_fft + (self.cfg.window_frames - 1) * self.cfg.hop_length

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.shape[0] < self.min_samples():
            audio = F.pad(audio, (0, self.min_samples() - audio.shape[0]))
        mel = self.melspectrogram(audio)
        starts = range(0, mel.shape[0] - self.cfg.window_frames + 1, self.cfg.window_stride)
        windows = torch.stack([mel[s:s + self.cfg.window_frames] for s in starts])
        return self.embedding(windows)
