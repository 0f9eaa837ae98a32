"""The "understood?" head: which supported action the condition asks for, or that it asks for none.

One linear layer over the generator's condition (the audio encoder's K tokens of width dim, flattened): logits for every
supported action and a last one for "not a command". confidence = 1 - softmax(logits)[none]; the utterance is
understood when confidence >= threshold, and its action is the most likely supported one. Stored in a model file as
`understanding_head.proj.{weight,bias}` with the metadata key `kinevox.understanding`
(`{"actions": [...], "threshold": t}`); the Swift twin is KinevoxMotion's `UnderstandingHead`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import torch
import torch.nn as nn

UNDERSTANDING_KEY = "kinevox.understanding"
PREFIX = "understanding_head."


@dataclass(frozen=True)
class Understanding:
    """What one utterance was understood as."""

    action: str
    confidence: float
    understood: bool


class UnderstandingHead(nn.Module):
    """Linear(K * dim -> len(actions) + 1) over the flattened condition; the last class is "not a command"."""

    def __init__(self, dim: int, actions: list[str], threshold: float = 0.5):
        super().__init__()
        if not actions or len(set(actions)) != len(actions):
            raise ValueError(f"the understanding head needs distinct action names, got {actions}")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"the understanding threshold must be in [0, 1], got {threshold}")
        self.actions = list(actions)
        self.threshold = float(threshold)
        self.proj = nn.Linear(dim, len(actions) + 1)

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        """Logits [B, actions + 1] for condition tokens [B, K, dim] (or already flat [B, K * dim])."""
        return self.proj(cond.reshape(cond.shape[0], -1))

    def understand(self, cond: torch.Tensor) -> list[Understanding]:
        """One verdict per condition in the batch."""
        with torch.no_grad():
            probs = torch.softmax(self.forward(cond).double(), dim=-1)
        out = []
        for p in probs:
            confidence = float(1.0 - p[-1])
            out.append(Understanding(self.actions[int(p[:-1].argmax())], confidence, confidence >= self.threshold))
        return out

    def metadata(self) -> str:
        """The `kinevox.understanding` JSON."""
        return json.dumps({"actions": self.actions, "threshold": self.threshold}, sort_keys=True)

    @classmethod
    def from_metadata(cls, text: str, dim: int) -> "UnderstandingHead":
        """A head (untrained weights) shaped by `kinevox.understanding` metadata."""
        meta = json.loads(text)
        if not isinstance(meta, dict) or not isinstance(meta.get("actions"), list) or "threshold" not in meta:
            raise ValueError(f"{UNDERSTANDING_KEY} must be a JSON object with \"actions\" and \"threshold\", got {text[:80]!r}")
        return cls(dim, [str(a) for a in meta["actions"]], float(meta["threshold"]))
