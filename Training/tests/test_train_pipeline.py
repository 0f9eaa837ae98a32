"""The stage commands chained on tiny synthetic data: rvq -> generator (mask) -> generator (residual) ->
export -> reload -> generate. Also checks the speech cache reader."""
import json

import numpy as np
import torch

from kinevox_train import export
from kinevox_train.models.generation import generate, seeded_uniform
from kinevox_train.train import align, generator, rvq
from kinevox_train.train.conditions import load_conditions


def _fake_data(root):
    motion = root / "motion"
    (motion / "new_joint_vecs").mkdir(parents=True)
    rng = np.random.default_rng(0)
    ids = [f"c{i}" for i in range(8)]
    for i in ids:
        np.save(motion / "new_joint_vecs" / f"{i}.npy", rng.normal(size=(rng.integers(20, 40), 263)).astype(np.float32))
    (motion / "train.txt").write_text("\n".join(ids[:6]))
    (motion / "val.txt").write_text("\n".join(ids[6:]))
    np.save(motion / "Mean.npy", np.zeros(263, np.float32))
    np.save(motion / "Std.npy", np.ones(263, np.float32))
    speech = root / "speech"
    speech.mkdir()
    utterances = []
    for speech_set, clips in (("train", ids[:6]), ("val", ids[6:])):
        rows, offset = [], 0
        for k, clip in enumerate(clips):
            n = int(rng.integers(3, 9))
            rows.append(rng.normal(size=(n, 12)).astype(np.float16))
            utterances.append({"id": f"{speech_set}{k}", "set": speech_set, "clip_id": clip, "text": f"do {clip}",
                               "voice": "v", "offset": offset, "n_frames": n})
            offset += n
        np.save(speech / f"features_{speech_set}.npy", np.concatenate(rows))
    (speech / "index.json").write_text(json.dumps({"utterances": utterances}))
    return motion, speech


