"""Physical predicates: does a motion do what its label says, judged on the 22 joints alone?

Each supported action has one predicate over a few measured quantities of the joints (`measure`): pelvis
displacement along the body's first facing (forward) and its left (lateral), median pelvis speed, heading change,
how long each wrist is above the head, how much a raised wrist swings, the forward reach of a wrist, the height of an
ankle above the floor, how far the head drops towards the pelvis, how far an arm is held out at shoulder height, how long
both hands grip one hilt at head height, how much the limbs move. "bye" (one hand waving goodbye) and "respond" (a hand put up) have none:
on the real clips no measure here tells them from a wave or a raise (a hand up in place passes half of all other
clips), so the evaluator alone judges them. The thresholds are calibrated on the real
Bandai-Namco clips (`python -m kinevox_train.eval.predicates --motion cache/motion` prints each predicate's pass rate
on its own class — the ceiling of any test that uses it — and on every other class).

Coordinates are HumanML3D's: metres, Y up, 20 frames per second, the character's left is +X when it faces +Z.
"""
from __future__ import annotations

import argparse
import json
import pathlib
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

FPS = 20
PELVIS, L_HIP, R_HIP, L_ANKLE, R_ANKLE, HEAD = 0, 1, 2, 7, 8, 15
L_SHOULDER, R_SHOULDER, L_WRIST, R_WRIST = 16, 17, 20, 21
SIDES = {"left": (L_SHOULDER, L_WRIST, L_ANKLE), "right": (R_SHOULDER, R_WRIST, R_ANKLE)}


@dataclass(frozen=True)
class Measures:
    """What `measure` reads off one motion. Lengths in metres, speeds in m/s, angles in degrees, times in s."""

    seconds: float
    forward: float          # pelvis displacement along the first facing direction
    lateral: float          # ... along the body's first left (+ = the character's left)
    speed: float            # median horizontal pelvis speed over 0.5 s windows
    cruise: float           # its 75th percentile: the speed once under way
    heading: float          # facing change, last 0.25 s against the first (+ = turned to its left)
    raised_left: float      # time the left wrist is up (at least at shoulder height, less a margin)
    raised_right: float
    swing_left: float       # sideways swing of the left wrist while up (std after a 1 s detrend)
    swing_right: float
    reach_left: float       # largest forward distance of the left wrist in front of its shoulder, near shoulder height
    reach_right: float
    kick_left: float        # largest height of the left ankle above the clip's floor
    kick_right: float
    head_drop: float        # range of the head's height above the pelvis (how far it bends down)
    hands_over_head: float  # largest height of a wrist above the head (negative: the hands stay below it)
    extension: float        # largest horizontal wrist-shoulder distance with the wrist near shoulder height
    hands_joined_up: float  # time both wrists are within a grip's width of each other with one at head height
    limb_activity: float    # mean speed of wrists and ankles relative to the pelvis

    def side(self, name: str, side: str) -> float:
        return getattr(self, f"{name}_{side}")


def _facing(joints: np.ndarray) -> np.ndarray:
    """Unit facing direction on the floor per frame [T, 2] as (x, z): across (right to left hips and shoulders)
    crossed with up."""
    across = (joints[:, L_HIP] - joints[:, R_HIP]) + (joints[:, L_SHOULDER] - joints[:, R_SHOULDER])
    facing = np.stack([-across[:, 2], across[:, 0]], axis=1)
    return facing / np.maximum(np.linalg.norm(facing, axis=1, keepdims=True), 1e-9)


