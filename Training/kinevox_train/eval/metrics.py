"""T2M-style metrics on evaluator embeddings (numpy, float64): FID, R-precision, MM-Dist, Diversity,
MultiModality, and mean +- 95 % confidence intervals over replications."""
from __future__ import annotations

import numpy as np
from scipy import linalg


def euclidean_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[N, M] Euclidean distances between rows of a [N, D] and b [M, D]."""
    d2 = (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :]
    return np.sqrt(np.maximum(d2, 0.0))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """FID between the Gaussians fitted to embeddings a [N, D] and b [M, D]:
    ||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(covmean).all():
        eps = np.eye(cov_a.shape[0]) * 1e-6
        covmean = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    covmean = covmean.real
    value = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(covmean)
    return float(max(value, 0.0))  # exact 0 for identical sets (sqrtm round-off can go slightly negative)


def r_precision(text: np.ndarray, motion: np.ndarray, batch: int = 32, top_k: int = 3) -> np.ndarray:
    """Fraction of texts whose own motion is among the k nearest of the batch's motions, k = 1..top_k.
    Rows are taken in consecutive batches of `batch` (a shorter remainder is dropped). Returns [top_k]."""
    n = (len(text) // batch) * batch
    if n == 0:
        raise ValueError(f"R-precision needs at least {batch} pairs, got {len(text)}")
    hits = np.zeros(top_k)
    for start in range(0, n, batch):
        dist = euclidean_matrix(text[start:start + batch], motion[start:start + batch])
        rank = (dist < np.diag(dist)[:, None]).sum(1)  # motions strictly closer than the true one
        for k in range(top_k):
            hits[k] += (rank <= k).sum()
    return hits / n


def mm_dist(text: np.ndarray, motion: np.ndarray) -> float:
    """Mean Euclidean distance between each text and its own motion."""
    return float(np.linalg.norm(text - motion, axis=1).mean())


def diversity(motion: np.ndarray, pairs: int = 300, rng: np.random.Generator | None = None) -> float:
    """Mean distance between `pairs` random pairs of motions (two independent index draws)."""
    rng = rng or np.random.default_rng(0)
    if len(motion) < 2:
        raise ValueError("diversity needs at least two motions")
    first = rng.choice(len(motion), pairs, replace=len(motion) < pairs)
    second = rng.choice(len(motion), pairs, replace=len(motion) < pairs)
    return float(np.linalg.norm(motion[first] - motion[second], axis=1).mean())


def multimodality(groups: np.ndarray, pairs: int = 10, rng: np.random.Generator | None = None) -> float:
    """groups [C, R, D]: R generations for each of C conditions; mean distance of `pairs` random pairs of
    generations of the same condition, averaged over conditions."""
    rng = rng or np.random.default_rng(0)
    c, r, _ = groups.shape
    first = np.stack([rng.choice(r, pairs, replace=r < pairs) for _ in range(c)])
    second = np.stack([rng.choice(r, pairs, replace=r < pairs) for _ in range(c)])
    idx = np.arange(c)[:, None]
    return float(np.linalg.norm(groups[idx, first] - groups[idx, second], axis=-1).mean())


def mean_ci95(values) -> tuple[float, float]:
    """(mean, 1.96 * std / sqrt(n)) of replicated measurements."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(1.96 * v.std() / np.sqrt(len(v))) if len(v) > 1 else 0.0


def format_ci(values, digits: int = 3) -> str:
    mean, ci = mean_ci95(values)
    return f"{mean:.{digits}f} ± {ci:.{digits}f}"


def action_accuracy(truth: list[str], predicted: list[str]) -> dict:
    """Overall accuracy and per-action {action: (accuracy, count)} of predicted against true action labels."""
    per_action: dict[str, list[int]] = {}
    for t, p in zip(truth, predicted, strict=True):
        per_action.setdefault(t, []).append(int(t == p))
    return {"overall": float(np.mean([t == p for t, p in zip(truth, predicted)])),
            "per_action": {a: (float(np.mean(v)), len(v)) for a, v in per_action.items()}}
