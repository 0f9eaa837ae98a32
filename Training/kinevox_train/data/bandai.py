"""Bandai-Namco Research Motion dataset 1 and 2: clip labels and the mapping onto the 22 HumanML3D joints.

The Bandai skeleton (Y up, centimetres, facing +Z, the performer's left on +X) maps by name:
Hips -> pelvis, UpperLeg/LowerLeg/Foot/Toes -> hip/knee/ankle/foot, Neck, Head, Shoulder -> collar
(Bandai's Shoulder is the clavicle root), UpperArm/LowerArm/Hand -> shoulder/elbow/wrist. SMPL has
three spine joints where Bandai has two (Spine, Chest): spine1..3 are placed on the Hips-Spine-Chest-Neck
polyline at the arc-length fractions SMPL's rest skeleton has between pelvis and neck.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .bvh import BVHMotion
from .humanml3d import JOINT_NAMES

SOURCE_FPS = 30
TARGET_FPS = 20
CENTIMETRES = 0.01

_DIRECT = {
    "pelvis": "Hips", "left_hip": "UpperLeg_L", "right_hip": "UpperLeg_R", "left_knee": "LowerLeg_L",
    "right_knee": "LowerLeg_R", "left_ankle": "Foot_L", "right_ankle": "Foot_R", "left_foot": "Toes_L",
    "right_foot": "Toes_R", "neck": "Neck", "head": "Head", "left_collar": "Shoulder_L",
    "right_collar": "Shoulder_R", "left_shoulder": "UpperArm_L", "right_shoulder": "UpperArm_R",
    "left_elbow": "LowerArm_L", "right_elbow": "LowerArm_R", "left_wrist": "Hand_L", "right_wrist": "Hand_R",
}
# Arc-length fractions of spine1, spine2, spine3 between pelvis (0) and neck (1) in SMPL's rest pose
# (skeleton_example_h3d.npy: segment lengths 0.132, 0.143, 0.057, 0.219 m).
SPINE_FRACTIONS = {"spine1": 0.239, "spine2": 0.498, "spine3": 0.602}
_FILE_NAME = re.compile(r"dataset-(\d)_(.+?)_(.+?)_(\d+)\.bvh$")


@dataclass(frozen=True)
class ClipLabel:
    """Labels of one Bandai take, read from its file name ``dataset-N_{content}_{style}_{take}.bvh``."""

    dataset: int
    action: str
    style: str
    take: int

    @property
    def take_id(self) -> str:
        """Unique id of the take: ``{dataset}_{action}_{style}_{take:03d}``."""
        return f"{self.dataset}_{self.action}_{self.style}_{self.take:03d}"


def parse_label(path: str | Path) -> ClipLabel:
    """Labels from a Bandai file name; a ValueError names a file that does not follow the pattern."""
    match = _FILE_NAME.search(Path(path).name)
    if match is None:
        raise ValueError(f"{path}: not a Bandai-Namco clip name (dataset-N_content_style_take.bvh)")
    return ClipLabel(int(match.group(1)), match.group(2), match.group(3), int(match.group(4)))


def _along_polyline(points: list[np.ndarray], fraction: float) -> np.ndarray:
    """Point at ``fraction`` of the arc length of a per-frame polyline (each point (T, 3))."""
    lengths = np.stack([np.linalg.norm(b - a, axis=-1) for a, b in zip(points[:-1], points[1:])], -1)
    cumulative = np.concatenate([np.zeros((lengths.shape[0], 1)), np.cumsum(lengths, -1)], -1)
    target = fraction * cumulative[:, -1]
    out = np.zeros_like(points[0])
    for k in range(len(points) - 1):
        inside = (target >= cumulative[:, k]) & (target <= cumulative[:, k + 1])
        t = (target - cumulative[:, k]) / np.maximum(lengths[:, k], 1e-9)
        segment = points[k] + t[:, None] * (points[k + 1] - points[k])
        out[inside] = segment[inside]
    return out


def to_smpl22(bvh: BVHMotion, positions: np.ndarray) -> np.ndarray:
    """(T, J_bvh, 3) Bandai FK positions (cm) -> (T, 22, 3) HumanML3D joint positions (metres)."""
    def joint(name: str) -> np.ndarray:
        """(T, 3) positions of the named Bandai joint."""
        return positions[:, bvh.index(name)]

    spine_line = [joint("Hips"), joint("Spine"), joint("Chest"), joint("Neck")]
    out = np.zeros((positions.shape[0], len(JOINT_NAMES), 3))
    for j, name in enumerate(JOINT_NAMES):
        if name in _DIRECT:
            out[:, j] = joint(_DIRECT[name])
        else:
            out[:, j] = _along_polyline(spine_line, SPINE_FRACTIONS[name])
    return out * CENTIMETRES


def resample(positions: np.ndarray, source_fps: float, target_fps: float) -> np.ndarray:
    """Linear interpolation of a (T, ...) motion from ``source_fps`` to ``target_fps``."""
    duration = (positions.shape[0] - 1) / source_fps
    times = np.arange(0.0, duration + 1e-9, 1.0 / target_fps) * source_fps
    lo = np.floor(times).astype(int)
    hi = np.minimum(lo + 1, positions.shape[0] - 1)
    w = (times - lo).reshape(-1, *([1] * (positions.ndim - 1)))
    return positions[lo] * (1 - w) + positions[hi] * w
