"""Reader for the standard HumanML3D / KIT-ML folder layout, for users who own those datasets.

Layout (the same for both; KIT-ML has 251-dim features for 21 joints at 12.5 fps):
``new_joint_vecs/<id>.npy`` (T, D) float features, ``texts/<id>.txt`` one caption a line as
``caption#word/POS tokens#from_s#to_s`` (from/to 0 = the whole clip), ``train.txt``, ``val.txt``,
``test.txt`` (ids), optional ``Mean.npy`` / ``Std.npy``. Kinevox's own cache (motion step) uses it too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FPS = {"humanml3d": 20.0, "kit": 12.5}


@dataclass
class MotionText:
    """One training item: features of a clip (or a captioned segment of it) and its captions."""

    id: str
    features: np.ndarray
    captions: list[str] = field(default_factory=list)


def read_captions(path: Path) -> list[tuple[str, float, float]]:
    """(caption, from_s, to_s) of each non-empty line of a texts/<id>.txt file."""
    out = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        parts = line.split("#")
        start = float(parts[2]) if len(parts) > 3 and parts[2] else 0.0
        end = float(parts[3]) if len(parts) > 3 and parts[3] else 0.0
        out.append((parts[0].strip(), 0.0 if np.isnan(start) else start, 0.0 if np.isnan(end) else end))
    return out


def load_split(root: str | Path, split: str, fps: float = FPS["humanml3d"], min_frames: int = 1) -> list[MotionText]:
    """Items of ``split`` (train/val/test): whole clips with their whole-clip captions, plus one item per
    captioned segment (from/to in seconds), as the HumanML3D loaders do. Missing files raise an error
    naming them."""
    root = Path(root)
    list_file = root / f"{split}.txt"
    if not list_file.exists():
        raise FileNotFoundError(f"{list_file} not found: expected the HumanML3D/KIT-ML layout in {root}")
    items: list[MotionText] = []
    for clip_id in list_file.read_text().split():
        features = np.load(root / "new_joint_vecs" / f"{clip_id}.npy")
        whole = MotionText(clip_id, features)
        text_file = root / "texts" / f"{clip_id}.txt"
        for caption, start, end in read_captions(text_file) if text_file.exists() else []:
            if start == 0.0 and end == 0.0:
                whole.captions.append(caption)
                continue
            segment = features[int(start * fps):int(end * fps)]
            if segment.shape[0] >= min_frames:
                items.append(MotionText(f"{clip_id}@{start:g}-{end:g}", segment, [caption]))
        if features.shape[0] >= min_frames:
            items.append(whole)
    return items


def load_stats(root: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Mean.npy and Std.npy of a dataset folder."""
    root = Path(root)
    return np.load(root / "Mean.npy"), np.load(root / "Std.npy")
