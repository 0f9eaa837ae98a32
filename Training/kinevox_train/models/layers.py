"""Building blocks shared by the audio encoder and the generators (standard torch layers only)."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def sinusoidal_positions(num_positions: int, dim: int) -> torch.Tensor:
    """[num_positions, dim] table: pe[p, 2i] = sin(p / 10000^(2i/dim)), pe[p, 2i+1] = cos(same angle)."""
    position = torch.arange(num_positions, dtype=torch.float64).unsqueeze(1)
    inv_freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float64) * (-math.log(10000.0) / dim))
    pe = torch.zeros(num_positions, dim, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(position * inv_freq)
    pe[:, 1::2] = torch.cos(position * inv_freq)
    return pe.float()


class SinusoidalPositions(nn.Module):
    """Adds fixed sinusoidal positions to [B, T, D] (table not stored in the state_dict)."""

    def __init__(self, dim: int, max_positions: int):
        super().__init__()
        self.register_buffer("table", sinusoidal_positions(max_positions, dim), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > self.table.shape[0]:
            raise ValueError(f"sequence of {x.shape[1]} positions exceeds max_positions {self.table.shape[0]}")
        return x + self.table[: x.shape[1]].unsqueeze(0)


def transformer_stack(dim: int, num_heads: int, ff_dim: int, num_layers: int, dropout: float,
                      final_norm: bool) -> nn.TransformerEncoder:
    """Pre-norm encoder stack: x = x + SA(LN1(x)); x = x + W2 GELU(W1 LN2(x)); optional final LayerNorm.

    GELU is the exact (erf) form; LayerNorm eps 1e-5; attention uses PyTorch's packed in_proj (q, k, v rows).
    """
    layer = nn.TransformerEncoderLayer(d_model=dim, nhead=num_heads, dim_feedforward=ff_dim, dropout=dropout,
                                       activation="gelu", batch_first=True, norm_first=True)
    norm = nn.LayerNorm(dim) if final_norm else None
    return nn.TransformerEncoder(layer, num_layers=num_layers, norm=norm, enable_nested_tensor=False)


class PredictionHead(nn.Module):
    """out(LN(GELU(dense(x)))): the generators' token head (BERT style)."""

    def __init__(self, dim: int, out_dim: int):
        super().__init__()
        self.dense = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.norm(F.gelu(self.dense(x))))


def lengths_to_padding_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """[B, max_len] bool, True where a position is padding (index >= length)."""
    return torch.arange(max_len, device=lengths.device).unsqueeze(0) >= lengths.unsqueeze(1)


def init_weights(module: nn.Module) -> None:
    """Normal(0, 0.02) for Linear/Embedding weights, zero biases, unit LayerNorms (MoMask's recipe)."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        module.weight.data.normal_(mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()
    elif isinstance(module, nn.LayerNorm):
        module.weight.data.fill_(1.0)
        module.bias.data.zero_()
    elif isinstance(module, nn.MultiheadAttention):
        nn.init.normal_(module.in_proj_weight, std=0.02)
        nn.init.zeros_(module.in_proj_bias)
