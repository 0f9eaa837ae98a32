"""Builds the labelled VAD corpus: spoken instructions (espeak-ng accents and variants, plus flite, Pico
and RHVoice voices) with known speech boundaries, silences between them, and white, pink, brown or babble
noise mixed at a chosen SNR.

Truth boundaries come from the clean TTS audio before mixing (first and last 10 ms frame within
40 dB of the utterance's loudest frame), so they do not depend on any VAD.
"""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly
from tqdm import tqdm

from ..data import voices

RATE = 16_000
FRAME = RATE // 100

INSTRUCTIONS = [
    "walk forward and turn left", "jump twice in place", "wave with your right hand",
    "sit down slowly on the floor", "kick forward with the left leg", "run in a small circle",
    "raise both arms above your head", "bow politely", "take three steps back",
    "spin around once", "crouch and then stand up", "punch with the right fist",
    "stretch your arms to the sides", "hop on one foot", "march on the spot",
    "throw a ball overhand", "climb up a ladder", "dance a little", "look to the left and then to the right",
    "kneel on one knee", "walk backwards carefully", "clap your hands four times",
    "lift something heavy from the ground", "swim breaststroke", "play the guitar",
    "stumble and catch your balance", "do a cartwheel", "salute", "shrug your shoulders",
    "sweep the floor with a broom", "side step to the right", "jog forward slowly",
]

VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd"]
VARIANTS = ["", "+m3", "+f2", "+f4", "+m7", "+f3", "+m1", "+klatt"]

# Voices of the other engines (a third of the utterances): the energy VAD's defaults must not be tuned to
# espeak-ng's formant synthesis alone.
OTHER_VOICES = [voices.Voice("flite", name) for name in ("awb", "kal16", "rms", "slt")] + \
    [voices.Voice("pico", name) for name in ("en-US", "en-GB")] + \
    [voices.Voice("rhvoice", name) for name in ("bdl", "clb", "alan")]
OTHER_VOICE_SHARE = 1 / 3

NOISES = ("white", "pink", "brown", "babble")
SNRS_DB = (20, 10, 5, 0)


@dataclasses.dataclass
class CorpusConfig:
    out_dir: Path = Path("cache/vadbench")
    utterances_per_file: int = 12
    files_per_condition: int = 4
    lead_s: float = 2.0          # noise only before the first utterance (lets a floor tracker settle)
    gap_s: tuple = (1.0, 2.5)    # silence between utterances (uniform)
    level_dbfs: float = -26.0    # mean speech level (RMS over each utterance's speech span)
    level_jitter_db: float = 4.0  # per-utterance level variation (uniform ±)
    seed: int = 1234


def speak(text: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """espeak-ng → float32 mono at 16 kHz."""
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", tmp.name, text],
                       check=True, capture_output=True)
        rate, pcm = wavfile.read(tmp.name)
    audio = pcm.astype(np.float32) / 32768.0
    return resample_poly(audio, RATE, rate).astype(np.float32) if rate != RATE else audio


def speech_span(audio: np.ndarray) -> tuple[int, int]:
    """First and one-past-last sample of the frames within 40 dB of the loudest frame."""
    frames = len(audio) // FRAME
    power = (audio[: frames * FRAME].reshape(frames, FRAME) ** 2).mean(axis=1) + 1e-20
    level = 10 * np.log10(power)
    active = np.nonzero(level > level.max() - 40)[0]
    return int(active[0] * FRAME), int((active[-1] + 1) * FRAME)


def rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-20))


def random_voice(rng: np.random.Generator) -> tuple[str, int, int]:
    return (VOICES[rng.integers(len(VOICES))] + VARIANTS[rng.integers(len(VARIANTS))],
            int(rng.integers(130, 190)), int(rng.integers(30, 70)))


def speak_any(text: str, rng: np.random.Generator) -> np.ndarray:
    """One instruction in a random voice: espeak-ng (random accent, variant, speed, pitch) or, for
    `OTHER_VOICE_SHARE` of them, one of `OTHER_VOICES`."""
    if rng.uniform() < OTHER_VOICE_SHARE:
        return voices.synthesize(OTHER_VOICES[rng.integers(len(OTHER_VOICES))], text)
    return speak(text, *random_voice(rng))


