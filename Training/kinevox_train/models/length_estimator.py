"""Audio-conditioned motion length estimator (classification over lengths in tokens, as in MoMask)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import LengthEstimatorConfig
from .layers import init_weights


class LengthEstimator(nn.Module):
    """logits = output(dropout(GELU(norm(hidden(mean_k cond[:, k]))))) over num_lengths classes;
    class i means a motion of i tokens (i * 2^down_t frames). Input: condition tokens [B, K, cond_dim]."""

    def __init__(self, cfg: LengthEstimatorConfig):
        super().__init__()
        self.cfg = cfg
        self.hidden = nn.Linear(cfg.cond_dim, cfg.hidden_dim)
        self.norm = nn.LayerNorm(cfg.hidden_dim)
        self.dropout = nn.Dropout(cfg.dropout)
        self.output = nn.Linear(cfg.hidden_dim, cfg.num_lengths)
        self.apply(init_weights)

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        h = self.dropout(F.gelu(self.norm(self.hidden(cond.mean(dim=1)))))
        return self.output(h)