def test_stage_commands_chain_to_an_exported_model(tmp_path):
    motion, speech = _fake_data(tmp_path)
    conds = load_conditions(f"speech:{speech}", "train")
    assert len(conds) == 6 and conds[0].features.shape[1] == 12 and conds[0].motion_id == "c0"
    runs = tmp_path / "runs"
    small = ["--threads", "1", "--log-every", "2", "--save-every", "2"]
    rvq.main(["--data", str(motion), "--run-dir", str(runs / "rvq"), "--config", "tiny", "--steps", "2",
              "--batch", "4", "--window", "16"] + small)
    common = ["--data", str(motion), "--conditions", f"speech:{speech}", "--rvq", str(runs / "rvq"),
              "--batch", "4"] + small
    generator.main(["--stage", "mask", "--run-dir", str(runs / "gen"), "--steps", "2"] + common)
    generator.main(["--stage", "residual", "--run-dir", str(runs / "res"), "--encoder-run", str(runs / "gen"),
                    "--follow-encoder", "--steps", "2"] + common)
    log = (runs / "gen" / "train.log").read_text()
    assert "done at step 2" in log and "val_ce" in log and "val_ce_shuffled" in log
    generator.main(["--stage", "mask", "--run-dir", str(runs / "warm"), "--warm-start", str(runs / "gen"),
                    "--steps", "1"] + common)
    warm_log = (runs / "warm" / "train.log").read_text()
    assert "mask_transformer warm-started" in warm_log and "fresh (absent or another shape): none" in warm_log
    generator.main(["--stage", "mask", "--run-dir", str(runs / "align"), "--steps", "2", "--align-weight", "1",
                    "--minilm-store", str(tmp_path / "minilm.npz")] + common)
    assert "val_align" in (runs / "align" / "train.log").read_text()
    checkpoint = torch.load(runs / "align" / "checkpoint.pt", weights_only=False)
    assert set(checkpoint["modules"]) == {"audio_encoder", "mask_transformer", "length_estimator"}
    assert set(checkpoint["heads"]) == {"align_head"}
    align.main(["--conditions", f"speech:{speech}", "--config", "tiny", "--run-dir", str(runs / "enc"), "--steps", "2",
                "--batch", "4", "--minilm-store", str(tmp_path / "minilm.npz"), "--threads", "1", "--log-every", "1"])
    assert "val_cos" in (runs / "enc" / "train.log").read_text()
    generator.main(["--stage", "mask", "--run-dir", str(runs / "distilled"), "--encoder-init", str(runs / "enc"),
                    "--warm-start", str(runs / "gen"), "--steps", "1"] + common)
    distilled_log = (runs / "distilled" / "train.log").read_text()
    assert "audio_encoder warm-started" in distilled_log and "fresh (absent or another shape): none" in distilled_log
    assert torch.load(runs / "distilled" / "checkpoint.pt", weights_only=False)["config"]["audio_encoder"]["dim"] == 384
    align.main(["--conditions", f"speech:{speech}", "--config", "tiny", "--run-dir", str(runs / "pool"), "--steps", "1",
                "--batch", "4", "--minilm-store", str(tmp_path / "minilm.npz"), "--threads", "1", "--kind", "avgpool",
                "--contrastive-weight", "1"])
    assert torch.load(runs / "pool" / "checkpoint.pt", weights_only=False)["config"]["audio_encoder"]["kind"] == "avgpool"
    plugged = tmp_path / "plugged.safetensors"
    export.main(["--rvq", str(runs / "rvq"), "--generator", str(runs / "distilled"), "--residual", "",
                 "--encoder", str(runs / "pool"), "--output", str(plugged), "--no-frontend"])
    assert export.load_model(plugged)[0].cfg.audio_encoder.kind == "avgpool"
    out = tmp_path / "model.safetensors"
    export.main(["--rvq", str(runs / "rvq"), "--generator", str(runs / "gen"), "--residual", str(runs / "res"),
                 "--output", str(out), "--no-frontend"])
    model, _ = export.load_model(out)
    assert model.cfg.audio_encoder.input_dim == 12
    motion_out, codes, lengths = generate(model, torch.from_numpy(conds[0].features.astype(np.float32))[None],
                                          torch.tensor([conds[0].features.shape[0]]), model.cfg.sampling,
                                          seeded_uniform(0))
    assert motion_out.shape == (1, 4 * int(lengths[0]), 263) and torch.isfinite(motion_out).all()


def test_alignment_loss_contrastive_term_prefers_the_matching_caption():
    rng = np.random.default_rng(0)
    targets = torch.nn.functional.normalize(torch.from_numpy(rng.normal(size=(6, 16)).astype(np.float32)), dim=-1)
    targets[5] = targets[4]  # a repeated caption is not its own negative
    passthrough = lambda feats, lengths: feats  # noqa: E731  (the "encoder" outputs its input as the token)
    lengths = torch.ones(6, dtype=torch.long)
    matched, cos = align.alignment_loss(passthrough, targets[:, None], lengths, targets, 1.0, 0.1)
    shuffled, _ = align.alignment_loss(passthrough, targets[[1, 2, 3, 0, 5, 4], None], lengths, targets, 1.0, 0.1)
    plain, _ = align.alignment_loss(passthrough, targets[:, None], lengths, targets)
    assert torch.isfinite(matched) and abs(float(cos) - 1) < 1e-6 and float(plain) < 1e-10
    assert float(matched) < 0.1 < float(shuffled)


def test_drop_frames_zeroes_whole_frames_at_the_given_rate():
    feats = torch.ones(8, 500, 3)
    dropped = align.drop_frames(feats, 0.2, torch.Generator().manual_seed(0))
    frame_kept = dropped.sum(-1) / 3
    assert set(frame_kept.unique().tolist()) == {0.0, 1.0}  # a frame is kept or zeroed as a whole
    assert abs(float((frame_kept == 0).float().mean()) - 0.2) < 0.02
    assert align.drop_frames(feats, 0.0, torch.Generator()) is feats


