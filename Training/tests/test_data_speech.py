"""Speech side of the dataset: TTS through the reference front end, augmentation, voice hold-out, job plan."""
import json
import random

import numpy as np
import pytest

from kinevox_train.data import augment, voices
from kinevox_train.data.speech import SpeechConfig, is_training_job, plan_jobs
from kinevox_train.frontends import speech_embedding as se


def test_espeak_utterance_through_the_front_end():
    audio = voices.synthesize(voices.Voice("espeak-ng", "en-gb-scotland+f3", 60, 160), "could you walk forward slowly?")
    assert audio.dtype == np.float32 and 0.1 < np.abs(audio).max() <= 1.0
    assert 1.0 < audio.size / voices.SAMPLE_RATE < 5.0
    features = se.SpeechEmbedding()(audio)
    assert features.shape == (se.n_embeddings(audio.size), 96)
    assert np.isfinite(features).all()
    silence = se.SpeechEmbedding()(np.zeros_like(audio))
    assert np.abs(features - silence).mean() > 0.5


def test_noise_is_added_at_the_requested_snr():
    rng = np.random.default_rng(0)
    t = np.arange(32000) / 16000
    clean = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    for colour in augment.NOISE_COLOURS:
        noisy = augment.add_noise(clean, colour, 10.0, rng)
        snr = 10 * np.log10(np.mean(clean ** 2) / np.mean((noisy - clean) ** 2))
        assert snr == pytest.approx(10.0, abs=0.2)


def test_noise_colours_have_falling_spectra():
    rng = np.random.default_rng(1)
    ratios = {}
    for colour in augment.NOISE_COLOURS:
        power = np.abs(np.fft.rfft(augment.coloured_noise(64000, colour, rng))) ** 2
        ratios[colour] = power[100:1000].mean() / power[10000:30000].mean()
    assert ratios["white"] < 2 < ratios["pink"] < ratios["brown"]


def test_speed_reverb_gain_keep_audio_sane():
    audio = np.random.default_rng(2).uniform(-0.5, 0.5, 16000).astype(np.float32)
    assert augment.change_speed(audio, 1.1).size == pytest.approx(16000 / 1.1, abs=2)
    assert augment.change_speed(audio, 0.9).size == pytest.approx(16000 / 0.9, abs=2)
    plan = augment.AugmentPlan(speed=1.05, reverb_rt60_s=0.3, lead_s=0.1, tail_s=0.2, noise="pink", snr_db=5, gain_db=6)
    out = augment.apply(audio, plan, seed=3)
    np.testing.assert_array_equal(out, augment.apply(audio, plan, seed=3))
    assert np.abs(out).max() <= 1.0 and out.dtype == np.float32
    assert out.size > 16000 / 1.05 + 0.3 * 16000 - 2


def test_held_out_voices_are_never_training_voices():
    pool = voices.training_voice_pool()
    assert len(pool) > 300
    assert {v.engine for v in pool} == set(voices.TRAINING_ENGINES)
    assert not {v.id for v in pool} & set(voices.HELD_OUT_VOICES)
    assert {v.name for v in pool if v.engine == "espeak-ng"} >= set(voices.MBROLA_TRAIN_VOICES)
    rng = random.Random(0)
    sampled = {voices.sample_training_voice(pool, rng).id for _ in range(500)}
    assert len(sampled) > 300 and not any(v.startswith("festival") or v == "pico:en-GB" for v in sampled)
    for held_out in (voices.Voice("festival", "ked_diphone"), voices.Voice("pico", "en-GB"),
                     voices.Voice("rhvoice", "slt"), voices.Voice("flite", "awb_time"), voices.Voice("espeak-ng", "mb-de1")):
        with pytest.raises(voices.HeldOutVoiceError):
            voices.check_training_voice(held_out)


# Engines CI installs (Kokoro's model packages are in requirements-data.txt, not in CI).
CI_ENGINES = tuple(e for e in voices.TRAINING_ENGINES if e != "kokoro")


def _tiny_cache(root, repeat=1.0):
    (root / "motion").mkdir()
    (root / "captions").mkdir()
    clips = [{"id": f"c{i}", "split": split} for i, split in enumerate(["train", "train", "val", "test"])]
    clips[1]["repeat"] = repeat
    (root / "motion" / "index.json").write_text(json.dumps({"clips": clips}))
    table = {c["id"]: {"original": ["a person bows."], "oral": [[f"bow {k}" for k in range(5)]]} for c in clips}
    (root / "captions" / "captions.json").write_text(json.dumps(table))


