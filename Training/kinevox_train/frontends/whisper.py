"""PyTorch twin of Whisper's audio encoder as a Kinevox speech front end.

Audio in: 16 kHz mono float in [-1, 1], any length up to 30 s (no padding to 30 s). `WhisperEncoder.log_mel`
computes the log-mel spectrogram as faster-whisper's `FeatureExtractor()(audio)` does (160 zero samples
appended, centred periodic-Hann STFT of 400 samples every 160, last frame dropped, |STFT|², Slaney mel
filterbank, log10 clamped at 1e-10, floor at max − 8, (x + 4) / 4); `encode` runs conv1 (k 3) + GELU,
conv2 (k 3, stride 2) + GELU, the stored sinusoidal positions sliced to the length, pre-LayerNorm attention
blocks (query and value projections with bias, key without) and the final LayerNorm `ln_post`; with
`output_layer` < `n_layers` it returns the residual stream after that block instead (no `ln_post`).
Output: (T, d_model), one frame per 20 ms.

A converted file (`convert_whisper`) names its tensors `frontend.` + this module's state_dict keys, like any
Kinevox model file's front end, so it can be referenced by an instruction model or embedded in one; the Swift port
(Sources/KinevoxSpeech/Whisper.swift) mirrors this file class by class.
"""
from __future__ import annotations

import dataclasses
import json
import math
import pathlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

CONFIG_KEY = "kinevox.config"
PREFIX = "frontend."


@dataclass
class WhisperConfig:
    """The `frontend` config dict of a Whisper encoder file (every key is read by Swift's `WhisperConfig`)."""
    kind: str = "whisper"
    feature_dim: int = 512        # what the audio encoder receives (= d_model)
    frame_ms: float = 20.0        # one output frame per two mel frames of 10 ms
    sample_rate: int = 16000
    n_mels: int = 80
    n_fft: int = 400
    hop_length: int = 160
    pad_samples: int = 160        # zeros appended before the STFT (faster-whisper's default `padding`)
    n_ctx: int = 1500             # positions stored: 30 s of output frames
    d_model: int = 512
    n_heads: int = 8
    n_layers: int = 6
    ffn_dim: int = 2048
    output_layer: int = 6         # blocks run; n_layers = the encoder output (after ln_post)
    layer_norm_eps: float = 1e-5

    def validate(self) -> None:
        if self.kind != "whisper":
            raise ValueError(f"frontend kind {self.kind!r} is not 'whisper'")
        if self.d_model % self.n_heads or self.feature_dim != self.d_model:
            raise ValueError(f"d_model {self.d_model} must divide by n_heads {self.n_heads} and equal feature_dim")
        if not 1 <= self.output_layer <= self.n_layers:
            raise ValueError(f"output_layer {self.output_layer} outside 1..{self.n_layers}")

    @property
    def max_samples(self) -> int:
        """Longest utterance the stored positions cover (one sample under 30 s for the released models)."""
        return (2 * self.n_ctx + 1) * self.hop_length - self.pad_samples - 1

    def frame_count(self, samples: int) -> int:
        """Output frames for an utterance of `samples` samples (0 when shorter than one STFT window)."""
        if samples < self.n_fft:
            return 0
        mel_frames = (samples + self.pad_samples) // self.hop_length
        return (mel_frames - 1) // 2 + 1


def mel_filters(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Slaney-scale triangular mel filters with Slaney area normalisation, 0 Hz to Nyquist, (n_mels, n_fft/2 + 1),
    computed in float64 (the filterbank Whisper ships, librosa's default `mel(htk=False, norm="slaney")`)."""
    linear_step, break_hz = 200.0 / 3, 1000.0
    break_mel, log_step = break_hz / linear_step, math.log(6.4) / 27.0

    def hz_to_mel(f: float) -> float:
        return f / linear_step if f < break_hz else break_mel + math.log(f / break_hz) / log_step

    mels = np.linspace(0.0, hz_to_mel(sample_rate / 2), n_mels + 2)
    hz = np.where(mels < break_mel, mels * linear_step, break_hz * np.exp(log_step * (mels - break_mel)))
    bins = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    rising = (bins[None, :] - hz[:-2, None]) / (hz[1:-1] - hz[:-2])[:, None]
    falling = (hz[2:, None] - bins[None, :]) / (hz[2:] - hz[1:-1])[:, None]
    return np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (hz[2:] - hz[:-2]))[:, None]


def sinusoids(length: int, channels: int) -> np.ndarray:
    """Whisper's encoder positions (length, channels) in float64: sines then cosines of t · 10000^(−i/(C/2 − 1))."""
    half = channels // 2
    inverse = np.exp(-math.log(10000.0) / (half - 1) * np.arange(half))
    angles = np.arange(length)[:, None] * inverse[None, :]
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


class WhisperAttention(nn.Module):
    """Multi-head self-attention with separate projections: `query`, `key` (no bias), `value`, `out`."""

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model, bias=False)
        self.value = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, d = x.shape
        split = lambda y: y.view(t, self.n_heads, d // self.n_heads).transpose(0, 1)
        context = F.scaled_dot_product_attention(split(self.query(x)), split(self.key(x)), split(self.value(x)))
        return self.out(context.transpose(0, 1).reshape(t, d))


class WhisperBlock(nn.Module):
    """Pre-LayerNorm residual block: x += attn(attn_ln(x)); x += mlp(mlp_ln(x)), mlp = Linear → GELU → Linear."""

    def __init__(self, cfg: WhisperConfig):
        super().__init__()
        self.attn_ln = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.attn = WhisperAttention(cfg.d_model, cfg.n_heads)
        self.mlp_ln = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, cfg.ffn_dim), nn.GELU(), nn.Linear(cfg.ffn_dim, cfg.d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_ln(x))
        return x + self.mlp(self.mlp_ln(x))


