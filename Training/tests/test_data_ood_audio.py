"""OOD test audio: held-out voices only, every noise condition, generated silence/noise, real recordings."""
import json
import shutil

import pytest

from kinevox_train.data import ood_audio, voices


def test_ood_voices_are_held_out():
    assert not {v.id for v in ood_audio.HELD_OUT} & {v.id for v in voices.training_voice_pool()}
    assert {v.id for v in ood_audio.HELD_OUT} == set(voices.HELD_OUT_VOICES)


def test_ood_audio_renders_a_small_list(tmp_path):
    for program in ("text2wave", "pico2wave"):
        if shutil.which(program) is None:
            pytest.skip(f"{program} not installed")
    rows = [json.loads(line) for line in ood_audio.OOD_PATH.read_text().splitlines()]
    small = tmp_path / "ood.jsonl"
    small.write_text("".join(json.dumps(r) + "\n" for r in rows[:2] + rows[-1:]))
    recordings = ood_audio.POCKETSPHINX_DATA
    if not (recordings / "goforward.raw").exists():
        pytest.skip("pocketsphinx-testdata not installed")
    manifest = ood_audio.render(tmp_path / "cache", ood_path=small)
    entries = manifest["utterances"]
    tts = [e for e in entries if e["source"] == "tts"]
    assert len(tts) == 2 * 2 * 3 and {e["noise"] for e in tts} == set(ood_audio.CONDITIONS)
    assert [e["audio"] for e in entries if e["source"] == "generated"] == [rows[-1]["audio"]]
    cards = [e for e in entries if e.get("recording") == "cards/001.wav"][0]
    assert cards["text"] == "ten of clubs" and cards["kind"] == "non-command"
    go = [e for e in entries if e.get("recording") == "goforward.raw"][0]
    assert go["actions"] == ["walk"] and go["count"] == 10 and go["ood_id"] is None
    for e in entries:
        audio = voices.read_wav(tmp_path / "cache" / e["wav"])
        assert audio.size > 0
