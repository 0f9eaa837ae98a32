"""Motion step: Bandai-Namco BVH -> HumanML3D-263 clips, splits, balancing and Mean/Std in a cache folder.

Run from Training/: ``python -m kinevox_train.data.motion --cache DIR``. Output under ``DIR/motion/``,
in the standard HumanML3D layout plus an index:

- ``new_joint_vecs/<clip id>.npy``  float32 (T, 263), 20 fps, 40 <= T <= 196
- ``train.txt``, ``val.txt``, ``test.txt``  clip ids, one a line
- ``Mean.npy``, ``Std.npy``  float32 (263,), over the training split (HumanML3D grouping)
- ``index.json``  {"clips": [{id, take, dataset, action, style, take_number, split, n_frames, window,
  mirrored, speed, repeat}], "counts": {...}}

Clip ids: ``{dataset}_{action}_{style}_{take:03d}_{window}`` plus ``_x{speed}`` for speed-augmented
copies; a leading ``M`` marks the left-right mirror (HumanML3D's convention), whose action and style
labels are mirrored too (``wave-left-hand`` becomes ``wave-right-hand``).
"""
from __future__ import annotations

import argparse
import json
import math
import tarfile
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import bandai, humanml3d
from .bvh import forward_kinematics, read_bvh

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
DEFAULT_CACHE = REPO_ROOT / "Training" / "cache"
MIN_FRAMES, MAX_FRAMES = 40, 196
# Takes of MIN_PADDED..MIN_FRAMES-1 feature frames (short gestures) are padded to MIN_FRAMES by holding
# their first and last poses; shorter ones are dropped.
MIN_PADDED = 24
SPLITS = ("train", "val", "test")


@dataclass
class MotionConfig:
    """Settings of the motion step (paths are folders; fractions are of the takes in a stratum)."""

    cache: Path = DEFAULT_CACHE
    archive: Path = SHARED_DATA / "bandai-namco" / "bandai-namco-motion.tar.xz"
    reference_skeleton: Path = SHARED_DATA / "humanml3d" / "skeleton_example_h3d.npy"
    seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    workers: int = 2
    # Actions with fewer training clips than this get speed-augmented copies, then a sampling weight.
    balance_target: int = 200
    speed_factors: tuple[float, ...] = (0.8, 1.2, 0.9, 1.1, 0.85, 1.15)
    limit: int = 0  # process only this many takes (0 = all); for quick checks


@dataclass
class Take:
    """One source BVH file and the split and speed copies it gets."""

    path: str
    label: bandai.ClipLabel
    split: str = "train"
    speeds: list[float] = field(default_factory=list)


def mirror_text(text: str) -> str:
    """Swap the words left and right (also inside hyphenated labels such as walk-turn-left)."""
    return text.replace("left", "\0").replace("right", "left").replace("\0", "right")


def unpack(config: MotionConfig) -> Path:
    """Unpack the Bandai archive into the cache once; returns the folder holding the BVH files."""
    raw = config.cache / "raw"
    marker = raw / ".unpacked"
    if not marker.exists():
        if not config.archive.exists():
            raise SystemExit(f"motion archive not found: {config.archive} (see ../shared/data/README.md)")
        raw.mkdir(parents=True, exist_ok=True)
        with tarfile.open(config.archive) as archive:
            members = archive.getmembers()
            for member in tqdm(members, desc="unpack", unit="file"):
                archive.extract(member, raw, filter="data")
        marker.touch()
    return raw


def assign_splits(takes: list[Take], config: MotionConfig) -> None:
    """Split by take, stratified by action x style: within each (dataset, action, style) group with at
    least 3 takes, ~10% val and ~10% test (at least one each). Dataset-1 groups have 1-2 takes, so
    there the stratum is the action: ~10% of its (style, take) units go to val and to test (at least one)."""
    rng = np.random.default_rng(config.seed)
    groups: dict[tuple, list[Take]] = defaultdict(list)
    for take in takes:
        groups[(take.label.dataset, take.label.action, take.label.style)].append(take)
    strata: dict[tuple, list[Take]] = defaultdict(list)
    for key, members in sorted(groups.items()):
        strata[key if len(members) >= 3 else key[:2]].extend(members)
    for key in sorted(strata, key=str):
        members = sorted(strata[key], key=lambda t: t.label.take_id)
        order = rng.permutation(len(members))
        n_val = max(1, round(config.val_fraction * len(members))) if len(members) >= 3 else 0
        n_test = max(1, round(config.test_fraction * len(members))) if len(members) >= 3 else 0
        for rank, index in enumerate(order):
            members[index].split = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"


