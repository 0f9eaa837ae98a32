"""Writes the KinevoxCapture test fixtures (16 kHz mono 16-bit WAVs and their truth speech spans in
seconds as JSON):

- two_commands: two espeak-ng instructions in pink noise at 20 dB SNR;
- speech_first_silent_gaps: four instructions in two engines' voices (espeak-ng, flite) that start at the
  first sample, separated by digital silence (all-zero samples), as a file cut straight into speech or a
  microphone whose gain gate outputs zeros gives.

    cd Training && ../.venv/bin/python -m kinevox_train.vadbench.fixture
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from ..data import voices
from . import corpus

OUT = Path(__file__).resolve().parents[3] / "Tests" / "Fixtures" / "Capture"


def _at_level(audio: np.ndarray, dbfs: float) -> np.ndarray:
    start, end = corpus.speech_span(audio)
    audio = audio[start:end]
    return audio * np.float32(10 ** ((dbfs - corpus.rms_db(audio)) / 20))


def _write(name: str, audio: np.ndarray, spans: list[tuple[int, int]]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    pcm = np.clip(np.round(audio * 32768), -32768, 32767).astype("<i2")
    wavfile.write(OUT / f"{name}.wav", corpus.RATE, pcm)
    (OUT / f"{name}.json").write_text(json.dumps(
        {"sample_rate": corpus.RATE, "speech_s": [[a / corpus.RATE, b / corpus.RATE] for a, b in spans]}, indent=1) + "\n")
    print(f"wrote {OUT / (name + '.wav')} ({len(pcm) / corpus.RATE:.2f} s)")


def two_commands() -> None:
    rng = np.random.default_rng(7)
    pieces, spans, position = [np.zeros(int(1.5 * corpus.RATE), dtype=np.float32)], [], int(1.5 * corpus.RATE)
    for text, voice in [("walk forward and turn left", "en-us+f3"), ("jump twice", "en-gb+m3")]:
        audio = _at_level(corpus.speak(text, voice, 160, 50), -24)
        pieces += [audio, np.zeros(int(1.5 * corpus.RATE), dtype=np.float32)]
        spans.append((position, position + len(audio)))
        position += len(audio) + int(1.5 * corpus.RATE)
    speech = np.concatenate(pieces)
    _write("two_commands", corpus.mix(speech, spans, corpus.pink_noise(len(speech), rng), snr_db=20), spans)


def speech_first_silent_gaps() -> None:
    commands = [(voices.Voice("espeak-ng", "en-us", 50, 160), "walk forward and turn left", -22),
                (voices.Voice("flite", "slt"), "wave with your right hand", -30),
                (voices.Voice("espeak-ng", "en-gb+f3", 60, 150), "jump twice", -26),
                (voices.Voice("flite", "awb"), "sit down slowly", -34)]
    pieces, spans, position = [], [], 0
    for voice, text, level in commands:
        audio = _at_level(voices.synthesize(voice, text), level)
        gap = np.zeros(int(1.2 * corpus.RATE), dtype=np.float32)
        pieces += [audio, gap]
        spans.append((position, position + len(audio)))
        position += len(audio) + len(gap)
    _write("speech_first_silent_gaps", np.concatenate(pieces), spans)


def main() -> None:
    two_commands()
    speech_first_silent_gaps()


if __name__ == "__main__":
    main()