def _smooth(x: np.ndarray, frames: int) -> np.ndarray:
    """Centred moving average along axis 0 (edges use the frames that exist)."""
    if len(x) < 2 or frames < 2:
        return x
    kernel = np.ones(frames)
    pad = [(frames // 2, frames - 1 - frames // 2)] + [(0, 0)] * (x.ndim - 1)
    ones = np.pad(np.ones(len(x)), pad[0])
    summed = np.apply_along_axis(lambda c: np.convolve(np.pad(c, pad[0]), kernel, "valid"), 0, x)
    counts = np.convolve(ones, kernel, "valid")
    return summed / counts.reshape((-1,) + (1,) * (x.ndim - 1))


def measure(joints: np.ndarray) -> Measures:
    """Measures of one motion, joints [T, 22, 3] (T >= 2)."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (22, 3) or len(joints) < 2:
        raise ValueError(f"expected joints [T >= 2, 22, 3], got {joints.shape}")
    t = len(joints)
    edge = max(1, min(5, t // 4))
    facing = _facing(joints)
    f0 = facing[:edge].mean(0)
    f0 /= max(np.linalg.norm(f0), 1e-9)
    left0 = np.array([f0[1], -f0[0]])  # the character's left, a quarter turn from its facing
    pelvis = joints[:, PELVIS][:, [0, 2]]
    move = pelvis[-1] - pelvis[0]
    window = min(10, t - 1)
    step = np.linalg.norm(pelvis[window:] - pelvis[:-window], axis=1) * FPS / window
    angle = np.unwrap(np.arctan2(facing[:, 0], facing[:, 1]))
    heading = np.degrees(angle[-edge:].mean() - angle[:edge].mean())
    floor = joints[:, [L_ANKLE, R_ANKLE], 1].min()
    head_above_pelvis = joints[:, HEAD, 1] - joints[:, PELVIS, 1]
    limbs = joints[:, [L_WRIST, R_WRIST, L_ANKLE, R_ANKLE]] - joints[:, [PELVIS]]
    joined = np.linalg.norm(joints[:, L_WRIST] - joints[:, R_WRIST], axis=1) <= GRIP_MAX_GAP
    up_high = joints[:, [L_WRIST, R_WRIST], 1].max(1) >= joints[:, HEAD, 1] - GRIP_BELOW_HEAD
    body_left = np.stack([facing[:, 1], -facing[:, 0]], axis=1)  # the body's own left, per frame
    values = {}
    extension = 0.0
    for side, (shoulder, wrist, ankle) in SIDES.items():
        rel = joints[:, wrist] - joints[:, shoulder]
        near_shoulder = np.abs(rel[:, 1]) <= EXTEND_LEVEL
        if near_shoulder.any():
            extension = max(extension, float(np.linalg.norm(rel[near_shoulder][:, [0, 2]], axis=1).max()))
        up = rel[:, 1] >= -UP_MARGIN
        values[f"raised_{side}"] = float(up.sum()) / FPS
        # sideways component of the wrist, detrended over 1 s
        sideways = (rel[:, [0, 2]] * body_left).sum(1)
        swing = sideways - _smooth(sideways, FPS)
        values[f"swing_{side}"] = float(swing[up].std()) if up.sum() >= FPS // 2 else 0.0
        level = np.abs(rel[:, 1]) <= REACH_LEVEL
        forward = (rel[:, [0, 2]] * facing).sum(1)
        values[f"reach_{side}"] = float(forward[level].max()) if level.any() else 0.0
        values[f"kick_{side}"] = float(joints[:, ankle, 1].max() - floor)
    return Measures(
        seconds=t / FPS, forward=float(move @ f0), lateral=float(move @ left0),
        speed=float(np.median(step)) if len(step) else 0.0,
        cruise=float(np.percentile(step, 75)) if len(step) else 0.0, heading=float(heading),
        head_drop=float(head_above_pelvis.max() - head_above_pelvis.min()),
        hands_over_head=float((joints[:, [L_WRIST, R_WRIST], 1] - joints[:, [HEAD], 1]).max()),
        extension=extension, hands_joined_up=float((joined & up_high).sum()) / FPS,
        limb_activity=float(np.linalg.norm(np.diff(limbs, axis=0), axis=2).mean()) * FPS, **values)


# Thresholds, calibrated on the real clips (see the module doc and docs/results.md, "Motion fidelity").
UP_MARGIN = 0.08             # m a raised wrist may sit below its shoulder (feminine raises stop at shoulder height)
REACH_LEVEL = 0.15           # m above or below the shoulder a punching wrist stays
WALK_MIN_FORWARD = 0.5       # m a walk covers ahead
WALK_MAX_SPEED = 1.7         # m/s once under way: above it is a run (real walks: 99 % below 1.68)
RUN_MIN_SPEED = 1.7          # m/s once under way (slow elderly and exhausted runs go from 1.4)
STRAIGHT_MAX_TURN = 45.0     # degrees a straight walk may turn (real straight walks: 97 % within 13)
TURN_MIN = 45.0              # degrees a turning walk turns (real turns: 80-106)
SIDESTEP_MIN_LATERAL = 0.5   # m a diagonal walk covers sideways (real: 97 % above 1.0)
BACK_MIN = 0.4               # m a walk back covers backwards
RAISED_MIN = 0.4             # s a hand is up
WAVE_MIN_SWING = 0.02        # m of sideways swing of a waving hand
PUNCH_MIN_REACH = 0.4        # m in front of the shoulder
KICK_MIN_HEIGHT = 0.5        # m of ankle above the floor
BOW_MIN_DROP = 0.1           # m the head comes down towards the pelvis (real bows: 97 % above 0.09)
STAY_MAX_MOVE = 1.0          # m of pelvis travel for an action done in place
EXTEND_LEVEL = 0.25          # m above or below the shoulder an arm held out (showing the way, beckoning) stays
EXTEND_MIN = 0.35            # m of horizontal wrist-shoulder distance for an arm held out (real guides: all above 0.39)
BELOW_HEAD_MAX = 0.05        # m a wrist may rise above the head while showing the way or beckoning
GRIP_MAX_GAP = 0.2           # m between the wrists of two hands on one sword hilt
GRIP_BELOW_HEAD = 0.1        # m below the head a gripping wrist still counts as raised for the swing
SLASH_MIN_GRIP = 0.3         # s of a two-handed grip at head height (real slashes: all above 1.0, no other clip's 90 %)
DANCE_MIN_ACTIVITY = 0.7     # m/s mean limb speed of a dance (real short dances: 86 % above it)
STEP_ABOUT_MAX_MOVE = 1.5    # m of pelvis travel for a dance or a sword swing, which step about in place


def _walking(m: Measures) -> bool:
    return m.cruise <= WALK_MAX_SPEED


def _runs_ahead(m: Measures) -> bool:
    return m.forward >= 1.0 and m.cruise >= RUN_MIN_SPEED and abs(m.heading) <= STRAIGHT_MAX_TURN


def _in_place(m: Measures) -> bool:
    return np.hypot(m.forward, m.lateral) <= STAY_MAX_MOVE


def _waves(m: Measures, side: str) -> bool:
    return m.side("raised", side) >= RAISED_MIN and m.side("swing", side) >= WAVE_MIN_SWING


def _raises(m: Measures, side: str) -> bool:
    return m.side("raised", side) >= RAISED_MIN


def _arm_held_out(m: Measures) -> bool:
    return m.extension >= EXTEND_MIN and m.hands_over_head < BELOW_HEAD_MAX and _in_place(m)


PREDICATES: dict[str, Callable[[Measures], bool]] = {
    "walk": lambda m: m.forward >= WALK_MIN_FORWARD and _walking(m) and abs(m.heading) <= STRAIGHT_MAX_TURN
    and abs(m.lateral) < SIDESTEP_MIN_LATERAL + 0.5 * m.forward,
    "run": _runs_ahead,
    "dash": _runs_ahead,  # real dashes are no faster than the fastest runs (docs/results.md)
    "walk-back": lambda m: m.forward <= -BACK_MIN and _walking(m),
    "walk-left": lambda m: m.lateral >= SIDESTEP_MIN_LATERAL and _walking(m),
    "walk-right": lambda m: m.lateral <= -SIDESTEP_MIN_LATERAL and _walking(m),
    "walk-turn-left": lambda m: m.heading >= TURN_MIN,
    "walk-turn-right": lambda m: m.heading <= -TURN_MIN,
    "wave-left-hand": lambda m: _waves(m, "left") and not _raises(m, "right"),
    "wave-right-hand": lambda m: _waves(m, "right") and not _raises(m, "left"),
    "wave-both-hands": lambda m: _waves(m, "left") and _waves(m, "right"),
    "raise-up-left-hand": lambda m: _raises(m, "left") and not _raises(m, "right") and _in_place(m),
    "raise-up-right-hand": lambda m: _raises(m, "right") and not _raises(m, "left") and _in_place(m),
    "raise-up-both-hands": lambda m: _raises(m, "left") and _raises(m, "right"),
    "bow": lambda m: m.head_drop >= BOW_MIN_DROP and _in_place(m),
    "punch": lambda m: max(m.reach_left, m.reach_right) >= PUNCH_MIN_REACH and _in_place(m),
    "kick": lambda m: max(m.kick_left, m.kick_right) >= KICK_MIN_HEIGHT and _in_place(m),
    "byebye": lambda m: _waves(m, "left") and _waves(m, "right") and _in_place(m),
    "guide": _arm_held_out,
    "call": lambda m: _arm_held_out(m) and (_waves(m, "left") or _waves(m, "right")),
    "slash": lambda m: m.hands_joined_up >= SLASH_MIN_GRIP and np.hypot(m.forward, m.lateral) <= STEP_ABOUT_MAX_MOVE,
    "dance-short": lambda m: m.limb_activity >= DANCE_MIN_ACTIVITY and np.hypot(m.forward, m.lateral) <= STEP_ABOUT_MAX_MOVE,
}


def passes(action: str, joints_or_measures) -> bool:
    """Whether a motion (joints [T, 22, 3] or its Measures) passes the predicate of `action`."""
    if action not in PREDICATES:
        raise KeyError(f"no physical predicate for {action!r}; known: {', '.join(sorted(PREDICATES))}")
    m = joints_or_measures if isinstance(joints_or_measures, Measures) else measure(joints_or_measures)
    return bool(PREDICATES[action](m))


def calibration_table(measures: dict[str, list[Measures]]) -> tuple[dict, str]:
    """Pass rate of every predicate on the real clips of its own action and on the clips of every other action."""
    rows = {}
    for action in PREDICATES:
        own = measures.get(action, [])
        others = [m for a, ms in measures.items() if a != action for m in ms]
        rows[action] = {"clips": len(own), "own": float(np.mean([PREDICATES[action](m) for m in own])) if own else None,
                        "others": float(np.mean([PREDICATES[action](m) for m in others])) if others else None}
    lines = ["| predicate | real clips of the action | pass rate there (ceiling) | pass rate on other actions' clips |",
             "|---|---|---|---|"]
    for a, r in rows.items():
        own = "–" if r["own"] is None else f"{r['own'] * 100:.1f} %"
        lines.append(f"| {a} | {r['clips']} | {own} | {r['others'] * 100:.1f} % |")
    return rows, "\n".join(lines)


def real_clip_measures(motion_root: str | pathlib.Path, split: str | None = None,
                       include_speed_copies: bool = False) -> dict[str, list[Measures]]:
    """action -> Measures of the real clips in the motion cache (all splits unless `split`; speed-changed
    copies left out unless asked, multi-stage clips always)."""
    from ..data.humanml3d import features_to_joints

    root = pathlib.Path(motion_root)
    index = json.loads((root / "index.json").read_text())
    out: dict[str, list[Measures]] = {}
    for clip in index["clips"]:
        if (split and clip["split"] != split) or (clip.get("speed", 1.0) != 1.0 and not include_speed_copies):
            continue
        if "+" in clip["action"]:
            continue
        feats = np.load(root / "new_joint_vecs" / f"{clip['id']}.npy")
        out.setdefault(clip["action"], []).append(measure(features_to_joints(feats)))
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--motion", required=True, help="the dataset build's motion folder (e.g. cache/motion)")
    p.add_argument("--split", default=None, help="only this split (default: all)")
    p.add_argument("--dump", default=None, help="also write every clip's measures to this JSON file")
    args = p.parse_args(argv)
    measures = real_clip_measures(args.motion, args.split)
    rows, markdown = calibration_table(measures)
    if args.dump:
        pathlib.Path(args.dump).write_text(json.dumps({a: [asdict(m) for m in ms] for a, ms in measures.items()}))
    print(markdown)


if __name__ == "__main__":
    main()