class WhisperEncoder(nn.Module):
    """Whisper's audio encoder with its log-mel front; buffers `mel_filters` and `positional_embedding` are stored."""

    def __init__(self, cfg: WhisperConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.register_buffer("mel_filters", torch.zeros(cfg.n_mels, cfg.n_fft // 2 + 1))
        self.register_buffer("positional_embedding", torch.zeros(cfg.n_ctx, cfg.d_model))
        self.conv1 = nn.Conv1d(cfg.n_mels, cfg.d_model, 3, padding=1)
        self.conv2 = nn.Conv1d(cfg.d_model, cfg.d_model, 3, stride=2, padding=1)
        self.blocks = nn.ModuleList(WhisperBlock(cfg) for _ in range(cfg.n_layers))
        self.ln_post = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)

    def log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (N,) → (n_mels, (N + pad_samples) // hop_length) log-mel, in the module's dtype."""
        cfg = self.cfg
        dtype = self.mel_filters.dtype
        padded = F.pad(audio.to(dtype), (0, cfg.pad_samples))
        window = torch.hann_window(cfg.n_fft, device=audio.device, dtype=dtype)
        stft = torch.stft(padded, cfg.n_fft, cfg.hop_length, window=window, center=True, pad_mode="reflect",
                          return_complex=True)
        power = stft[:, :-1].abs() ** 2
        log = torch.clamp(self.mel_filters @ power, min=1e-10).log10()
        log = torch.maximum(log, log.max() - 8.0)
        return (log + 4.0) / 4.0

    def encode(self, mel: torch.Tensor, output_layer: int | None = None) -> torch.Tensor:
        """mel (n_mels, F) → (ceil(F / 2), d_model): after block `output_layer` (default the config's)."""
        layer = self.cfg.output_layer if output_layer is None else output_layer
        return self.encode_layers(mel, [layer])[layer]

    def encode_layers(self, mel: torch.Tensor, layers: list[int]) -> dict[int, torch.Tensor]:
        """The features after each block of `layers` (the last one with `ln_post`), in one pass."""
        x = F.gelu(self.conv1(mel[None]))
        x = F.gelu(self.conv2(x))[0].T
        if x.shape[0] > self.cfg.n_ctx:
            raise ValueError(f"{x.shape[0]} frames exceed the {self.cfg.n_ctx} stored positions (30 s)")
        x = x + self.positional_embedding[: x.shape[0]]
        out = {}
        for index, block in enumerate(self.blocks[: max(layers)], 1):
            x = block(x)
            if index in layers:
                out[index] = self.ln_post(x) if index == self.cfg.n_layers else x
        return out

    def forward(self, audio: torch.Tensor, output_layer: int | None = None) -> torch.Tensor:
        return self.encode(self.log_mel(audio), output_layer)


class WhisperFileError(ValueError):
    """A Whisper encoder file that cannot be loaded (not safetensors, truncated, wrong tensors or config)."""


def load_whisper(path: str | pathlib.Path) -> WhisperEncoder:
    """The twin (float32, eval mode) with the tensors and `frontend` config of a converted file."""
    from safetensors import SafetensorError, safe_open
    try:
        with safe_open(str(path), "pt") as f:
            metadata = f.metadata() or {}
            tensors = {name.removeprefix(PREFIX): f.get_tensor(name).float() for name in f.keys()}
    except (SafetensorError, OSError) as error:
        raise WhisperFileError(f"{path}: not a readable safetensors file ({error})") from error
    try:
        cfg = WhisperConfig(**json.loads(metadata[CONFIG_KEY])["frontend"])
    except (KeyError, TypeError, json.JSONDecodeError) as error:
        raise WhisperFileError(f"{path}: no Whisper 'frontend' config in the {CONFIG_KEY} metadata ({error})") from error
    model = WhisperEncoder(cfg).eval()
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        raise WhisperFileError(f"{path}: tensors do not match the config: {error}") from error
    return model


def config_json(cfg: WhisperConfig) -> str:
    """The `kinevox.config` metadata value for a file holding this front end alone."""
    return json.dumps({"frontend": dataclasses.asdict(cfg)})


def prefixed(tensors: dict) -> dict:
    """State_dict → the tensors of a front-end file (`frontend.` names, sorted: rewriting gives the same bytes)."""
    return {PREFIX + name: tensors[name] for name in sorted(tensors)}


def reference_section(path: str | pathlib.Path, file_name: str, output_layer: int | None = None) -> dict:
    """The `frontend` config section of an instruction model that uses the front-end file at `path` without
    embedding it: `file_name` (relative to the model file's folder, e.g. "whisper-base-encoder.safetensors"),
    its sha256 and optionally the block whose output is the feature. Swift's `FrontEndFile` reads it."""
    import hashlib
    from safetensors import safe_open
    with safe_open(str(path), "np") as f:
        cfg = WhisperConfig(**json.loads(f.metadata()[CONFIG_KEY])["frontend"])
    digest = hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()
    section = {"kind": cfg.kind, "feature_dim": cfg.feature_dim, "frame_ms": cfg.frame_ms, "file": file_name, "sha256": digest}
    if output_layer is not None:
        if not 1 <= output_layer <= cfg.n_layers:
            raise ValueError(f"output_layer {output_layer} outside 1..{cfg.n_layers}")
        section["output_layer"] = output_layer
    return section