def plan_balance(takes: list[Take], config: MotionConfig) -> None:
    """Give training takes of under-represented actions speed-augmented copies (counted per take)."""
    per_action = Counter(t.label.action for t in takes if t.split == "train")
    for take in takes:
        if take.split != "train":
            continue
        copies = math.ceil(config.balance_target / per_action[take.label.action]) - 1
        take.speeds = list(config.speed_factors[:max(0, min(copies, len(config.speed_factors)))])


def hold_pad(positions: np.ndarray, n_features: int) -> np.ndarray:
    """Pad a motion to ``n_features`` + 1 joint frames, holding its first and last poses (half each)."""
    missing = n_features + 1 - positions.shape[0]
    before = missing // 2
    return np.concatenate([positions[:1].repeat(before, 0), positions, positions[-1:].repeat(missing - before, 0)])


def windows(positions: np.ndarray) -> list[np.ndarray]:
    """Cut a 20 fps motion into equal windows of at most MAX_FRAMES feature frames (one joint frame more);
    a short take of at least MIN_PADDED frames becomes one window padded to MIN_FRAMES."""
    n_features = positions.shape[0] - 1
    if n_features < MIN_PADDED:
        return []
    if n_features < MIN_FRAMES:
        return [hold_pad(positions, MIN_FRAMES)]
    count = math.ceil(n_features / MAX_FRAMES)
    length = n_features // count
    return [positions[k * length:k * length + length + 1] for k in range(count)]


def _process_take(job: tuple[Take, str, np.ndarray]) -> list[dict]:
    take, out_dir, target_lengths = job
    bvh = read_bvh(take.path)
    joints = bandai.to_smpl22(bvh, forward_kinematics(bvh))
    joints = bandai.resample(joints, round(bvh.fps), bandai.TARGET_FPS)
    records = []
    label = take.label
    for w, window in enumerate(windows(joints)):
        for speed in [1.0] + take.speeds:
            clip = window if speed == 1.0 else bandai.resample(window, bandai.TARGET_FPS * speed, bandai.TARGET_FPS)
            clip = clip[:MAX_FRAMES + 1]
            if clip.shape[0] - 1 < MIN_FRAMES:
                clip = hold_pad(clip, MIN_FRAMES)
            base = f"{label.take_id}_{w}" + ("" if speed == 1.0 else f"_x{speed:.2f}")
            for mirrored in (False, True):
                source = humanml3d.mirror_joints(clip) if mirrored else clip
                features = humanml3d.process(source, target_lengths)
                if not np.isfinite(features).all():
                    continue
                clip_id = ("M" if mirrored else "") + base
                np.save(Path(out_dir) / f"{clip_id}.npy", features)
                records.append({
                    "id": clip_id, "take": label.take_id, "dataset": label.dataset,
                    "action": mirror_text(label.action) if mirrored else label.action,
                    "style": label.style, "take_number": label.take, "split": take.split,
                    "n_frames": int(features.shape[0]), "source_frames": int(joints.shape[0] - 1), "window": w, "mirrored": mirrored, "speed": speed,
                })
    return records


def count_by(records: list[dict], key: str, split: str | None = "train") -> dict[str, int]:
    """Clip counts per value of ``key`` (optionally within one split), sorted by name."""
    counts = Counter(r[key] for r in records if split is None or r["split"] == split)
    return dict(sorted(counts.items()))


