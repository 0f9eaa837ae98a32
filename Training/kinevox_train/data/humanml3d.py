"""HumanML3D-263 motion features <-> 22-joint positions, and the HumanML3D preprocessing steps.

Written from the HumanML3D paper/code conventions (motion_representation, cal_mean_variance), which
MoMask and Kinevox's Swift side (KinevoxMotion) share. Units: metres, Y up, 20 fps, the body facing +Z
in frame 0. Feature layout per frame (263 = 4 + 63 + 126 + 66 + 4):

- [0]       root angular velocity about Y (radians per frame, stored as the half-angle ``arcsin(q_y)``)
- [1:3]     root linear velocity on XZ, in the root's own facing frame (metres per frame)
- [3]       root height (metres)
- [4:67]    21 non-root joint positions relative to the root, in the root's facing frame (RIC)
- [67:193]  21 local joint rotations, continuous 6-D
- [193:259] 22 joint velocities (global displacement rotated into the facing frame)
- [259:263] foot contacts (left ankle, left toe, right ankle, right toe), 0/1

A clip of T joint frames gives T - 1 feature frames; decoding gives back T - 1 joint frames.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from .quaternion import qbetween, qinv, qmul, qrot, to_cont6d

N_JOINTS = 22
FEATURE_DIM = 263
JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)
KINEMATIC_CHAIN = ((0, 2, 5, 8, 11), (0, 1, 4, 7, 10), (0, 3, 6, 9, 12, 15), (9, 14, 17, 19, 21), (9, 13, 16, 18, 20))
PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
# Rest direction of each bone (child minus parent) in the canonical pose.
RAW_OFFSETS = np.array([
    [0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0], [0, 1, 0], [0, -1, 0],
    [0, -1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, 1],
    [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0],
], dtype=np.float64)
# HumanML3D's facing joints, in its order (right hip, left hip, right shoulder, left shoulder).
FACE_JOINTS = (2, 1, 17, 16)
LEFT_FEET, RIGHT_FEET = (7, 10), (8, 11)
LOWER_LEG_JOINTS = (5, 8)
FEET_THRESHOLD = 0.002
LEFT_JOINTS = (1, 4, 7, 10, 13, 16, 18, 20)
RIGHT_JOINTS = (2, 5, 8, 11, 14, 17, 19, 21)
# Feature groups that share one standard deviation (HumanML3D's Mean/Std convention).
FEATURE_GROUPS = ((0, 1), (1, 3), (3, 4), (4, 67), (67, 193), (193, 259), (259, 263))


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(22,) length of the bone ending at each joint (0 for the root) of one pose (22, 3)."""
    lengths = np.zeros(N_JOINTS)
    for j in range(1, N_JOINTS):
        lengths[j] = np.linalg.norm(joints[j] - joints[PARENTS[j]])
    return lengths


def retarget(positions: np.ndarray, target_lengths: np.ndarray) -> np.ndarray:
    """Put a motion (T, 22, 3) on a skeleton with the given bone lengths, keeping every bone direction.

    The root trajectory is scaled by the ratio of leg lengths (thigh + shin), as HumanML3D does.
    """
    source_lengths = bone_lengths(positions[0])
    scale = target_lengths[list(LOWER_LEG_JOINTS)].sum() / source_lengths[list(LOWER_LEG_JOINTS)].sum()
    out = np.zeros_like(positions)
    out[:, 0] = positions[:, 0] * scale
    for chain in KINEMATIC_CHAIN:
        for parent, child in zip(chain[:-1], chain[1:]):
            bone = positions[:, child] - positions[:, parent]
            bone /= np.linalg.norm(bone, axis=-1, keepdims=True)
            out[:, child] = out[:, parent] + bone * target_lengths[child]
    return out


def _forward_direction(positions: np.ndarray) -> np.ndarray:
    r_hip, l_hip, r_shoulder, l_shoulder = FACE_JOINTS
    across = (positions[..., r_hip, :] - positions[..., l_hip, :]) + (positions[..., r_shoulder, :] - positions[..., l_shoulder, :])
    across = across / np.linalg.norm(across, axis=-1, keepdims=True)
    forward = np.cross(np.array([0.0, 1.0, 0.0]), across)
    return forward / np.linalg.norm(forward, axis=-1, keepdims=True)


def normalise_placement(positions: np.ndarray) -> np.ndarray:
    """Lowest joint on the floor (y = 0), frame-0 root at x = z = 0, frame-0 body facing +Z."""
    positions = positions.copy()
    positions[..., 1] -= positions[..., 1].min()
    positions -= positions[0, 0] * np.array([1.0, 0.0, 1.0])
    turn = qbetween(_forward_direction(positions[0]), np.array([0.0, 0.0, 1.0]))
    return qrot(turn, positions)


