"""Audio augmentation for synthetic speech: speed, reverb, silence padding, band-limiting (phone / laptop
microphone), coloured or babble noise at a given SNR, clipping, gain.

All functions take and return 16 kHz mono float32 audio; randomness comes only from the ``random.Random``
or explicit arguments passed in, so a seed reproduces the same audio.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, fftconvolve, resample_poly, sosfilt

SAMPLE_RATE = 16_000
NOISE_COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power spectrum ~ 1 / f^exponent
BANDS = {"phone": (300.0, 3400.0), "laptop": (120.0, 7000.0)}  # pass band in Hz of a telephone / laptop microphone


@dataclass
class AugmentPlan:
    """What was done to one utterance (stored in the speech index)."""

    speed: float = 1.0
    reverb_rt60_s: float = 0.0
    lead_s: float = 0.0
    tail_s: float = 0.0
    noise: str = "none"
    snr_db: float | None = None
    gain_db: float = 0.0
    band: str = "none"
    clip_drive_db: float = 0.0


def change_speed(audio: np.ndarray, factor: float) -> np.ndarray:
    """Play ``factor`` times faster (pitch moves with it), by polyphase resampling."""
    if factor == 1.0:
        return audio
    return resample_poly(audio, 1000, int(round(1000 * factor))).astype(np.float32)


def coloured_noise(n: int, colour: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise whose power spectrum falls as 1/f^k (white k=0, pink k=1, brown k=2)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1] if n > 1 else 1.0
    noise = np.fft.irfft(spectrum / freqs ** (NOISE_COLOURS[colour] / 2), n)
    noise -= noise.mean()
    return (noise / max(np.sqrt(np.mean(noise ** 2)), 1e-12)).astype(np.float32)


def add_noise(audio: np.ndarray, colour: str, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add noise so that speech power / noise power = ``snr_db`` (speech power over non-silent samples)."""
    voiced = audio[np.abs(audio) > 0.01 * np.abs(audio).max()] if np.any(audio) else audio
    power = np.mean(voiced ** 2) if voiced.size else 0.0
    noise = coloured_noise(audio.size, colour, rng) * np.sqrt(power / 10 ** (snr_db / 10))
    return (audio + noise).astype(np.float32)


def babble(sources: list[np.ndarray], n: int, rng: np.random.Generator, talkers: int = 4) -> np.ndarray:
    """Unit-RMS babble of ``n`` samples: ``talkers`` other utterances, each looped from a random offset, summed."""
    mix = np.zeros(n, np.float32)
    for k in rng.choice(len(sources), size=min(talkers, len(sources)), replace=False):
        src = sources[int(k)]
        if src.size:
            mix += np.roll(np.resize(src, n), int(rng.integers(0, max(1, src.size))))
    return (mix / max(np.sqrt(np.mean(mix ** 2)), 1e-12)).astype(np.float32)


def add_babble(audio: np.ndarray, sources: list[np.ndarray], snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add babble made from other utterances at ``snr_db`` (speech power over non-silent samples, as add_noise)."""
    voiced = audio[np.abs(audio) > 0.01 * np.abs(audio).max()] if np.any(audio) else audio
    power = np.mean(voiced ** 2) if voiced.size else 0.0
    return (audio + babble(sources, audio.size, rng) * np.sqrt(power / 10 ** (snr_db / 10))).astype(np.float32)


def band_limit(audio: np.ndarray, band: str) -> np.ndarray:
    """Band-pass like a telephone ("phone", 300-3400 Hz) or a laptop microphone ("laptop", 120-7000 Hz)."""
    low, high = BANDS[band]
    sos = butter(4, [low, high], btype="bandpass", fs=SAMPLE_RATE, output="sos")
    return sosfilt(sos, audio).astype(np.float32)


def clip(audio: np.ndarray, drive_db: float) -> np.ndarray:
    """Overdrive by ``drive_db`` into hard clipping at full scale, then back to the original peak level."""
    peak = max(float(np.abs(audio).max()), 1e-12)
    driven = np.clip(audio / peak * 10 ** (drive_db / 20), -1.0, 1.0)
    return (driven * peak).astype(np.float32)


def reverb(audio: np.ndarray, rt60_s: float, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a synthetic room response (direct path + exponentially decaying noise tail)."""
    n = int(rt60_s * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    response = rng.standard_normal(n) * np.exp(-6.9 * t / rt60_s) * 0.3
    response[0] = 1.0
    wet = fftconvolve(audio, response)[:audio.size + n // 2]
    return (wet * (np.abs(audio).max() / max(np.abs(wet).max(), 1e-12))).astype(np.float32)


def random_plan(rng: random.Random) -> AugmentPlan:
    """Training augmentation: speed +-10% (p 0.5), reverb (p 0.3), 0-0.3 s silence either side,
    white/pink/brown noise at 0-30 dB SNR (p 0.8), gain -12..+3 dB; then (drawn after those) phone/laptop band-limiting (p 0.2) and 3-12 dB clipping drive (p 0.1)."""
    plan = AugmentPlan(lead_s=rng.uniform(0.0, 0.3), tail_s=rng.uniform(0.0, 0.3), gain_db=rng.uniform(-12.0, 3.0))
    if rng.random() < 0.5:
        plan.speed = round(rng.uniform(0.9, 1.1), 3)
    if rng.random() < 0.3:
        plan.reverb_rt60_s = round(rng.uniform(0.15, 0.7), 3)
    if rng.random() < 0.8:
        plan.noise = rng.choice(sorted(NOISE_COLOURS))
        plan.snr_db = round(rng.uniform(0.0, 30.0), 2)
    if rng.random() < 0.2:
        plan.band = rng.choice(sorted(BANDS))
    if rng.random() < 0.1:
        plan.clip_drive_db = round(rng.uniform(3.0, 12.0), 2)
    return plan


def apply(audio: np.ndarray, plan: AugmentPlan, seed: int) -> np.ndarray:
    """Apply a plan in a fixed order (speed, reverb, band, padding, noise, clipping drive, gain), clipping to [-1, 1]."""
    rng = np.random.default_rng(seed)
    audio = change_speed(audio, plan.speed)
    if plan.reverb_rt60_s > 0:
        audio = reverb(audio, plan.reverb_rt60_s, rng)
    if plan.band != "none":
        audio = band_limit(audio, plan.band)
    audio = np.concatenate([np.zeros(int(plan.lead_s * SAMPLE_RATE), np.float32), audio,
                            np.zeros(int(plan.tail_s * SAMPLE_RATE), np.float32)])
    if plan.noise != "none":
        audio = add_noise(audio, plan.noise, plan.snr_db, rng)
    if plan.clip_drive_db > 0:
        audio = clip(audio, plan.clip_drive_db)
    return np.clip(audio * 10 ** (plan.gain_db / 20), -1.0, 1.0).astype(np.float32)
