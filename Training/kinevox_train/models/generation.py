"""Generation: length estimation, MaskGIT decoding of base codes, residual layers, RVQ decoding.

Randomness comes only from `uniform(shape)` draws (a seeded torch.Generator by default) so that another
implementation fed the same uniforms reproduces the choices exactly. Draw order per call: lengths (one
uniform per sample, inverse-CDF over the softmax), then per MaskGIT step one [B, T, num_codes] block
(Gumbel noise), then per residual layer one [B, T, num_codes] block.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import torch

from .config import SamplingConfig
from .layers import lengths_to_padding_mask
from .mask_transformer import MaskTransformer
from .res_transformer import ResTransformer

Uniform = Callable[[tuple], torch.Tensor]


def seeded_uniform(seed: int) -> Uniform:
    """uniform(shape) drawing from a torch.Generator seeded with `seed`."""
    rng = torch.Generator().manual_seed(seed)
    return lambda shape: torch.rand(shape, generator=rng)


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep logits >= the k-th largest of the last axis (ties kept); the rest become -inf."""
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def gumbel_sample(logits: torch.Tensor, temperature: float, u: torch.Tensor) -> torch.Tensor:
    """argmax(logits / temperature + g), g = -log(-log(clamp(u, 1e-20, 1 - 1e-7))); temperature <= 0: argmax."""
    if temperature <= 0:
        return logits.argmax(-1)
    g = -torch.log(-torch.log(u.clamp(1e-20, 1 - 1e-7)))
    return (logits / temperature + g).argmax(-1)


def sample_lengths(logits: torch.Tensor, cfg: SamplingConfig, uniform: Uniform) -> torch.Tensor:
    """Length-estimator logits [B, num_lengths] -> token lengths [B] >= cfg.min_tokens. "sample": the
    smallest i with cumsum(softmax(masked logits))[i] > u; classes below min_tokens are excluded first."""
    logits = logits.clone()
    logits[:, : cfg.min_tokens] = float("-inf")
    u = uniform((logits.shape[0],))
    if cfg.length == "argmax":
        return logits.argmax(-1)
    cdf = torch.softmax(logits, -1).cumsum(-1)
    idx = (cdf <= u.unsqueeze(1)).sum(-1)
    return idx.clamp(max=logits.shape[-1] - 1)


@torch.no_grad()
def maskgit_generate(model: MaskTransformer, cond: torch.Tensor, lengths: torch.Tensor, cfg: SamplingConfig,
                     uniform: Uniform) -> torch.Tensor:
    """Base codes [B, T] (T = max length; -1 beyond each length).

    ids start as mask_id (pad_id beyond the length), scores 0 (1e5 at padding). For step s = 0..S-1:
      r = cos(pi/2 * s/(S-1)); n = max(1, round(r * length)); the n lowest-score positions (stable
      argsort) become mask_id; logits = CFG(mask_cfg); top-k; sample with Gumbel noise at `temperature`;
      at masked positions ids = sample, scores = softmax(filtered / temperature)[sample]; elsewhere
      scores = 1e5 (never re-masked).
    """
    b = cond.shape[0]
    t = int(lengths.max())
    padding = lengths_to_padding_mask(lengths, t)
    ids = torch.full((b, t), model.mask_id, dtype=torch.long).masked_fill(padding, model.pad_id)
    scores = torch.zeros(b, t).masked_fill(padding, 1e5)
    steps = cfg.steps
    for s in range(steps):
        frac = s / (steps - 1) if steps > 1 else 1.0
        ratio = math.cos(math.pi * 0.5 * frac)
        num_masked = torch.round(ratio * lengths.float()).clamp(min=1)
        ranks = scores.argsort(dim=1, stable=True).argsort(dim=1)
        is_mask = ranks < num_masked.unsqueeze(1)
        ids = ids.masked_fill(is_mask, model.mask_id)
        logits = model.guided_logits(ids, cond, padding, cfg.mask_cfg)
        filtered = top_k_filter(logits, cfg.top_k)
        pred = gumbel_sample(filtered, cfg.temperature, uniform(tuple(filtered.shape)))
        temp = cfg.temperature if cfg.temperature > 0 else 1.0
        probs = torch.softmax(filtered / temp, dim=-1)
        pred_scores = probs.gather(-1, pred.unsqueeze(-1)).squeeze(-1)
        ids = torch.where(is_mask, pred, ids)
        scores = torch.where(is_mask, pred_scores, torch.full_like(scores, 1e5))
    return ids.masked_fill(padding, -1)


@torch.no_grad()
def residual_generate(model: ResTransformer, base: torch.Tensor, cond: torch.Tensor, lengths: torch.Tensor,
                      cfg: SamplingConfig, uniform: Uniform) -> torch.Tensor:
    """Base codes [B, T] -> all codes [B, T, Q]: for q = 1..Q-1, logits = CFG(res_cfg) given the summed
    embeddings of layers < q; top-k (res_top_k); Gumbel sample at res_temperature; -1 at padding."""
    b, t = base.shape
    padding = lengths_to_padding_mask(lengths, t)
    codes = [base]
    history = torch.zeros(b, t, model.cfg.code_dim)
    for q in range(1, model.cfg.num_quantizers):
        history = history + model.embed_codes(codes[-1], q - 1)
        qs = torch.full((b,), q, dtype=torch.long)
        logits = model.guided_logits(history, qs, cond, padding, cfg.res_cfg)
        filtered = top_k_filter(logits, cfg.res_top_k)
        pred = gumbel_sample(filtered, cfg.res_temperature, uniform(tuple(filtered.shape)))
        codes.append(pred.masked_fill(padding, -1))
    return torch.stack(codes, dim=-1)


@torch.no_grad()
def generate(model, features: torch.Tensor, feature_lengths: torch.Tensor, sampling: SamplingConfig,
             uniform: Uniform, token_lengths: Optional[torch.Tensor] = None):
    """KinevoxModel + front-end features [B, S, F] -> (motion [B, 4 T, 263] un-normalised, codes, lengths).
    Frames beyond 2^down_t * length of each sample are padding."""
    model.eval()
    return generate_from_condition(model, model.audio_encoder(features, feature_lengths), sampling, uniform,
                                   token_lengths)


@torch.no_grad()
def generate_from_condition(model, cond: torch.Tensor, sampling: SamplingConfig, uniform: Uniform,
                            token_lengths: Optional[torch.Tensor] = None):
    """`generate` from condition tokens [B, K, dim] instead of front-end features: what the generator does with a
    condition such as the MiniLM sentence vector the audio encoder was distilled onto."""
    model.eval()
    if token_lengths is None:
        token_lengths = sample_lengths(model.length_estimator(cond), sampling, uniform)
    base = maskgit_generate(model.mask_transformer, cond, token_lengths, sampling, uniform)
    codes = residual_generate(model.res_transformer, base, cond, token_lengths, sampling, uniform)
    motion = model.rvq.decode(codes) * model.motion_std + model.motion_mean
    return motion, codes, token_lengths
