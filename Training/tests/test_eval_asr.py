"""The cascaded baseline's condition source (`text-asr:`): pocketsphinx transcripts of a speech set's WAVs, cached
per set and resumable, embedded with MiniLM. Uses a two-utterance speech set spoken by flite (whose voice
pocketsphinx recognises well; espeak-ng's it mostly does not)."""
import json
import shutil
import subprocess

import numpy as np
import pytest

from kinevox_train.eval import asr
from kinevox_train.eval.wer import word_error_rate
from kinevox_train.train.conditions import describe_conditions, embed_sentences, load_conditions

SENTENCES = {"u-walk": "please walk forward", "u-turn": "turn to the left"}

pytestmark = pytest.mark.skipif(shutil.which("flite") is None, reason="flite not installed")


@pytest.fixture
def speech_root(tmp_path, monkeypatch):
    """A speech cache with WAVs for set test_festival and none for set val; the cwd is tmp_path, so the
    transcript cache (cache/asr) and MiniLM store (cache/minilm) are fresh."""
    root = tmp_path / "speech"
    (root / "wav").mkdir(parents=True)
    utterances = []
    for n, (utterance, text) in enumerate(SENTENCES.items()):
        subprocess.run(["flite", "-t", text, "-o", str(root / "wav" / f"{utterance}.wav")], check=True)
        utterances.append({"id": utterance, "set": "test_festival", "clip_id": f"clip{n}", "text": text,
                           "voice": "flite:kal", "n_frames": 10, "offset": 10 * n, "wav": f"wav/{utterance}.wav"})
        utterances.append({"id": f"val-{utterance}", "set": "val", "clip_id": f"clip{n}", "text": text,
                           "voice": "flite:kal", "n_frames": 10, "offset": 10 * n})
    (root / "index.json").write_text(json.dumps({"utterances": utterances}))
    monkeypatch.chdir(tmp_path)
    return root


def test_transcripts_are_cached_resumable_and_embedded(speech_root, tmp_path, monkeypatch):
    spec = f"text-asr:{speech_root}"
    assert describe_conditions(spec) == ("text", 384)

    first = load_conditions(spec, "test_festival", select=lambda conditions: conditions[:1])
    cache = tmp_path / "cache" / "asr" / "test_festival.json"
    assert [c.utterance for c in first] == ["u-walk"]
    assert list(json.loads(cache.read_text())) == ["u-walk"]  # only the selected utterance was recognised

    conditions = load_conditions(spec, "test_festival")
    assert [c.utterance for c in conditions] == list(SENTENCES)
    assert json.loads(cache.read_text()) == {c.utterance: c.transcript for c in conditions}
    assert [c.caption for c in conditions] == list(SENTENCES.values())  # the caption stays the spoken text
    assert word_error_rate([(c.caption, c.transcript) for c in conditions]) <= 0.5

    vectors = embed_sentences([c.transcript for c in conditions])
    for c in conditions:
        assert c.features.shape == (1, 384) and c.features.dtype == np.float16
        np.testing.assert_allclose(c.features[0], vectors[c.transcript], atol=1e-3)

    def no_recognizer():
        raise AssertionError("a cached transcript was recognised again")

    monkeypatch.setattr(asr, "SpeechRecognizer", no_recognizer)
    again = load_conditions(spec, "test_festival")
    assert [c.transcript for c in again] == [c.transcript for c in conditions]


def test_set_without_wavs_is_an_error(speech_root):
    with pytest.raises(ValueError, match="WAVs"):
        load_conditions(f"text-asr:{speech_root}", "val")
