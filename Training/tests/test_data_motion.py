"""Motion side of the dataset: BVH reading + FK, Bandai mapping, HumanML3D features <-> joints."""
from pathlib import Path

import numpy as np
import pytest

from kinevox_train.data import bandai, humanml3d as hml, motion
from kinevox_train.data.bvh import BVHError, BVHMotion, forward_kinematics, parse_bvh, read_bvh
from kinevox_train.data.quaternion import qinv, qrot

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "humanml3d"

TINY_BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Upper
  {
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT Tip
    {
      OFFSET 0 5 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      End Site
      {
        OFFSET 0 1 0
      }
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.0333333
1 2 3 0 0 0 0 0 0 0 0 0
0 0 0 90 0 0 0 90 0 0 0 0
"""


def test_tiny_bvh_parse_and_forward_kinematics(tmp_path):
    path = tmp_path / "tiny.bvh"
    path.write_text(TINY_BVH)
    bvh = read_bvh(path)
    assert bvh.names == ["Hips", "Upper", "Tip"]
    assert bvh.parents == [-1, 0, 1]
    assert bvh.motion.shape == (2, 12)
    assert bvh.fps == pytest.approx(30.0, rel=1e-4)
    p = forward_kinematics(bvh)
    # Frame 0: rest pose translated by (1, 2, 3).
    np.testing.assert_allclose(p[0], [[1, 2, 3], [1, 12, 3], [1, 17, 3]], atol=1e-9)
    # Frame 1: root turned +90 deg about Z (Y axis -> -X), then Upper turned +90 deg about X
    # (its local Y -> local Z, which the root maps to Z).
    np.testing.assert_allclose(p[1], [[0, 0, 0], [-10, 0, 0], [-10, 0, 5]], atol=1e-9)


def test_malformed_bvh_is_an_error_naming_the_source():
    with pytest.raises(BVHError, match="broken.bvh"):
        parse_bvh(TINY_BVH.replace("1 2 3 0 0 0 0 0 0 0 0 0\n", ""), "broken.bvh")


def _bandai_rest_pose() -> np.ndarray:
    """Fake Bandai FK output (1 frame, cm): a person facing +Z, left on +X."""
    joints = {
        "joint_Root": (0, 0, 0), "Hips": (0, 90, 0), "Spine": (0, 106, 0), "Chest": (0, 115, 0), "Neck": (0, 131, 0),
        "Head": (0, 138, 0), "Shoulder_L": (5, 128, 0), "UpperArm_L": (10, 128, 0), "LowerArm_L": (12, 104, 0),
        "Hand_L": (14, 82, 0), "UpperLeg_L": (9, 88, 0), "LowerLeg_L": (9, 50, 0), "Foot_L": (9, 9, 0),
        "Toes_L": (9, 2, 11),
    }
    for name, (x, y, z) in list(joints.items()):
        if name.endswith("_L"):
            joints[name[:-1] + "R"] = (-x, y, z)
    return joints


def test_bandai_mapping_names_spine_and_units():
    rest = _bandai_rest_pose()
    names = list(rest)
    bvh = BVHMotion(names, [-1] * len(names), np.zeros((len(names), 3)), [[] for _ in names], 1 / 30, np.zeros((1, 0)))
    positions = np.array([list(rest.values())], dtype=np.float64)
    smpl = bandai.to_smpl22(bvh, positions)
    assert smpl.shape == (1, 22, 3)
    j = {name: smpl[0, i] for i, name in enumerate(hml.JOINT_NAMES)}
    np.testing.assert_allclose(j["left_wrist"], [0.14, 0.82, 0])
    np.testing.assert_allclose(j["right_foot"], [-0.09, 0.02, 0.11])
    # Straight vertical spine from 0.90 m to 1.31 m: spine joints at the SMPL arc fractions.
    for name, fraction in bandai.SPINE_FRACTIONS.items():
        np.testing.assert_allclose(j[name], [0, 0.90 + fraction * 0.41, 0], atol=1e-12)
    assert j["left_hip"][0] > 0 > j["right_hip"][0]


def test_resample_30_to_20_fps_is_linear():
    x = np.arange(31, dtype=np.float64)[:, None] * 3.0  # 1 s at 30 fps, value = 90 * time
    y = bandai.resample(x, 30, 20)
    assert y.shape == (21, 1)
    np.testing.assert_allclose(y[:, 0], np.arange(21) * 4.5)


def test_parse_label_and_mirror_text():
    label = bandai.parse_label("data/dataset-2_raise-up-left-hand_elderly_012.bvh")
    assert (label.dataset, label.action, label.style, label.take) == (2, "raise-up-left-hand", "elderly", 12)
    assert motion.mirror_text("walk-turn-left, then right") == "walk-turn-right, then left"


def test_decoder_reproduces_humanml3d_joints():
    features = np.load(FIXTURES / "new_joint_vecs_012314.npy")
    joints = np.load(FIXTURES / "new_joints_012314.npy")
    decoded = hml.features_to_joints(features)
    error = np.abs(decoded - joints).max()
    print(f"features->joints max abs error {error:.2e} m")
    assert error <= 1e-4


def test_encoder_reproduces_humanml3d_features():
    """new_joints has one frame fewer than the motion the reference features were computed from, and the
    facing direction is Gaussian-smoothed (sigma 20 frames), so the last ~50 frames depend on that
    missing frame. With joints alone the frames before the smoothing tail match to 1e-5; restoring the
    missing frame from the clip's own velocity channels makes every frame match to 1e-4."""
    features = np.load(FIXTURES / "new_joint_vecs_012314.npy").astype(np.float64)
    joints = np.load(FIXTURES / "new_joints_012314.npy").astype(np.float64)
    from_joints = hml.joints_to_features(joints)
    assert from_joints.shape == (169, 263)
    head_error = np.abs(from_joints[:100] - features[:100]).max()
    angle = features[:-1, 0].sum()
    facing = np.array([np.cos(angle), 0.0, np.sin(angle), 0.0])
    last = joints[-1] + qrot(qinv(facing), features[-1, 193:259].reshape(22, 3))
    completed = hml.joints_to_features(np.concatenate([joints, last[None]]))
    full_error = np.abs(completed - features).max()
    print(f"joints->features max abs error: first 100 frames {head_error:.2e}, all 170 frames "
          f"(missing frame restored) {full_error:.2e}, all frames from joints alone "
          f"{np.abs(from_joints - features[:-1]).max():.2e}")
    assert head_error <= 1e-5
    assert full_error <= 1e-4
    np.testing.assert_array_equal(completed[:, 259:], features[:, 259:])


def test_placement_retarget_and_mirror():
    joints = hml.features_to_joints(np.load(FIXTURES / "new_joint_vecs_012314.npy")).astype(np.float64)
    skeleton = np.load(FIXTURES / "skeleton_example_h3d.npy")[:22]
    target = hml.bone_lengths(skeleton)
    # Move, turn and scale the clip; processing must bring it back onto the floor facing +Z.
    turn = np.array([np.cos(0.6), 0.0, np.sin(0.6), 0.0])
    moved = qrot(turn, joints * 1.3) + np.array([2.0, 0.5, -1.0])
    placed = hml.normalise_placement(hml.retarget(moved, target))
    np.testing.assert_allclose(hml.bone_lengths(placed[5]), target, atol=1e-9)
    assert placed[..., 1].min() == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(placed[0, 0, [0, 2]], 0.0, atol=1e-12)
    assert hml.process(moved, target).shape == (169, 263)
    mirrored = hml.mirror_joints(joints)
    np.testing.assert_array_equal(hml.mirror_joints(mirrored), joints)
    assert mirrored[0, 1, 0] == -joints[0, 2, 0]


def test_mean_std_groups_share_one_std():
    rng = np.random.default_rng(0)
    clips = [rng.normal(size=(50, 263)) * rng.uniform(0.1, 3, 263) for _ in range(3)]
    mean, std = hml.mean_std(clips)
    np.testing.assert_allclose(mean, np.concatenate(clips).mean(0), rtol=1e-5, atol=1e-6)
    for start, end in hml.FEATURE_GROUPS:
        assert np.all(std[start:end] == std[start])


def test_windows_and_padding():
    assert [w.shape[0] for w in motion.windows(np.zeros((400, 22, 3)))] == [134, 134, 134]
    assert motion.windows(np.zeros((20, 22, 3))) == []
    padded = motion.windows(np.arange(30, dtype=float)[:, None, None] * np.ones((30, 22, 3)))
    assert len(padded) == 1 and padded[0].shape[0] == motion.MIN_FRAMES + 1
    assert padded[0][0, 0, 0] == 0 and padded[0][-1, 0, 0] == 29
