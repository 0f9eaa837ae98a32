"""Latency percentiles computed the way `kinevox bench` computes them (linear interpolation between ranks)."""
from __future__ import annotations

import numpy as np


def latency_summary(values_ms: list[float]) -> dict[str, float]:
    v = np.asarray(values_ms, dtype=np.float64)
    if v.size == 0:
        return {k: 0.0 for k in ("p50", "p90", "p99", "mean", "min", "max")}
    return {"p50": float(np.percentile(v, 50)), "p90": float(np.percentile(v, 90)), "p99": float(np.percentile(v, 99)),
            "mean": float(v.mean()), "min": float(v.min()), "max": float(v.max())}
