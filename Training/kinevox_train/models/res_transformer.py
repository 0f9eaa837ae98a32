"""Residual transformer: predicts layer q's codes (1 <= q < Q) from the summed code embeddings of
layers 0..q-1, the condition tokens and a layer-indicator token."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import ResTransformerConfig
from .layers import PredictionHead, SinusoidalPositions, init_weights, lengths_to_padding_mask, transformer_stack
from .mask_transformer import drop_condition


class ResTransformer(nn.Module):
    """Parameters (besides the standard layers):
      token_emb [Q-1, num_codes, code_dim]: table j embeds layer-j codes (j = 0..Q-2); code -1 -> zero.
      share_weight=True:  output_proj_last [num_codes, code_dim]; the projection that predicts layer q is
                          token_emb[q] for q < Q-1 and output_proj_last for q = Q-1.
      share_weight=False: output_proj [Q-1, num_codes, code_dim]; layer q uses output_proj[q-1].
      output_bias [Q-1, num_codes]; layer q uses output_bias[q-1].
    Forward for layer q: h = input_proj(sum_{j<q} token_emb[j][codes_j]); seq = [cond_emb(c) ; quant_emb[q] ;
    PE(h)] (positions on motion tokens only); y = head(encoder(seq, key padding))[:, K+1:]  ([B, T, code_dim]);
    logits = y @ proj_q^T + output_bias[q-1]  ([B, T, num_codes]). q is per sample ([B] long tensor).
    """

    def __init__(self, cfg: ResTransformerConfig):
        super().__init__()
        self.cfg = cfg
        q, n, c = cfg.num_quantizers, cfg.num_codes, cfg.code_dim
        self.token_emb = nn.Parameter(torch.randn(q - 1, n, c) * 0.02)
        if cfg.share_weight:
            self.output_proj_last = nn.Parameter(torch.randn(n, c) * 0.02)
        else:
            self.output_proj = nn.Parameter(torch.randn(q - 1, n, c) * 0.02)
        self.output_bias = nn.Parameter(torch.zeros(q - 1, n))
        self.input_proj = nn.Linear(c, cfg.latent_dim)
        self.quant_emb = nn.Embedding(q, cfg.latent_dim)
        self.cond_emb = nn.Linear(cfg.cond_dim, cfg.latent_dim)
        self.positions = SinusoidalPositions(cfg.latent_dim, cfg.max_positions)
        self.encoder = transformer_stack(cfg.latent_dim, cfg.num_heads, cfg.ff_dim, cfg.num_layers, cfg.dropout,
                                         final_norm=True)
        self.head = PredictionHead(cfg.latent_dim, c)
        self.apply(init_weights)

    def projections(self) -> torch.Tensor:
        """[Q-1, num_codes, code_dim]: row q-1 is the output projection that predicts layer q."""
        if self.cfg.share_weight:
            return torch.cat([self.token_emb[1:], self.output_proj_last.unsqueeze(0)], dim=0)
        return self.output_proj

    def embed_codes(self, codes: torch.Tensor, layer: int) -> torch.Tensor:
        """codes [B, T] of `layer` (-1 = padding) -> [B, T, code_dim]."""
        return F.embedding(codes.clamp(min=0), self.token_emb[layer]) * (codes >= 0).unsqueeze(-1)

    def history(self, codes: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """codes [B, T, Q'] and q [B] -> per sample the sum of the embeddings of layers 0..q-1, [B, T, code_dim]."""
        total = torch.zeros(*codes.shape[:2], self.cfg.code_dim, device=codes.device)
        for j in range(int(q.max())):
            total = total + self.embed_codes(codes[..., j], j) * (j < q).view(-1, 1, 1)
        return total

    def logits(self, history: torch.Tensor, q: torch.Tensor, cond: torch.Tensor,
               padding: torch.Tensor) -> torch.Tensor:
        """history [B, T, code_dim], q [B] (1..Q-1), cond [B, K, cond_dim], padding [B, T] -> [B, T, num_codes]."""
        k = cond.shape[1]
        x = self.positions(self.input_proj(history))
        seq = torch.cat([self.cond_emb(cond), self.quant_emb(q).unsqueeze(1), x], dim=1)
        pad = torch.cat([torch.zeros_like(padding[:, :1]).expand(-1, k + 1), padding], dim=1)
        y = self.head(self.encoder(seq, src_key_padding_mask=pad)[:, k + 1:])
        proj = self.projections()[q - 1]  # [B, num_codes, code_dim]
        return torch.einsum("btc,bnc->btn", y, proj) + self.output_bias[q - 1].unsqueeze(1)

    def guided_logits(self, history: torch.Tensor, q: torch.Tensor, cond: torch.Tensor, padding: torch.Tensor,
                      scale: float) -> torch.Tensor:
        """CFG: uncond + scale * (cond - uncond), cond and zeroed cond batched as [2B]."""
        if scale == 1.0:
            return self.logits(history, q, cond, padding)
        both = self.logits(torch.cat([history, history]), torch.cat([q, q]), torch.cat([cond, torch.zeros_like(cond)]),
                           torch.cat([padding, padding]))
        c, u = both.chunk(2)
        return u + scale * (c - u)

    def training_loss(self, codes: torch.Tensor, lengths: torch.Tensor, cond: torch.Tensor):
        """codes [B, T, Q] true codes, lengths [B] in tokens. Per sample one layer
        q = round((1 - cos(pi u / 2)) (Q - 2)) + 1, u ~ U(0, 1) (favours low layers, as MoMask). CE over
        valid tokens. Returns (loss, accuracy)."""
        b, t, nq = codes.shape
        padding = lengths_to_padding_mask(lengths, t)
        codes = codes.masked_fill(padding.unsqueeze(-1), -1)
        u = torch.rand(b, device=codes.device)
        q = torch.round((1 - torch.cos(u * math.pi * 0.5)) * (nq - 2)).long() + 1
        cond = drop_condition(cond, self.cfg.cond_drop_prob, self.training)
        logits = self.logits(self.history(codes, q), q, cond, padding)
        labels = codes.gather(2, q.view(-1, 1, 1).expand(-1, t, 1)).squeeze(-1).masked_fill(padding, -100)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
        with torch.no_grad():
            acc = (logits.argmax(-1) == labels)[~padding].float().mean()
        return loss, acc
