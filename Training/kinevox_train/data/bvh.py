"""Minimal BVH reader and forward kinematics (positions in the file's units and axes)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


class BVHError(ValueError):
    """A BVH file that cannot be read; the message names the file and the problem."""


@dataclass
class BVHMotion:
    """One BVH clip: joint hierarchy, per-joint channels, and the motion table (frames x channels)."""

    names: list[str]
    parents: list[int]
    offsets: np.ndarray  # (J, 3) rest offsets from the parent
    channels: list[list[str]]  # per joint, e.g. ["Xposition", ..., "Zrotation", "Xrotation", "Yrotation"]
    frame_time: float  # seconds
    motion: np.ndarray  # (T, total channels) float64

    @property
    def fps(self) -> float:
        """Frames per second."""
        return 1.0 / self.frame_time

    def index(self, name: str) -> int:
        """Column of the named joint in FK output."""
        return self.names.index(name)


def parse_bvh(text: str, source: str = "<text>") -> BVHMotion:
    """Parse BVH text. End Sites are skipped (they carry no channels)."""
    tokens = text.split()
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    stack: list[int] = []
    i = 0
    pending_end_site = False
    try:
        while tokens[i] != "MOTION":
            tok = tokens[i]
            if tok in ("ROOT", "JOINT"):
                names.append(tokens[i + 1])
                parents.append(stack[-1] if stack else -1)
                offsets.append([0.0, 0.0, 0.0])
                channels.append([])
                i += 2
            elif tok == "End":
                pending_end_site = True
                i += 2
            elif tok == "{":
                stack.append(-2 if pending_end_site else len(names) - 1)
                pending_end_site = False
                i += 1
            elif tok == "}":
                stack.pop()
                i += 1
            elif tok == "OFFSET":
                if stack[-1] >= 0:
                    offsets[stack[-1]] = [float(v) for v in tokens[i + 1:i + 4]]
                i += 4
            elif tok == "CHANNELS":
                n = int(tokens[i + 1])
                channels[stack[-1]] = tokens[i + 2:i + 2 + n]
                i += 2 + n
            else:
                i += 1
        n_frames = int(tokens[i + 2])
        frame_time = float(tokens[i + 5])
        values = np.asarray(tokens[i + 6:], dtype=np.float64)
    except (IndexError, ValueError) as err:
        raise BVHError(f"{source}: malformed BVH ({err})") from err
    n_channels = sum(len(c) for c in channels)
    if not names or values.size != n_frames * n_channels:
        raise BVHError(f"{source}: expected {n_frames} frames x {n_channels} channels, found {values.size} values")
    return BVHMotion(names, parents, np.asarray(offsets), channels, frame_time, values.reshape(n_frames, n_channels))


def read_bvh(path: str | Path) -> BVHMotion:
    """Read and parse a BVH file."""
    path = Path(path)
    return parse_bvh(path.read_text(), str(path.name))


def _axis_rotation(axis: str, degrees: np.ndarray) -> np.ndarray:
    a = np.radians(degrees)
    c, s = np.cos(a), np.sin(a)
    one, zero = np.ones_like(a), np.zeros_like(a)
    if axis == "X":
        rows = [[one, zero, zero], [zero, c, -s], [zero, s, c]]
    elif axis == "Y":
        rows = [[c, zero, s], [zero, one, zero], [-s, zero, c]]
    else:
        rows = [[c, -s, zero], [s, c, zero], [zero, zero, one]]
    return np.stack([np.stack(r, -1) for r in rows], -2)


def forward_kinematics(bvh: BVHMotion) -> np.ndarray:
    """(T, J, 3) global joint positions. A joint with position channels uses them as its translation
    (they replace the OFFSET); rotations compose in the listed channel order (intrinsic)."""
    t = bvh.motion.shape[0]
    n = len(bvh.names)
    positions = np.zeros((t, n, 3))
    rotations = np.zeros((t, n, 3, 3))
    column = 0
    for j in range(n):
        translation = np.broadcast_to(bvh.offsets[j], (t, 3)).copy()
        local = np.broadcast_to(np.eye(3), (t, 3, 3)).copy()
        for name in bvh.channels[j]:
            values = bvh.motion[:, column]
            column += 1
            if name.endswith("position"):
                translation[:, "XYZ".index(name[0])] = values
            else:
                local = local @ _axis_rotation(name[0], values)
        p = bvh.parents[j]
        if p < 0:
            positions[:, j] = translation
            rotations[:, j] = local
        else:
            positions[:, j] = positions[:, p] + np.einsum("tij,tj->ti", rotations[:, p], translation)
            rotations[:, j] = rotations[:, p] @ local
    return positions
