"""Whisper feature cache on a tiny speech build: resumable, pooled, the re-rendered audio checked, readable by the
training side."""
import json

import numpy as np
import pytest
import torch

from kinevox_train.data.speech import SpeechConfig, build_speech, render_job, plan_jobs
from kinevox_train.data.whisper_features import ENCODER, RenderMismatchError, cache_features, pooled
from kinevox_train.frontends.whisper import load_whisper
from kinevox_train.train.conditions import speech_conditions

from test_data_speech import CI_ENGINES, _tiny_cache


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("speech")
    _tiny_cache(root)
    build_speech(SpeechConfig(cache=root, seed=3, engines=CI_ENGINES))
    return root


def test_pooled_means_pairs_and_keeps_an_odd_last_frame():
    x = np.arange(10, dtype=np.float32).reshape(5, 2)
    assert pooled(x, 2).tolist() == [[1, 2], [5, 6], [8, 9]] and pooled(x, 2).dtype == np.float16
    assert pooled(x, 1).tolist() == x.tolist()


def test_interrupted_cache_resumes_to_the_same_features(built, tmp_path):
    config = SpeechConfig(cache=built, seed=3, workers=1, engines=CI_ENGINES)
    out, last = cache_features(config, layers=[4, 6], pool=2, chunk=1, stop_after=2)
    assert len(list((out / "parts").glob("part-*.npz"))) == 2 and not (out / "index.json").exists()
    out, last = cache_features(config, layers=[6, 4], pool=2, chunk=1)
    assert not (out / "parts").exists() and out.name == "whisper-l4-p2" and last.name == "whisper-l6-p2"
    assert json.loads((last / "index.json").read_text())["frontend"]["output_layer"] == 6
    index = json.loads((out / "index.json").read_text())
    speech = json.loads((built / "speech" / "index.json").read_text())
    assert [u["id"] for u in index["utterances"]] == [u["id"] for u in speech["utterances"]]
    assert index["frame_ms"] == 40.0 and index["frontend"]["output_layer"] == 4
    # One utterance recomputed directly: render → twin up to block 4 → pairs averaged.
    model = load_whisper(ENCODER)
    job = next(j for j in plan_jobs(config) if j["kind"] == "tts" and j["record"]["set"] == "val")
    record, audio = render_job(job)[0]
    with torch.inference_mode():
        expected = pooled(model(torch.from_numpy(audio.astype(np.float32)), output_layer=4).numpy(), 2)
    entry = next(u for u in index["utterances"] if u["id"] == record["id"])
    stored = np.load(out / "features_val.npy")[entry["offset"]:entry["offset"] + entry["n_frames"]]
    assert entry["n_frames"] == (model.cfg.frame_count(audio.size) + 1) // 2
    np.testing.assert_array_equal(stored, expected)
    conditions = speech_conditions(str(out), "test_festival")
    assert len(conditions) == 1 and conditions[0].features.shape[1] == 512


def test_other_build_settings_are_refused(built):
    with pytest.raises(RenderMismatchError, match="--seed"):
        cache_features(SpeechConfig(cache=built, seed=4, workers=1, engines=CI_ENGINES), pool=1, chunk=100)