def test_job_plan_is_deterministic_and_holds_out_festival(tmp_path):
    _tiny_cache(tmp_path)
    config = SpeechConfig(cache=tmp_path, seed=5)
    jobs = plan_jobs(config)
    assert jobs == plan_jobs(config)
    tts = [j for j in jobs if j["kind"] == "tts"]
    festival = [r for j in jobs if j["kind"] == "festival" for r in j["records"]]
    assert [j["record"]["set"] for j in tts] == ["train", "train", "val", "test"]
    assert [r["set"] for r in festival] == ["test_festival"]
    assert festival[0]["text"] == tts[-1]["record"]["text"]
    assert tts[-1]["noisy"]["augment"]["snr_db"] == 10.0
    assert all(j["voice"]["engine"] != "festival" for j in tts)


def test_one_utterance_job_is_reproducible(tmp_path):
    _tiny_cache(tmp_path)
    job = next(j for j in plan_jobs(SpeechConfig(cache=tmp_path, seed=1)) if is_training_job(j))
    from kinevox_train.data.speech import run_job

    (first_record, first), = run_job(json.loads(json.dumps(job)))
    (second_record, second), = run_job(json.loads(json.dumps(job)))
    assert first.dtype == np.float16 and first.shape == (first_record["n_frames"], 96)
    np.testing.assert_array_equal(first, second)
    assert first_record == second_record


def test_rare_clips_get_extra_utterances_and_top_up_equals_full_build(tmp_path):
    from kinevox_train.data.speech import build_speech

    full, topped = tmp_path / "full", tmp_path / "topped"
    for root in (full, topped):
        root.mkdir()
        _tiny_cache(root, repeat=2.5)
    train_ids = [j["record"]["id"] for j in plan_jobs(SpeechConfig(cache=full, engines=CI_ENGINES)) if is_training_job(j)]
    assert train_ids[-2:] == ["train-c1-1", "train-c1-2"]  # the extras come last
    build_speech(SpeechConfig(cache=full, engines=CI_ENGINES))
    build_speech(SpeechConfig(cache=topped, max_utterances_per_clip=1, engines=CI_ENGINES))
    before = json.loads((topped / "speech" / "index.json").read_text())["counts"]["utterances"]["train"]
    build_speech(SpeechConfig(cache=topped, engines=CI_ENGINES), top_up=True)
    a = json.loads((full / "speech" / "index.json").read_text())
    b = json.loads((topped / "speech" / "index.json").read_text())
    assert before == 2 and a["counts"]["utterances"]["train"] == 4
    assert a["utterances"] == b["utterances"]
    for name in ("train", "test_festival"):
        np.testing.assert_array_equal(np.load(full / "speech" / f"features_{name}.npy"),
                                      np.load(topped / "speech" / f"features_{name}.npy"))


def test_top_up_with_more_renderings_appends_only_new_training_utterances(tmp_path):
    from kinevox_train.data.speech import build_speech

    _tiny_cache(tmp_path)
    build_speech(SpeechConfig(cache=tmp_path, engines=CI_ENGINES))
    before = json.loads((tmp_path / "speech" / "index.json").read_text())
    old_train = np.load(tmp_path / "speech" / "features_train.npy")
    old_val = np.load(tmp_path / "speech" / "features_val.npy")
    build_speech(SpeechConfig(cache=tmp_path, utterances_per_clip=2, engines=CI_ENGINES), top_up=True)
    after = json.loads((tmp_path / "speech" / "index.json").read_text())
    added = [u for u in after["utterances"] if u not in before["utterances"]]
    assert [u["id"] for u in added] == ["train-c0-1", "train-c1-1"]
    assert after["counts"]["utterances"] == dict(before["counts"]["utterances"], train=4)
    train = np.load(tmp_path / "speech" / "features_train.npy")
    np.testing.assert_array_equal(train[:len(old_train)], old_train)
    assert added[0]["offset"] == len(old_train) and len(train) == len(old_train) + sum(u["n_frames"] for u in added)
    np.testing.assert_array_equal(np.load(tmp_path / "speech" / "features_val.npy"), old_val)


def test_test_split_alone_makes_the_same_test_utterances_as_a_full_build(tmp_path):
    from kinevox_train.data.speech import build_speech

    full, tests_only = tmp_path / "full", tmp_path / "tests"
    for root in (full, tests_only):
        root.mkdir()
        _tiny_cache(root)
    build_speech(SpeechConfig(cache=full, engines=CI_ENGINES))
    build_speech(SpeechConfig(cache=tests_only, splits=("test",), engines=CI_ENGINES))
    a = json.loads((full / "speech" / "index.json").read_text())
    b = json.loads((tests_only / "speech" / "index.json").read_text())
    assert b["counts"]["utterances"]["train"] == 0 and b["counts"]["utterances"]["val"] == 0
    wanted = ("test", "test_festival", "test_10db")
    assert [u for u in a["utterances"] if u["set"] in wanted] == [u for u in b["utterances"] if u["set"] in wanted]
    for name in wanted:
        np.testing.assert_array_equal(np.load(full / "speech" / f"features_{name}.npy"),
                                      np.load(tests_only / "speech" / f"features_{name}.npy"))
