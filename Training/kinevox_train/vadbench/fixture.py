"""Writes the KinevoxCapture test fixture: two espeak-ng instructions in pink noise at 20 dB SNR, as
a 16 kHz mono 16-bit WAV, and their truth speech spans (seconds) as JSON.

    cd Training && ../.venv/bin/python -m kinevox_train.vadbench.fixture
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from . import corpus

OUT = Path(__file__).resolve().parents[3] / "Tests" / "Fixtures" / "Capture"


def main() -> None:
    rng = np.random.default_rng(7)
    pieces, spans, position = [np.zeros(int(1.5 * corpus.RATE), dtype=np.float32)], [], int(1.5 * corpus.RATE)
    for text, voice in [("walk forward and turn left", "en-us+f3"), ("jump twice", "en-gb+m3")]:
        audio = corpus.speak(text, voice, 160, 50)
        start, end = corpus.speech_span(audio)
        audio = audio[start:end] * np.float32(10 ** ((-24 - corpus.rms_db(audio[start:end])) / 20))
        pieces += [audio, np.zeros(int(1.5 * corpus.RATE), dtype=np.float32)]
        spans.append((position, position + len(audio)))
        position += len(audio) + int(1.5 * corpus.RATE)
    speech = np.concatenate(pieces)
    mixed = corpus.mix(speech, spans, corpus.pink_noise(len(speech), rng), snr_db=20)
    OUT.mkdir(parents=True, exist_ok=True)
    pcm = np.clip(np.round(mixed * 32768), -32768, 32767).astype("<i2")
    wavfile.write(OUT / "two_commands.wav", corpus.RATE, pcm)
    (OUT / "two_commands.json").write_text(json.dumps(
        {"sample_rate": corpus.RATE, "speech_s": [[a / corpus.RATE, b / corpus.RATE] for a, b in spans]}, indent=1) + "\n")
    print(f"wrote {OUT / 'two_commands.wav'} ({len(pcm) / corpus.RATE:.2f} s)")


if __name__ == "__main__":
    main()
