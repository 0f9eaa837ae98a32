"""Where the training stages get their data and configs.

Motion: the standard HumanML3D layout (root/new_joint_vecs/<id>.npy [T, 263], root/<split>.txt with one id
per line, root/Mean.npy and root/Std.npy, optional texts/), which is also what the dataset build writes to its
cache; an optional root/index.json (dataset build) supplies per-clip sampling weights (`repeat`).
"""
from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass

import numpy as np

from ..data.hml_folder import load_split, load_stats
from ..models import KinevoxConfig, bundled_config, paper_config, tiny_config


@dataclass
class MotionSplit:
    """Normalised motion clips of one split, their sampling weights (index.json `repeat`, else 1) and the
    normalisation they were normalised with."""
    names: list[str]
    clips: list[np.ndarray]
    weights: np.ndarray
    mean: np.ndarray
    std: np.ndarray


def load_motion_split(root: str | pathlib.Path, split: str, min_frames: int = 1,
                      normalisation: tuple[np.ndarray, np.ndarray] | None = None) -> MotionSplit:
    """Every clip of `split` (read with the dataset package's HumanML3D-layout reader) with at least
    `min_frames` finite frames, normalised with the folder's Mean/Std or the given (mean, std) (later stages
    reuse the RVQ run's)."""
    root = pathlib.Path(root)
    mean, std = normalisation if normalisation is not None else load_stats(root)
    mean = np.asarray(mean, np.float32)
    std = np.maximum(np.asarray(std, np.float32), 1e-5)
    index = root / "index.json"
    repeat = ({c["id"]: float(c.get("repeat", 1.0)) for c in json.loads(index.read_text())["clips"]}
              if index.exists() else {})
    names, clips = [], []
    for item in load_split(root, split, min_frames=min_frames):
        clip = np.asarray(item.features, np.float32)
        if clip.ndim == 2 and np.isfinite(clip).all():
            names.append(item.id)
            clips.append((clip - mean) / std)
    if not clips:
        raise ValueError(f"no usable clips for split '{split}' under {root}")
    weights = np.array([repeat.get(n, 1.0) for n in names], dtype=np.float64)
    return MotionSplit(names, clips, weights, mean, std)


def model_config_from_args(spec: str) -> KinevoxConfig:
    """'bundled' | 'paper' | 'tiny' | a path to a config JSON (the kinevox.config layout)."""
    presets = {"bundled": bundled_config, "paper": paper_config, "tiny": tiny_config}
    if spec in presets:
        return presets[spec]()
    cfg = KinevoxConfig.from_json(pathlib.Path(spec).read_text())
    cfg.validate()
    return cfg