def build_motion(config: MotionConfig) -> dict:
    """Run the whole motion step; returns the index that it also writes to ``motion/index.json``."""
    raw = unpack(config)
    out = config.cache / "motion"
    vec_dir = out / "new_joint_vecs"
    vec_dir.mkdir(parents=True, exist_ok=True)
    paths = sorted(raw.rglob("*.bvh"))
    if config.limit:
        paths = paths[::max(1, len(paths) // config.limit)][:config.limit]
    takes = [Take(str(p), bandai.parse_label(p)) for p in paths]
    assign_splits(takes, config)
    plan_balance(takes, config)
    target_lengths = humanml3d.bone_lengths(np.load(config.reference_skeleton)[:humanml3d.N_JOINTS])

    jobs = [(t, str(vec_dir), target_lengths) for t in takes]
    records: list[dict] = []
    with Pool(config.workers) as pool:
        for result in tqdm(pool.imap_unordered(_process_take, jobs, chunksize=4), total=len(jobs), desc="motion", unit="take"):
            records.extend(result)
    records.sort(key=lambda r: r["id"])

    # Sampling weights: after augmentation, rare actions are still drawn about balance_target times per epoch.
    per_action = Counter(r["action"] for r in records if r["split"] == "train")
    for r in records:
        r["repeat"] = round(max(1.0, config.balance_target / per_action[r["action"]]), 3) if r["split"] == "train" else 1.0

    train = [r for r in records if r["split"] == "train"]
    originals = [r for r in records if not r["mirrored"] and r["speed"] == 1.0]
    mean, std = humanml3d.mean_std([np.load(vec_dir / f"{r['id']}.npy") for r in tqdm(train, desc="mean/std", unit="clip")])
    np.save(out / "Mean.npy", mean)
    np.save(out / "Std.npy", std)
    for split in SPLITS:
        (out / f"{split}.txt").write_text("".join(f"{r['id']}\n" for r in records if r["split"] == split))

    counts = {
        "takes": len(takes), "padded_takes": len({r["take"] for r in originals if r["source_frames"] < MIN_FRAMES}),
        "skipped_takes": len({t.label.take_id for t in takes} - {r["take"] for r in records}),
        "clips": {s: sum(r["split"] == s for r in records) for s in SPLITS},
        "frames": {s: sum(r["n_frames"] for r in records if r["split"] == s) for s in SPLITS},
        "train_per_action_before": count_by(originals, "action"),
        "train_per_action_after": count_by(records, "action"),
        "train_weighted_per_action": {a: round(sum(r["repeat"] for r in train if r["action"] == a)) for a in sorted(per_action)},
        "per_style": count_by(records, "style", None),
        "per_action_all_splits": count_by(records, "action", None),
    }
    index = {"config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
             "fps": bandai.TARGET_FPS, "clips": records, "counts": counts}
    (out / "index.json").write_text(json.dumps(index, indent=1))
    return index


def summary_lines(index: dict) -> list[str]:
    """Human-readable counts of the motion step, including per-action balance."""
    c = index["counts"]
    return [
        f"takes {c['takes']} (padded to {MIN_FRAMES} frames: {c['padded_takes']}; skipped, too short: {c['skipped_takes']})",
        "clips " + ", ".join(f"{s} {n}" for s, n in c["clips"].items()),
        "frames " + ", ".join(f"{s} {n}" for s, n in c["frames"].items())
        + f" ({sum(c['frames'].values()) / 20 / 3600:.2f} h at 20 fps)",
        "train clips per action, originals -> with mirrors and speed copies (weighted):",
        *(f"  {a:22s} {c['train_per_action_before'].get(a, 0):5d} -> {n:5d} ({c['train_weighted_per_action'][a]})"
          for a, n in c["train_per_action_after"].items()),
    ]


def main(argv: list[str] | None = None) -> None:
    """Command line: run the motion step and print its summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="process only N takes (quick check)")
    args = parser.parse_args(argv)
    index = build_motion(MotionConfig(cache=args.cache, seed=args.seed, workers=args.workers, limit=args.limit))
    print("\n".join(summary_lines(index)))


if __name__ == "__main__":
    main()
