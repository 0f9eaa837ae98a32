"""Masked transformer over base-layer (q = 0) motion codes with prefixed condition tokens (MaskGIT)."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import MaskTransformerConfig
from .layers import PredictionHead, SinusoidalPositions, init_weights, lengths_to_padding_mask, transformer_stack


def cosine_mask_ratio(t: torch.Tensor) -> torch.Tensor:
    """gamma(t) = cos(pi t / 2): the fraction of tokens masked at time t in [0, 1]."""
    return torch.cos(t * math.pi * 0.5)


def drop_condition(cond: torch.Tensor, prob: float, training: bool) -> torch.Tensor:
    """Classifier-free guidance training: zero each sample's condition tokens with probability `prob`."""
    if not training or prob <= 0:
        return cond
    keep = (torch.rand(cond.shape[0], 1, 1, device=cond.device) >= prob).type(cond.dtype)
    return cond * keep


class MaskTransformer(nn.Module):
    """logits = head(encoder([cond_emb(c) ; PE(token_emb(ids))], key padding))[:, K:]

    ids [B, T] in 0..num_codes-1, mask_id = num_codes, pad_id = num_codes + 1; cond [B, K, cond_dim]
    (all zeros = unconditional); logits [B, T, num_codes]. Positions are added to motion tokens only.
    """

    def __init__(self, cfg: MaskTransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.mask_id = cfg.num_codes
        self.pad_id = cfg.num_codes + 1
        self.token_emb = nn.Embedding(cfg.num_codes + 2, cfg.latent_dim)
        self.cond_emb = nn.Linear(cfg.cond_dim, cfg.latent_dim)
        self.positions = SinusoidalPositions(cfg.latent_dim, cfg.max_positions)
        self.encoder = transformer_stack(cfg.latent_dim, cfg.num_heads, cfg.ff_dim, cfg.num_layers, cfg.dropout,
                                         final_norm=True)
        self.head = PredictionHead(cfg.latent_dim, cfg.num_codes)
        self.apply(init_weights)

    def logits(self, ids: torch.Tensor, cond: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """ids [B, T], cond [B, K, cond_dim], padding [B, T] (True = pad) -> [B, T, num_codes]."""
        k = cond.shape[1]
        x = self.positions(self.token_emb(ids))
        seq = torch.cat([self.cond_emb(cond), x], dim=1)
        pad = torch.cat([torch.zeros_like(padding[:, :1]).expand(-1, k), padding], dim=1)
        return self.head(self.encoder(seq, src_key_padding_mask=pad)[:, k:])

    def guided_logits(self, ids: torch.Tensor, cond: torch.Tensor, padding: torch.Tensor,
                      scale: float) -> torch.Tensor:
        """CFG: uncond + scale * (cond - uncond), cond and zeroed cond batched as [2B]."""
        if scale == 1.0:
            return self.logits(ids, cond, padding)
        both = self.logits(torch.cat([ids, ids]), torch.cat([cond, torch.zeros_like(cond)]),
                           torch.cat([padding, padding]))
        c, u = both.chunk(2)
        return u + scale * (c - u)

    def training_loss(self, ids: torch.Tensor, lengths: torch.Tensor, cond: torch.Tensor):
        """MaskGIT objective. ids [B, T] true codes, lengths [B] in tokens. A cosine-scheduled random
        fraction (at least one) of the valid tokens is selected; of those 10 % get a random code, 88 % of the
        rest the mask token, the others keep the true code. CE over the selected tokens.
        Returns (loss, accuracy over selected tokens)."""
        b, t = ids.shape
        padding = lengths_to_padding_mask(lengths, t)
        ids = ids.masked_fill(padding, self.pad_id)
        ratio = cosine_mask_ratio(torch.rand(b, device=ids.device))
        num_masked = (t * ratio).round().clamp(min=1)
        ranks = torch.rand(b, t, device=ids.device).argsort(dim=1).argsort(dim=1)
        selected = (ranks < num_masked.unsqueeze(1)) & ~padding
        selected[torch.arange(b), 0] |= ~selected.any(dim=1)  # every sample predicts at least one token
        labels = ids.masked_fill(~selected, -100)
        x = ids.clone()
        rand_sel = selected & (torch.rand(b, t, device=ids.device) < 0.1)
        x = torch.where(rand_sel, torch.randint_like(x, self.cfg.num_codes), x)
        mask_sel = selected & ~rand_sel & (torch.rand(b, t, device=ids.device) < 0.88)
        x = x.masked_fill(mask_sel, self.mask_id)
        cond = drop_condition(cond, self.cfg.cond_drop_prob, self.training)
        logits = self.logits(x, cond, padding)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
        with torch.no_grad():
            acc = (logits.argmax(-1) == labels)[selected].float().mean()
        return loss, acc
