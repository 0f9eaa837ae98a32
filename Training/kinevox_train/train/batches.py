"""In-memory batch sampling for the training stages (the corpora are small enough to hold in RAM).

Motion windows for the RVQ-VAE; (condition features, motion codes) pairs for the generators. Every
sampler draws from its own numpy Generator so DDP ranks (seeded by rank) see different batches.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def sample_motion_windows(clips: list[np.ndarray], batch: int, window: int, rng: np.random.Generator,
                          weights: np.ndarray | None = None) -> torch.Tensor:
    """[batch, window, D] random windows from clips at least `window` frames long; clips drawn with
    probability proportional to `weights` (uniform when None), offsets uniform."""
    keep = [i for i, c in enumerate(clips) if c.shape[0] >= window]
    if not keep:
        raise ValueError(f"no motion clip has {window} frames; lower --window")
    p = None
    if weights is not None:
        p = np.asarray(weights, dtype=np.float64)[keep]
        p = p / p.sum()
    picks = rng.choice(len(keep), size=batch, p=p)
    out = np.empty((batch, window, clips[keep[0]].shape[1]), dtype=np.float32)
    for i in range(batch):
        clip = clips[keep[picks[i]]]
        start = rng.integers(clip.shape[0] - window + 1)
        out[i] = clip[start:start + window]
    return torch.from_numpy(out)


@dataclass
class PairedExample:
    """One training pair: condition features [S, F], the motion's codes [T, Q] (full clip) and, for the
    semantic alignment loss, the MiniLM embedding of the spoken caption [384] (None when unused); `label` is the
    clip's action index for the condition's action term (-1: none, e.g. a two-action clip)."""
    features: np.ndarray
    codes: np.ndarray
    target: np.ndarray | None = None
    label: int = -1


def pad_features(features: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad [S_i, F] arrays with zeros -> ([B, S_max, F], lengths [B])."""
    lengths = torch.tensor([f.shape[0] for f in features], dtype=torch.long)
    out = torch.zeros(len(features), int(lengths.max()), features[0].shape[1])
    for i, f in enumerate(features):
        out[i, : f.shape[0]] = torch.from_numpy(np.asarray(f, dtype=np.float32))
    return out, lengths


def action_balanced_weights(labels: list[int], balance: float) -> np.ndarray | None:
    """Sampling probabilities over examples such that an action with n examples is drawn in proportion to
    n ** (1 - balance): 0 = every example alike (None), 1 = every action alike. Unlabelled examples (-1) count as
    one group of their own."""
    if balance <= 0:
        return None
    labels = np.asarray(labels)
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    weights = counts[inverse].astype(np.float64) ** -balance
    return weights / weights.sum()


def sample_pairs(examples: list[PairedExample], batch: int, max_tokens: int, rng: np.random.Generator,
                 p: np.ndarray | None = None):
    """A batch of (features [B,S,F], feature lengths [B], codes [B,T,Q] (-1 padded), token lengths [B],
    targets [B, D] (the examples' alignment targets; [B, 0] when they have none), action labels [B]).
    Examples are drawn with probabilities `p` (uniform when None); clips longer than max_tokens are cropped at a
    random token offset."""
    chosen = [examples[i] for i in rng.choice(len(examples), size=batch, p=p)] if p is not None else \
        [examples[i] for i in rng.integers(len(examples), size=batch)]
    feats, flens = pad_features([e.features for e in chosen])
    lengths = [min(e.codes.shape[0], max_tokens) for e in chosen]
    t = max(lengths)
    q = chosen[0].codes.shape[1]
    codes = np.full((batch, t, q), -1, dtype=np.int64)
    for i, (e, n) in enumerate(zip(chosen, lengths)):
        start = rng.integers(e.codes.shape[0] - n + 1)
        codes[i, :n] = e.codes[start:start + n]
    targets = (torch.from_numpy(np.stack([e.target for e in chosen]).astype(np.float32))
               if chosen[0].target is not None else torch.zeros(batch, 0))
    labels = torch.tensor([e.label for e in chosen], dtype=torch.long)
    return feats, flens, torch.from_numpy(codes), torch.tensor(lengths, dtype=torch.long), targets, labels
