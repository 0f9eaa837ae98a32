"""Multi-stage samples: two clips of one split joined with a blended transition ("X, then Y").

Run from Training/ after the motion step: ``python -m kinevox_train.data.multistage --cache DIR``.
Adds ``S{n:05d}`` clips to ``DIR/motion`` (features, split lists, index records with ``parts``).
The second clip is moved and turned so it starts where and facing how the first one's blend starts; the last
``BLEND_FRAMES`` frames of the first clip cross-fade into the start of the second.
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import humanml3d as hml
from .motion import DEFAULT_CACHE, MAX_FRAMES, SPLITS
from .quaternion import qbetween, qrot

BLEND_FRAMES = 10
COUNTS = {"train": 600, "val": 60, "test": 60}


def _facing(joints: np.ndarray) -> np.ndarray:
    r_hip, l_hip, r_shoulder, l_shoulder = hml.FACE_JOINTS
    across = joints[r_hip] - joints[l_hip] + joints[r_shoulder] - joints[l_shoulder]
    forward = np.cross(np.array([0.0, 1.0, 0.0]), across)
    forward[1] = 0.0
    return forward / np.linalg.norm(forward)


def join(first: np.ndarray, second: np.ndarray, blend: int = BLEND_FRAMES) -> np.ndarray:
    """Joint positions (T1, 22, 3) and (T2, 22, 3) -> one motion of T1 + T2 - blend frames."""
    turn = qbetween(_facing(second[0]), _facing(first[-blend]))
    second = qrot(turn, second - second[0, 0] * np.array([1.0, 0.0, 1.0]))
    second = second + first[-blend, 0] * np.array([1.0, 0.0, 1.0])
    w = (np.arange(blend) + 0.5)[:, None, None] / blend
    mixed = first[-blend:] * (1 - w) + second[:blend] * w
    return np.concatenate([first[:-blend], mixed, second[blend:]])


def build_multistage(cache: Path, seed: int = 0, counts: dict[str, int] | None = None) -> dict[str, int]:
    """Add joined clips to the motion cache; returns how many were made per split."""
    motion_dir = cache / "motion"
    index = json.loads((motion_dir / "index.json").read_text())
    index["clips"] = [c for c in index["clips"] if "parts" not in c]
    rng = random.Random(seed)
    counts = counts or COUNTS
    made = {}
    new_records = []
    for split in SPLITS:
        pool = [c for c in index["clips"] if c["split"] == split and not c["mirrored"] and c["speed"] == 1.0
                and c["n_frames"] <= MAX_FRAMES // 2]
        if len({c["action"] for c in pool}) < 2:
            pool = []
        made[split] = 0
        for n in tqdm(range(counts[split] if pool else 0), desc=f"multistage {split}", unit="clip"):
            a, b = rng.sample(pool, 2)
            while b["action"] == a["action"]:
                b = rng.choice(pool)
            joints = [hml.features_to_joints(np.load(motion_dir / "new_joint_vecs" / f"{c['id']}.npy")).astype(np.float64) for c in (a, b)]
            features = hml.joints_to_features(hml.normalise_placement(join(*joints)))[:MAX_FRAMES]
            clip_id = f"S{len(new_records):05d}"
            np.save(motion_dir / "new_joint_vecs" / f"{clip_id}.npy", features)
            new_records.append({"id": clip_id, "split": split, "n_frames": int(features.shape[0]), "mirrored": False,
                                "speed": 1.0, "repeat": 1.0, "parts": [a["id"], b["id"]],
                                "action": f"{a['action']}+{b['action']}", "style": f"{a['style']}+{b['style']}",
                                "dataset": 0, "take": clip_id})
            made[split] += 1
    index["clips"] += new_records
    index["counts"]["multistage"] = made
    (motion_dir / "index.json").write_text(json.dumps(index, indent=1))
    for split in SPLITS:
        ids = [c["id"] for c in index["clips"] if c["split"] == split]
        (motion_dir / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
    return made


def main(argv: list[str] | None = None) -> None:
    """Command line: add the multi-stage clips to a cache."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print("multi-stage clips:", build_multistage(args.cache, args.seed))


if __name__ == "__main__":
    main()