def test_alignment_score_known_answers():
    from kinevox_train.eval.alignment import score

    canon = torch.eye(3)  # three actions along the axes
    captions = torch.eye(3)[[0, 1, 2, 2]]
    vectors = torch.tensor([[2.0, 0.1, 0], [0, 3.0, 0], [1.0, 0, 0.5], [0, 0, 0.7]])  # the third points at action a
    cosine, accuracy = score(vectors, ["a", "b", "c", "c"], captions, canon, ["a", "b", "c"])
    expected = float(torch.nn.functional.normalize(vectors, dim=-1)[[0, 1, 2, 3], [0, 1, 2, 2]].mean())
    assert accuracy == 0.75 and abs(cosine - expected) < 1e-6


def test_unpacked_model_warm_starts_an_action_balanced_run_with_the_action_term(tmp_path):
    motion, speech = _fake_data(tmp_path)
    ids = [f"c{i}" for i in range(8)]
    clips = [{"id": i, "action": ("walk", "run", "kick", "walk+run")[k % 4]} for k, i in enumerate(ids)]
    (motion / "index.json").write_text(json.dumps({"clips": clips}))
    runs = tmp_path / "runs"
    small = ["--threads", "1", "--log-every", "1", "--save-every", "2", "--batch", "4"]
    rvq.main(["--data", str(motion), "--run-dir", str(runs / "rvq"), "--config", "tiny", "--steps", "1",
              "--window", "16"] + small)
    common = ["--data", str(motion), "--conditions", f"speech:{speech}", "--rvq", str(runs / "rvq")] + small
    generator.main(["--stage", "mask", "--run-dir", str(runs / "gen"), "--steps", "1"] + common)
    generator.main(["--stage", "residual", "--run-dir", str(runs / "res"), "--encoder-run", str(runs / "gen"),
                    "--steps", "1"] + common)
    model_file = tmp_path / "model.safetensors"
    export.main(["--rvq", str(runs / "rvq"), "--generator", str(runs / "gen"), "--residual", str(runs / "res"),
                 "--output", str(model_file), "--no-frontend"])
    export.main(["--unpack", str(model_file), "--output", str(tmp_path / "unpacked")])
    unpacked = tmp_path / "unpacked"
    generator.main(["--stage", "mask", "--run-dir", str(runs / "act"), "--steps", "2", "--action-weight", "1",
                    "--action-balance", "1", "--warm-start", str(unpacked / "generator"),
                    "--data", str(motion), "--conditions", f"speech:{speech}", "--rvq", str(unpacked / "rvq")] + small)
    log = (runs / "act" / "train.log").read_text()
    assert "fresh (absent or another shape): none" in log and " action " in log and "val_action" in log
    checkpoint = torch.load(runs / "act" / "checkpoint.pt", weights_only=False)
    assert set(checkpoint["heads"]) == {"action_head"}
    assert checkpoint["heads"]["action_head"]["weight"].shape[0] == 3  # walk, run, kick; the two-action clip has none


def test_action_term_step_lowers_it():
    from kinevox_train.models import KinevoxModel, tiny_config

    torch.manual_seed(0)
    model = KinevoxModel(tiny_config())
    stage = generator.MaskStage(model, length_weight=0.0, action_weight=1.0, num_actions=3).train()
    feats = torch.randn(6, 9, model.cfg.audio_encoder.input_dim)
    flens = torch.tensor([9, 7, 9, 5, 8, 9])
    codes = torch.randint(0, model.cfg.rvq.num_codes, (6, 8, model.cfg.rvq.num_quantizers))
    tlens = torch.tensor([8, 8, 6, 7, 8, 5])
    labels = torch.tensor([0, 1, 2, 0, -1, 1])

    def action_loss():
        torch.manual_seed(1)
        return stage(feats, flens, codes, tlens, torch.zeros(6, 0), labels)[1]["action"]

    opt = torch.optim.AdamW([p for m in stage.trained().values() for p in m.parameters()], lr=1e-2)
    before = action_loss()
    torch.manual_seed(1)
    total, _ = stage(feats, flens, codes, tlens, torch.zeros(6, 0), labels)
    opt.zero_grad()
    total.backward()
    opt.step()
    assert float(action_loss()) < float(before)