def _root_rotations(positions: np.ndarray) -> np.ndarray:
    """Per-frame root rotation turning the smoothed facing direction onto +Z; frame 0 is identity.

    HumanML3D's inverse kinematics unpacks its facing joints as (left hip, right hip, ...) although
    they are listed as (right hip, left hip, ...); the hip term is therefore reversed. Kept as is so
    that features match HumanML3D's exactly.
    """
    l_hip, r_hip, r_shoulder, l_shoulder = FACE_JOINTS
    across = (positions[:, r_hip] - positions[:, l_hip]) + (positions[:, r_shoulder] - positions[:, l_shoulder])
    across = across / np.linalg.norm(across, axis=-1, keepdims=True)
    forward = np.cross(np.array([[0.0, 1.0, 0.0]]), across)
    forward = gaussian_filter1d(forward, 20, axis=0, mode="nearest")
    forward = forward / np.linalg.norm(forward, axis=-1, keepdims=True)
    root = qbetween(forward, np.broadcast_to(np.array([0.0, 0.0, 1.0]), forward.shape))
    root[0] = np.array([1.0, 0.0, 0.0, 0.0])
    return root


def _local_rotations(positions: np.ndarray, root: np.ndarray) -> np.ndarray:
    """(T, 22, 4) rotations that turn each rest bone direction onto the observed one, parent-relative."""
    quats = np.zeros(positions.shape[:-1] + (4,))
    quats[:, 0] = root
    for chain in KINEMATIC_CHAIN:
        accumulated = root
        for parent, child in zip(chain[:-1], chain[1:]):
            bone = positions[:, child] - positions[:, parent]
            bone = bone / np.linalg.norm(bone, axis=-1, keepdims=True)
            global_rot = qbetween(np.broadcast_to(RAW_OFFSETS[child], bone.shape), bone)
            local = qmul(qinv(accumulated), global_rot)
            quats[:, child] = local
            accumulated = qmul(accumulated, local)
    return quats


def foot_contacts(positions: np.ndarray, threshold: float = FEET_THRESHOLD) -> np.ndarray:
    """(T-1, 4) contact flags: squared per-frame displacement of each foot joint below ``threshold``."""
    feet = list(LEFT_FEET) + list(RIGHT_FEET)
    speed = ((positions[1:, feet] - positions[:-1, feet]) ** 2).sum(-1)
    return (speed < threshold).astype(np.float64)


def joints_to_features(positions: np.ndarray) -> np.ndarray:
    """(T, 22, 3) placed joints (on the floor, facing +Z) -> (T-1, 263) HumanML3D features, float32."""
    positions = np.asarray(positions, dtype=np.float64)
    root = _root_rotations(positions)
    cont6d = to_cont6d(_local_rotations(positions, root))
    velocity = qrot(root[1:], positions[1:, 0] - positions[:-1, 0])
    root_velocity = qmul(root[1:], qinv(root[:-1]))

    local = positions.copy()
    local[..., 0] -= local[:, :1, 0]
    local[..., 2] -= local[:, :1, 2]
    local = qrot(root[:, None], local)

    joint_velocity = qrot(root[:-1, None], positions[1:] - positions[:-1])
    t = positions.shape[0] - 1
    features = np.concatenate([
        np.arcsin(root_velocity[:, 2:3]),
        velocity[:, [0, 2]],
        local[:-1, 0, 1:2],
        local[:-1, 1:].reshape(t, -1),
        cont6d[:-1, 1:].reshape(t, -1),
        joint_velocity.reshape(t, -1),
        foot_contacts(positions),
    ], axis=-1)
    return features.astype(np.float32)


def features_to_joints(features: np.ndarray) -> np.ndarray:
    """(T, 263) HumanML3D features -> (T, 22, 3) joint positions (metres), float32.

    Integrates the root's Y rotation and XZ velocity, then places the root-relative joint positions.
    """
    features = np.asarray(features, dtype=np.float64)
    angle = np.zeros(features.shape[0])
    angle[1:] = features[:-1, 0]
    angle = np.cumsum(angle)
    root = np.zeros((features.shape[0], 4))
    root[:, 0] = np.cos(angle)
    root[:, 2] = np.sin(angle)
    step = np.zeros((features.shape[0], 3))
    step[1:, [0, 2]] = features[:-1, 1:3]
    root_pos = np.cumsum(qrot(qinv(root), step), axis=0)
    root_pos[:, 1] = features[:, 3]
    joints = qrot(qinv(root)[:, None], features[:, 4:67].reshape(-1, N_JOINTS - 1, 3))
    joints[..., 0] += root_pos[:, None, 0]
    joints[..., 2] += root_pos[:, None, 2]
    return np.concatenate([root_pos[:, None], joints], axis=1).astype(np.float32)


def mirror_joints(positions: np.ndarray) -> np.ndarray:
    """Left-right mirror of a motion (..., 22, 3): negate X and swap left and right joints."""
    mirrored = positions.copy()
    mirrored[..., 0] *= -1
    mirrored[..., LEFT_JOINTS + RIGHT_JOINTS, :] = mirrored[..., RIGHT_JOINTS + LEFT_JOINTS, :]
    return mirrored


def process(positions: np.ndarray, target_lengths: np.ndarray) -> np.ndarray:
    """Raw 22-joint motion (T, 22, 3), metres, Y up -> (T-1, 263) features on the reference skeleton."""
    return joints_to_features(normalise_placement(retarget(positions, target_lengths)))


def mean_std(features: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """HumanML3D statistics: per-dimension mean; std averaged within each feature group."""
    data = np.concatenate(features, axis=0).astype(np.float64)
    mean = data.mean(axis=0)
    std = data.std(axis=0)
    for start, end in FEATURE_GROUPS:
        std[start:end] = std[start:end].mean()
    return mean.astype(np.float32), std.astype(np.float32)
