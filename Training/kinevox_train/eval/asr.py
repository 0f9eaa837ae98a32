"""Offline speech recognition for the cascaded baseline: pocketsphinx 5 with its bundled US English acoustic
model, language model and dictionary, one whole utterance at a time (single-threaded).

`SpeechRecognizer` turns 16 kHz samples into a transcript; `cached_transcripts` transcribes the WAVs of a speech
set once and keeps the results in CACHE_DIR/<set>.json (utterance id -> transcript), saved as it goes, so an
interrupted run resumes where it stopped.
"""
from __future__ import annotations

import json
import os
import pathlib

import numpy as np
from tqdm import tqdm

from ..bench.compare import read_wav

CACHE_DIR = "cache/asr"
SAVE_EVERY = 10


class SpeechRecognizer:
    """pocketsphinx decoder; `transcribe` takes 16 kHz mono float samples in [-1, 1]. One thread at a time."""

    def __init__(self):
        from pocketsphinx import Decoder

        self.decoder = Decoder(samprate=16000, loglevel="FATAL")

    def transcribe(self, samples: np.ndarray) -> str:
        pcm = np.clip(np.round(samples * 32768), -32768, 32767).astype("<i2").tobytes()
        self.decoder.start_utt()
        self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
        hypothesis = self.decoder.hyp()
        return hypothesis.hypstr if hypothesis is not None else ""


def cached_transcripts(speech_set: str, wavs: dict[str, str | pathlib.Path],
                       cache_dir: str | pathlib.Path = CACHE_DIR) -> dict[str, str]:
    """utterance id -> transcript for every id of `wavs` (id -> WAV path); only ids not yet in the set's cache
    file are recognised."""
    path = pathlib.Path(cache_dir) / f"{speech_set}.json"
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [u for u in wavs if u not in known]
    if missing:
        recognizer = SpeechRecognizer()
        path.parent.mkdir(parents=True, exist_ok=True)
        for n, utterance in enumerate(tqdm(missing, desc=f"asr {speech_set}"), start=1):
            known[utterance] = recognizer.transcribe(read_wav(str(wavs[utterance])))
            if n % SAVE_EVERY == 0 or n == len(missing):
                tmp = path.with_name(path.stem + ".tmp.json")
                tmp.write_text(json.dumps(known, indent=0, sort_keys=True))
                os.replace(tmp, path)
    return {u: known[u] for u in wavs}
