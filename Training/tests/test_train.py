"""Training commands on a tiny synthetic HumanML3D-layout folder: run, checkpoint, resume, 2-process DDP (gloo)."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch

from kinevox_train.train import rvq as rvq_stage
from kinevox_train.train.batches import PairedExample, action_balanced_weights, sample_motion_windows, sample_pairs
from kinevox_train.train.common import RunDir, default_warmup, warmup_cosine_lr

TRAINING = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def motion_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("hml")
    (root / "new_joint_vecs").mkdir()
    rng = np.random.default_rng(0)
    ids = []
    for i in range(10):
        np.save(root / "new_joint_vecs" / f"c{i}.npy", rng.normal(size=(rng.integers(24, 48), 263)).astype(np.float32))
        ids.append(f"c{i}")
    (root / "train.txt").write_text("\n".join(ids[:8]))
    (root / "val.txt").write_text("\n".join(ids[8:]))
    np.save(root / "Mean.npy", np.zeros(263, np.float32))
    np.save(root / "Std.npy", np.ones(263, np.float32))
    (root / "index.json").write_text(json.dumps({"clips": [{"id": i, "repeat": 2.0 if i == "c0" else 1.0} for i in ids]}))
    return root


def test_lr_schedule_warms_up_then_decays():
    assert default_warmup(100) == 10 and default_warmup(10**6) == 2000
    lrs = [warmup_cosine_lr(s, 100, 10, 1.0) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[-1] == pytest.approx(0.1, abs=0.01) and all(a >= b for a, b in zip(lrs[9:], lrs[10:]))


def test_batches_shapes_and_cropping():
    rng = np.random.default_rng(0)
    clips = [np.zeros((10, 3)), np.ones((30, 3))]
    w = sample_motion_windows(clips, 5, 16, rng)
    assert w.shape == (5, 16, 3) and bool((w == 1).all())  # only the long clip fits a 16-frame window
    ex = [PairedExample(np.ones((4, 2), np.float16), np.arange(20).reshape(10, 2)),
          PairedExample(np.ones((7, 2), np.float16), np.arange(6).reshape(3, 2))]
    feats, flens, codes, tlens, targets, labels = sample_pairs(ex, 6, 5, rng)
    assert targets.shape == (6, 0)
    assert feats.shape[0] == 6 and feats.shape[2] == 2 and codes.shape[2] == 2
    for i in range(6):
        n = int(tlens[i])
        assert n in (3, 5) and bool((codes[i, n:] == -1).all()) and bool((codes[i, :n] >= 0).all())
        assert float(feats[i, int(flens[i]):].abs().sum()) == 0.0


def test_action_balanced_weights_known_answers_and_sampling():
    assert action_balanced_weights([0, 0, 0, 1], 0.0) is None
    np.testing.assert_allclose(action_balanced_weights([0, 0, 0, 1], 1.0), [1 / 6, 1 / 6, 1 / 6, 1 / 2])
    half = action_balanced_weights([0, 0, 0, 0, 1], 0.5)  # action share n ** 0.5: 2 against 1
    assert half[:4].sum() == pytest.approx(2 / 3) and half[4] == pytest.approx(1 / 3)
    ex = [PairedExample(np.ones((2, 2), np.float16), np.zeros((4, 1)), label=k) for k in (0, 0, 0, 1)]
    labels = sample_pairs(ex, 4000, 4, np.random.default_rng(0), action_balanced_weights([0, 0, 0, 1], 1.0))[5]
    assert abs(float((labels == 1).float().mean()) - 0.5) < 0.03


def test_rvq_command_checkpoints_and_resumes(motion_root, tmp_path):
    run = tmp_path / "rvq"
    common = ["--data", str(motion_root), "--run-dir", str(run), "--config", "tiny", "--batch", "4", "--window", "16",
              "--log-every", "2", "--save-every", "2", "--threads", "1"]
    rvq_stage.main(common + ["--steps", "2"])
    assert (run / "checkpoint.pt").exists() and (run / "loss.png").exists() and (run / "train.log").exists()
    rvq_stage.main(common + ["--steps", "4"])
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    assert state["step"] == 4 and [h["step"] for h in state["history"]] == [2, 4]
    assert "resumed at step 2" in (run / "train.log").read_text()
    tuned = tmp_path / "tuned"
    rvq_stage.main(["--data", str(motion_root), "--run-dir", str(tuned), "--config", "tiny", "--batch", "4", "--window", "16",
              "--threads", "1", "--steps", "1", "--init-from", str(run), "--root-weight", "1", "--velocity-weight", "1"])
    log = (tuned / "train.log").read_text()
    assert f"initialised from {run}" in log and " root " in log and " velocity " in log


def test_ddp_two_process_gloo_smoke(motion_root, tmp_path):
    run = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(TRAINING))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           "-m", "kinevox_train.train.rvq", "--data", str(motion_root), "--run-dir", str(run), "--config", "tiny",
           "--steps", "3", "--batch", "2", "--window", "16", "--log-every", "1", "--save-every", "3",
           "--threads", "1", "--device", "cpu"]
    out = subprocess.run(cmd, cwd=TRAINING, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    log = (run / "train.log").read_text()
    assert "done at step 3" in log
    assert json.loads((run / "config.json").read_text())["world_size"] == 2
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    assert state["step"] == 3
