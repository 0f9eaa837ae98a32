"""Audio encoder: variable-length front-end features -> a fixed number of condition tokens.

Input: features [B, S, input_dim] and lengths [B] (frames 0..length-1 are valid). Output: condition
tokens [B, num_cond_tokens, dim]. One class serves the paper's encoder (kind "memory") and the Table 6
comparison encoders, chosen by `AudioEncoderConfig.kind`.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import AudioEncoderConfig
from .layers import SinusoidalPositions, init_weights, lengths_to_padding_mask, transformer_stack


def masked_adaptive_avg_pool(x: torch.Tensor, lengths: torch.Tensor, bins: int) -> torch.Tensor:
    """Per sample, average the valid frames [0, L) into `bins` bins; bin i covers frames
    floor(i L / bins) .. ceil((i + 1) L / bins) - 1 (PyTorch's adaptive pooling rule). x [B, S, D]."""
    out = []
    for b in range(x.shape[0]):
        valid = x[b, : int(lengths[b])].t().unsqueeze(0)  # [1, D, L]
        out.append(F.adaptive_avg_pool1d(valid, bins)[0].t())
    return torch.stack(out)


class MemoryRetrieval(nn.Module):
    """Paper eq. (1): q = query_proj(x), K = key_proj(memory), V = value_proj(memory),
    out = softmax(q K^T / sqrt(dim)) V, single head, per frame (no attention across frames).

    Initialised at unit scale (`reset_parameters`), not with the generators' N(0, 0.02): with small weights
    the scores q K^T are ~1e-3, the softmax is uniform over the memory, every frame retrieves the same mean
    value and the gradient that could sharpen it is second order in the small weights — the audio never
    reaches the generator (measured: attention entropy = log M exactly after 2,400 steps).
    """

    def __init__(self, input_dim: int, dim: int, num_memory: int):
        super().__init__()
        self.memory = nn.Parameter(torch.empty(num_memory, dim))
        self.query_proj = nn.Linear(input_dim, dim)
        self.key_proj = nn.Linear(dim, dim)
        self.value_proj = nn.Linear(dim, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """memory ~ N(0, 1); projections ~ N(0, 1 / fan_in), zero bias: q, K and V have unit-variance entries,
        so the scaled scores start with a standard deviation of about 1."""
        nn.init.normal_(self.memory)
        for proj in (self.query_proj, self.key_proj, self.value_proj):
            nn.init.normal_(proj.weight, std=proj.in_features ** -0.5)
            nn.init.zeros_(proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.query_proj(x)  # [B, S, dim]
        k = self.key_proj(self.memory)  # [M, dim]
        v = self.value_proj(self.memory)
        attn = torch.softmax(q @ k.t() / math.sqrt(q.shape[-1]), dim=-1)
        return attn @ v


class AudioEncoder(nn.Module):
    """Forward per kind (LN = LayerNorm, PE = sinusoidal positions added to the frame sequence):

    memory:      h = PE(retrieval(input_norm(x))); s = [cond_queries ; h]; s = encoder(s, key padding);
                 out = out_norm(s[:, :K])
    transformer: same with h = PE(input_proj(input_norm(x)))  (CLS-token encoder of the paper's Table 6)
    conv1d:      h = input_norm(x); num_conv_layers x (zero frames >= valid length, Conv1d k3 s2 p1, GELU); valid length
                 L' = floor((L - 1) / 2) + 1 per layer; out = out_norm(masked_adaptive_avg_pool(h, L', K))
    avgpool:     out = out_norm(input_proj(masked_adaptive_avg_pool(input_norm(x), L, K)))
    identity:    out = x[:, :K] (the features are the condition, e.g. a MiniLM sentence embedding)
    """

    def __init__(self, cfg: AudioEncoderConfig):
        super().__init__()
        self.cfg = cfg
        kind = cfg.kind
        if kind == "identity":
            return
        self.input_norm = nn.LayerNorm(cfg.input_dim)
        if kind == "memory":
            self.retrieval = MemoryRetrieval(cfg.input_dim, cfg.dim, cfg.num_memory)
        elif kind in ("transformer", "avgpool"):
            self.input_proj = nn.Linear(cfg.input_dim, cfg.dim)
        elif kind == "conv1d":
            self.convs = nn.ModuleList(
                nn.Conv1d(cfg.input_dim if i == 0 else cfg.dim, cfg.dim, 3, stride=2, padding=1)
                for i in range(cfg.num_conv_layers))
        else:
            raise ValueError(f"unknown audio encoder kind {kind!r}")
        if kind in ("memory", "transformer"):
            self.positions = SinusoidalPositions(cfg.dim, cfg.max_positions)
            self.cond_queries = nn.Parameter(torch.randn(cfg.num_cond_tokens, cfg.dim) * 0.02)
            self.encoder = transformer_stack(cfg.dim, cfg.num_heads, cfg.ff_dim, cfg.num_layers, cfg.dropout,
                                            final_norm=False)
        self.out_norm = nn.LayerNorm(cfg.dim)
        self.apply(init_weights)
        if kind == "memory":
            self.retrieval.reset_parameters()

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        kind = self.cfg.kind
        k = self.cfg.num_cond_tokens
        if kind == "identity":
            return features[:, :k]
        x = self.input_norm(features)
        if kind == "avgpool":
            return self.out_norm(self.input_proj(masked_adaptive_avg_pool(x, lengths, k)))
        if kind == "conv1d":
            h = x.transpose(1, 2)
            valid = lengths.clone()
            for conv in self.convs:
                h = h.masked_fill(lengths_to_padding_mask(valid, h.shape[2]).unsqueeze(1), 0.0)
                h = F.gelu(conv(h))
                valid = torch.div(valid - 1, 2, rounding_mode="floor") + 1
            return self.out_norm(masked_adaptive_avg_pool(h.transpose(1, 2), valid, k))
        h = self.retrieval(x) if kind == "memory" else self.input_proj(x)
        h = self.positions(h)
        b, s, _ = h.shape
        seq = torch.cat([self.cond_queries.unsqueeze(0).expand(b, -1, -1), h], dim=1)
        pad = torch.cat([torch.zeros(b, k, dtype=torch.bool, device=h.device),
                         lengths_to_padding_mask(lengths, s)], dim=1)
        seq = self.encoder(seq, src_key_padding_mask=pad)
        return self.out_norm(seq[:, :k])
