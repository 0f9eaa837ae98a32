"""Where the training stages get their data and configs.

Motion: the standard HumanML3D layout (root/new_joint_vecs/<id>.npy [T, 263], root/<split>.txt with one id
per line, root/Mean.npy and root/Std.npy), which is also what the dataset build writes to its cache.
"""
from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass

import numpy as np

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


def read_split_ids(root: pathlib.Path, split: str) -> list[str]:
    path = root / f"{split}.txt"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: a HumanML3D-layout root needs {split}.txt (one id per line)")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def load_normalisation(root: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    mean = np.load(root / "Mean.npy").astype(np.float32)
    std = np.load(root / "Std.npy").astype(np.float32)
    return mean, np.maximum(std, 1e-5)


def load_motion_split(root: str | pathlib.Path, split: str, min_frames: int = 1,
                      normalisation: tuple[np.ndarray, np.ndarray] | None = None) -> MotionSplit:
    """Load and normalise every clip of `split` that exists and has at least `min_frames` frames, with the
    folder's Mean/Std or the given (mean, std) (later stages reuse the RVQ run's)."""
    root = pathlib.Path(root)
    mean, std = normalisation if normalisation is not None else load_normalisation(root)
    index = root / "index.json"
    repeat = ({c["id"]: float(c.get("repeat", 1.0)) for c in json.loads(index.read_text())["clips"]}
              if index.exists() else {})
    names, clips = [], []
    for name in read_split_ids(root, split):
        path = root / "new_joint_vecs" / f"{name}.npy"
        if not path.exists():
            continue
        clip = np.load(path).astype(np.float32)
        if clip.ndim != 2 or clip.shape[0] < min_frames or not np.isfinite(clip).all():
            continue
        names.append(name)
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
