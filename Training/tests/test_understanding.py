"""The "understood?" head: its verdict on hand-made conditions, a training step that lowers its loss, export and
reload, the head writer that keeps every other tensor, its training data's disjointness from the OOD set, and the
OOD table counting a rejected command as failed."""
import json
import random

import numpy as np
import pytest
import torch
from safetensors import safe_open

from kinevox_train.data.understanding import check_disjoint, command_rows, non_command_texts
from kinevox_train.data.ood_audio import load_ood
from kinevox_train.export import load_model, save_model
from kinevox_train.models import KinevoxModel, tiny_config
from kinevox_train.models.understanding import UNDERSTANDING_KEY, UnderstandingHead
from kinevox_train.train.understanding import fit, write_with_head


def hand_made_head(threshold: float) -> UnderstandingHead:
    """dim 2: x = [a, b] -> logits walk = 4a, wave = 4b, none = 2 (bias)."""
    head = UnderstandingHead(2, ["walk", "wave"], threshold)
    with torch.no_grad():
        head.proj.weight.copy_(torch.tensor([[4.0, 0.0], [0.0, 4.0], [0.0, 0.0]]))
        head.proj.bias.copy_(torch.tensor([0.0, 0.0, 2.0]))
    return head


def test_verdict_on_hand_made_conditions():
    head = hand_made_head(threshold=0.5)
    walk, wave, nothing = head.understand(torch.tensor([[[2.0, 0.0]], [[0.0, 1.5]], [[0.0, 0.0]]]))
    # walk: logits (8, 0, 2) -> P(none) = e^2 / (e^8 + 1 + e^2)
    assert walk.action == "walk" and walk.understood
    assert walk.confidence == pytest.approx(1 - np.exp(2) / (np.exp(8) + 1 + np.exp(2)))
    assert wave.action == "wave" and wave.understood
    # nothing: logits (0, 0, 2): confidence = 2 / (2 + e^2) < 0.5
    assert nothing.confidence == pytest.approx(2 / (2 + np.exp(2)))
    assert not nothing.understood
    strict = hand_made_head(threshold=0.99)
    assert [v.understood for v in strict.understand(torch.tensor([[2.0, 0.0], [0.0, 1.5]]))] == [True, False]


def test_head_refuses_bad_metadata():
    with pytest.raises(ValueError, match="distinct action names"):
        UnderstandingHead(2, ["walk", "walk"])
    with pytest.raises(ValueError, match="threshold"):
        UnderstandingHead(2, ["walk"], threshold=1.5)
    with pytest.raises(ValueError, match="actions"):
        UnderstandingHead.from_metadata('{"threshold": 0.5}', 2)


def test_a_training_step_lowers_the_loss():
    torch.manual_seed(0)
    x = torch.randn(60, 8)
    y = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 1).long().clamp(max=1)  # classes 0..2, 2 = none
    head = UnderstandingHead(8, ["a", "b"])
    losses = fit(head, x, y.clamp(max=2), steps=30, lr=1e-2, weight_decay=0.0)
    assert losses[-1] < losses[0]


def test_export_reload_keeps_the_head_and_the_writer_keeps_every_other_tensor(tmp_path):
    torch.manual_seed(0)
    model = KinevoxModel(tiny_config()).eval()
    plain = tmp_path / "plain.safetensors"
    save_model(model, plain)
    assert getattr(load_model(plain)[0], "understanding_head", None) is None

    enc = model.cfg.audio_encoder
    head = UnderstandingHead(enc.dim * enc.num_cond_tokens, ["walk", "wave", "bow"], threshold=0.7)
    with_head = tmp_path / "head.safetensors"
    write_with_head(plain, with_head, head)
    with safe_open(str(plain), framework="pt") as a, safe_open(str(with_head), framework="pt") as b:
        assert set(b.keys()) == set(a.keys()) | {"understanding_head.proj.weight", "understanding_head.proj.bias"}
        for k in a.keys():
            assert torch.equal(a.get_tensor(k), b.get_tensor(k)), k
        meta = b.metadata()
        assert json.loads(meta[UNDERSTANDING_KEY]) == {"actions": ["walk", "wave", "bow"], "threshold": 0.7}
        assert {k: v for k, v in meta.items() if k != UNDERSTANDING_KEY} == a.metadata()

    loaded, _ = load_model(with_head)
    torch.testing.assert_close(loaded.understanding_head.proj.weight, head.proj.weight)
    assert loaded.understanding_head.threshold == pytest.approx(0.7)
    resaved = tmp_path / "resaved.safetensors"
    save_model(loaded, resaved, torch.float32)
    again, _ = load_model(resaved)
    torch.testing.assert_close(again.understanding_head.proj.bias, head.proj.bias)
    assert again.understanding_head.actions == ["walk", "wave", "bow"]