def white_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(n).astype(np.float32)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """1/f power spectrum by shaping white noise in the frequency domain."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    spectrum[1:] /= np.sqrt(freqs[1:])
    spectrum[0] = 0
    return np.fft.irfft(spectrum, n).astype(np.float32)


def brown_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """1/f² power spectrum (integrated white noise, shaped in the frequency domain): rumble and traffic."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    spectrum[1:] /= np.maximum(freqs[1:], 20.0)
    spectrum[0] = 0
    return np.fft.irfft(spectrum, n).astype(np.float32)


def babble_noise(n: int, rng: np.random.Generator, talkers: int = 6) -> np.ndarray:
    """Several espeak voices talking continuously at once, each normalised to the same level."""
    mix = np.zeros(n, dtype=np.float32)
    for _ in range(talkers):
        voice, speed, pitch = random_voice(rng)
        stream: list[np.ndarray] = []
        length = 0
        while length < n:
            text = " ".join(INSTRUCTIONS[i] for i in rng.permutation(len(INSTRUCTIONS))[:6])
            clip = speak(text, voice, speed, pitch)
            stream.append(clip)
            length += len(clip)
        talker = np.concatenate(stream)
        offset = int(rng.integers(0, len(talker) - n + 1))
        talker = talker[offset: offset + n]
        mix += talker / np.sqrt(np.mean(talker ** 2) + 1e-12)
    return mix


def clean_file(cfg: CorpusConfig, rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """One file's speech track (float32, 16 kHz) and its truth spans in samples."""
    pieces = [np.zeros(int(cfg.lead_s * RATE), dtype=np.float32)]
    position = len(pieces[0])
    spans = []
    for _ in range(cfg.utterances_per_file):
        audio = speak_any(INSTRUCTIONS[rng.integers(len(INSTRUCTIONS))], rng)
        start, end = speech_span(audio)
        audio = audio[start:end]
        gain_db = cfg.level_dbfs + rng.uniform(-cfg.level_jitter_db, cfg.level_jitter_db) - rms_db(audio)
        pieces.append(audio * np.float32(10 ** (gain_db / 20)))
        spans.append((position, position + len(audio)))
        position += len(audio)
        gap = np.zeros(int(rng.uniform(*cfg.gap_s) * RATE), dtype=np.float32)
        pieces.append(gap)
        position += len(gap)
    return np.concatenate(pieces), spans


def mix(speech: np.ndarray, spans: list[tuple[int, int]], noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Adds `noise` scaled so that mean speech power over the spans is `snr_db` above the noise."""
    speech_power = np.mean([np.mean(speech[a:b].astype(np.float64) ** 2) for a, b in spans])
    noise_power = np.mean(noise.astype(np.float64) ** 2)
    scale = np.sqrt(speech_power / noise_power / 10 ** (snr_db / 10))
    return speech + noise * np.float32(scale)


def write_pcm(path: Path, audio: np.ndarray) -> None:
    """16 kHz mono 16-bit WAV, the one file every VAD under test reads."""
    pcm = np.clip(np.round(audio * 32768), -32768, 32767).astype("<i2")
    wavfile.write(path.with_suffix(".wav"), RATE, pcm)


def build(cfg: CorpusConfig) -> list[dict]:
    """Writes every condition's files plus manifest.json; returns the manifest entries."""
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    entries = []
    for index in tqdm(range(cfg.files_per_condition), desc="corpus files", file=sys.stderr):
        speech, spans = clean_file(cfg, rng)
        noises = {"white": white_noise(len(speech), rng), "pink": pink_noise(len(speech), rng),
                  "brown": brown_noise(len(speech), rng), "babble": babble_noise(len(speech), rng)}
        conditions = [("clean", None)] + [(n, s) for n in NOISES for s in SNRS_DB]
        for noise_name, snr in conditions:
            if snr is None:
                audio = speech + white_noise(len(speech), rng) * np.float32(10 ** (-80 / 20))
            else:
                audio = mix(speech, spans, noises[noise_name], snr)
            peak = float(np.max(np.abs(audio)))
            if peak > 0.99:
                audio = audio * np.float32(0.99 / peak)
            name = f"{noise_name}_{'inf' if snr is None else snr}db_{index}"
            write_pcm(cfg.out_dir / name, audio)
            entries.append({"name": name, "noise": noise_name, "snr_db": snr,
                            "seconds": len(audio) / RATE,
                            "truth_s": [[a / RATE, b / RATE] for a, b in spans]})
    (cfg.out_dir / "manifest.json").write_text(json.dumps(entries, indent=1))
    return entries
