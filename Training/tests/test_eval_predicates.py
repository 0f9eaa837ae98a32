"""Physical predicates (eval/predicates.py) on real Bandai-Namco takes, read in place from ../shared/data, and on
hand-made motions: each passes its own action's predicate and fails a mismatched one."""
import tarfile

import numpy as np
import pytest

from kinevox_train.data import bandai, humanml3d
from kinevox_train.data.bvh import forward_kinematics, parse_bvh
from kinevox_train.data.motion import MotionConfig, windows
from kinevox_train.eval.predicates import PREDICATES, measure, passes

# action -> actions whose predicate its real take must fail
MISMATCHED = {
    "walk": ["run", "walk-back", "walk-turn-left", "bow"], "run": ["walk", "walk-back"],
    "walk-back": ["walk", "run"], "walk-left": ["walk-right", "walk-back"], "walk-right": ["walk-left", "run"],
    "walk-turn-left": ["walk-turn-right", "walk"], "walk-turn-right": ["walk-turn-left", "walk"],
    "wave-left-hand": ["wave-right-hand", "raise-up-right-hand", "walk"],
    "wave-right-hand": ["wave-left-hand", "raise-up-left-hand", "kick"],
    "raise-up-left-hand": ["raise-up-right-hand", "raise-up-both-hands", "walk"],
    "raise-up-right-hand": ["raise-up-left-hand", "wave-both-hands", "bow"],
    "raise-up-both-hands": ["raise-up-left-hand", "raise-up-right-hand", "run"],
    "wave-both-hands": ["wave-left-hand", "raise-up-right-hand", "walk"],
    "bow": ["walk", "raise-up-both-hands", "kick"], "kick": ["walk", "bow", "run"],  # its fists stay up in a guard, so not the hand predicates
    "guide": ["slash", "walk", "raise-up-both-hands"], "call": ["slash", "walk-back", "kick"],
    "slash": ["guide", "walk", "bow"], "byebye": ["walk", "slash", "kick"],  # dance-short: its first window stands still
}
# Takes whose motion contradicts their label in the source data (they turn the other way); see docs/results.md.
MISLABELLED = ("walk-turn-right_masculine_006", "walk-turn-right_masculine_007", "walk-turn-right_normal_004",
               "walk-turn-right_normal_032", "walk-turn-right_normal_033", "walk-turn-left_masculine_006",
               "walk-turn-left_masculine_007")


@pytest.fixture(scope="module")
def real_takes() -> dict[str, np.ndarray]:
    """action -> joints [T, 22, 3] of the first window of the first take of that action in the archive."""
    config = MotionConfig()
    if not config.archive.exists():
        pytest.skip(f"the Bandai-Namco archive is not beside the checkout ({config.archive.name}, see ../shared/data)")
    lengths = humanml3d.bone_lengths(np.load(config.reference_skeleton)[:22])
    found: dict[str, np.ndarray] = {}
    with tarfile.open(config.archive) as archive:
        for member in archive:
            if not member.name.endswith(".bvh"):
                continue
            action = bandai.parse_label(member.name).action
            if action not in MISMATCHED or action in found or any(m in member.name for m in MISLABELLED):
                continue
            bvh = parse_bvh(archive.extractfile(member).read().decode(), member.name)
            joints = bandai.resample(bandai.to_smpl22(bvh, forward_kinematics(bvh)), round(bvh.fps), bandai.TARGET_FPS)
            features = humanml3d.process(windows(joints)[0], lengths)
            found[action] = humanml3d.features_to_joints(features)
            if len(found) == len(MISMATCHED):
                break
    return found


@pytest.mark.parametrize("action", sorted(MISMATCHED))
def test_real_take_passes_its_own_predicate_and_fails_mismatched_ones(real_takes, action):
    joints = real_takes[action]
    assert passes(action, joints), f"{action}: {measure(joints)}"
    for other in MISMATCHED[action]:
        assert not passes(other, joints), f"{action} take passed the {other} predicate: {measure(joints)}"


def standing(frames: int = 60) -> np.ndarray:
    """A still body standing on the floor facing +Z (its left is +X), arms down: joints [frames, 22, 3]."""
    pose = np.array([
        [0, 0.95, 0], [0.09, 0.88, 0], [-0.09, 0.88, 0], [0, 1.05, 0], [0.1, 0.5, 0], [-0.1, 0.5, 0],
        [0, 1.18, 0], [0.1, 0.08, 0], [-0.1, 0.08, 0], [0, 1.3, 0], [0.1, 0.02, 0.12], [-0.1, 0.02, 0.12],
        [0, 1.5, 0], [0.08, 1.42, 0], [-0.08, 1.42, 0], [0, 1.62, 0.02], [0.18, 1.42, 0], [-0.18, 1.42, 0],
        [0.2, 1.15, 0], [-0.2, 1.15, 0], [0.2, 0.9, 0], [-0.2, 0.9, 0]])
    return np.repeat(pose[None], frames, axis=0)


def test_still_body_passes_no_action():
    joints = standing()
    m = measure(joints)
    assert abs(m.forward) < 1e-9 and m.speed == 0 and abs(m.heading) < 1e-6
    assert not any(passes(a, joints) for a in PREDICATES)


def test_translated_body_walks_or_runs_by_speed_and_backwards_is_back():
    def moving(speed: float, direction: tuple[float, float]) -> np.ndarray:
        joints = standing(100)
        t = np.arange(100)[:, None] / 20.0
        joints[:, :, 0] += (t * speed * direction[0])
        joints[:, :, 2] += (t * speed * direction[1])
        return joints
    assert passes("walk", moving(1.2, (0, 1))) and not passes("run", moving(1.2, (0, 1)))
    assert passes("run", moving(3.0, (0, 1))) and not passes("walk", moving(3.0, (0, 1)))
    assert passes("walk-back", moving(1.0, (0, -1))) and not passes("walk", moving(1.0, (0, -1)))
    assert passes("walk-left", moving(1.0, (0.7, 0.7))) and not passes("walk-right", moving(1.0, (0.7, 0.7)))


def test_unknown_action_and_bad_shape_are_named_errors():
    with pytest.raises(KeyError, match="sit"):
        passes("sit", standing())
    with pytest.raises(ValueError, match="22, 3"):
        measure(np.zeros((10, 21, 3)))


def test_two_step_judgement_needs_both_parts_in_order(tmp_path):
    from kinevox_train.eval.ood import judge, load_commands

    body = standing(160)
    t = np.arange(160) / 20.0
    path = np.where(t < 4, 1.2 * t, 1.2 * 4 - 0.8 * (t - 4))  # 4 s forward, then 4 s backwards
    body[:, :, 2] += path[:, None]
    walk_then_back = {"actions": ["walk", "walk-back"], "kind": "two-step"}
    back_then_walk = {"actions": ["walk-back", "walk"], "kind": "two-step"}
    assert judge(walk_then_back, body) is True
    assert judge(back_then_walk, body) is False
    assert judge({"actions": ["walk"], "kind": "single"}, body[:80]) is True
    assert judge({"actions": ["respond"], "kind": "single"}, body) is None  # no predicate: the evaluator judges it
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "text": "sit", "kind": "question", "actions": []}\n')
    with pytest.raises(ValueError, match="question"):
        load_commands(bad)