def test_training_non_commands_are_disjoint_from_the_ood_set():
    ood = load_ood()
    texts = non_command_texts(400, random.Random(1))
    assert len(texts) == 400
    check_disjoint(texts, ood)
    with pytest.raises(ValueError, match="in the frozen OOD set"):
        check_disjoint(["what's your name?"], ood)
    with pytest.raises(ValueError, match="OOD non-command word"):
        check_disjoint(["please sit on the bench"], ood)
    ood_texts = {r["text"].strip().lower() for r in ood}
    rows = command_rows(200, random.Random(1))
    assert len(rows) == 200 and not any(r["text"].strip().lower() in ood_texts for r in rows)
    assert len({r["action"] for r in rows}) >= 20, "spread over the actions"


def test_ood_table_counts_a_rejected_command_as_failed():
    from kinevox_train.eval.ood import ood_report

    torch.manual_seed(0)
    model = KinevoxModel(tiny_config()).eval()
    enc = model.cfg.audio_encoder
    model.understanding_head = UnderstandingHead(enc.dim * enc.num_cond_tokens, ["walk"], threshold=1.0)  # rejects all
    commands = [{"id": "c1", "text": "walk", "kind": "single", "actions": ["walk"]},
                {"id": "n1", "text": "sit", "kind": "non-command", "actions": []}]
    conditions = {k: np.random.default_rng(0).standard_normal((enc.num_cond_tokens, enc.dim)).astype(np.float32)
                  for k in ("text:c1", "text:n1")}
    sources = {"text:c1": {"id": "c1", "voice": "text", "noise": "clean"},
               "text:n1": {"id": "n1", "voice": "text", "noise": "clean"}}
    report = ood_report(model, commands, conditions, sources, seeds=[0])
    rows = {r["id"]: r for r in report["results"]}
    assert rows["c1"]["rejected"] == [True] and rows["c1"]["predicate"] == [False]
    assert rows["n1"]["rejected"] == [True] and rows["n1"]["predicate"] == [None]
    assert rows["c1"]["predicate_always_moving"][0] in (True, False), "the motion it would have made is judged too"
    assert rows["c1"]["understanding"]["understood"] is False


def test_committed_understanding_fixture_is_what_the_twin_computes(tmp_path):
    import pathlib

    from kinevox_train.fixtures.daemon import make_understanding_fixture

    folder = pathlib.Path(__file__).resolve().parents[2] / "Tests" / "Fixtures" / "Daemon"
    _, parity = make_understanding_fixture(tmp_path, folder / "tiny_model.safetensors", folder / "walk_forward.wav")
    fresh, committed = json.loads(parity.read_text()), json.loads((folder / "understanding_parity.json").read_text())
    assert fresh["action"] == committed["action"] and fresh["understood"] == committed["understood"]
    assert fresh["confidence"] == pytest.approx(committed["confidence"], abs=1e-9)


@pytest.mark.skipif(__import__("shutil").which("flite") is None, reason="flite not installed")
def test_cascade_conditions_transcribe_once_and_skip_the_understanding_head(tmp_path, monkeypatch):
    """The OOD cascade (`eval.report ood --asr`): each rendering transcribed once (cached, resumable), the transcript's
    MiniLM vector its condition, marked as a transcript path so the audio-trained head leaves it alone."""
    import subprocess

    from kinevox_train.eval import ood

    monkeypatch.chdir(tmp_path)
    (tmp_path / "ood" / "wav").mkdir(parents=True)
    subprocess.run(["flite", "-t", "please walk forward", "-o", str(tmp_path / "ood" / "wav" / "a.wav")], check=True)
    manifest = tmp_path / "ood" / "manifest.json"
    manifest.write_text(json.dumps({"utterances": [
        {"wav": "wav/a.wav", "ood_id": "ood-0001", "voice": "flite:kal", "noise": "clean", "kind": "single",
         "actions": ["walk"]}]}))
    conditions, sources, extra, cascade = ood.transcript_conditions(manifest, "pocketsphinx", None, tmp_path / "asr")
    key = "pocketsphinx:flite:kal:clean:ood-0001"
    assert list(conditions) == [key] and conditions[key].shape == (1, 384) and extra == []
    assert sources[key]["path"] == "asr:pocketsphinx"
    assert "walk" in cascade["transcripts"]["wav/a.wav"] and cascade["seconds_per_utterance"] > 0
    monkeypatch.setattr(ood, "_recognizer", lambda *a: pytest.fail("transcribed again instead of reading the cache"))
    again, _, _, _ = ood.transcript_conditions(manifest, "pocketsphinx", None, tmp_path / "asr")
    np.testing.assert_array_equal(again[key], conditions[key])

    model = KinevoxModel(tiny_config()).eval()
    model.understanding_head = UnderstandingHead(384, ["walk"], threshold=1.0)
    assert ood.understand(model, [key], np.stack([conditions[key]]), sources) == {}
