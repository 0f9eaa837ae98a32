"""Text-to-speech voices. Training engines (Dataset v2): espeak-ng (accents x variants x pitch x rate, and the
MBROLA voices it drives: mb-us1, mb-us2, mb-us3, mb-en1), flite (all its general voices), RHVoice bdl/clb/alan and
Pico en-US, Kokoro-82M (style vectors and blends, English through espeak-ng IPA; data/kokoro.py). Held out, never trained on: festival ked (festvox-kdlpc16k) and Pico en-GB; every other voice of
any installed engine is for testing only too. ``check_training_voice`` enforces it wherever training audio is
planned.

Every voice returns 16 kHz mono float32 audio in [-1, 1]. festival kal/slt are the same CMU speakers as
flite's kal/slt, so they are not "unseen" voices.
"""
from __future__ import annotations

import random
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from math import gcd
from pathlib import Path

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly

SAMPLE_RATE = 16_000
ESPEAK_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029")
# Variants that do not sound like a human talking (robots, demons) are left out.
_ESPEAK_EXCLUDED = ("robot", "robosoft", "demonic", "tweaky", "unirobot", "croak")
MBROLA_TRAIN_VOICES = ("mb-us1", "mb-us2", "mb-us3", "mb-en1")  # espeak-ng voice names (Debian mbrola-us1..3, -en1)
FLITE_TRAIN_VOICES = ("awb", "kal", "kal16", "rms", "slt")  # awb_time is a talking clock (limited domain): left out
RHVOICE_TRAIN_VOICES = ("bdl", "clb", "alan")
PICO_TRAIN_VOICES = ("en-US",)
# Kokoro-82M speakers: its five style vectors and convex blends of them (data/kokoro.py).
KOKORO_TRAIN_VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo") + tuple(f"blend-{n}" for n in range(1, 41))
TRAINING_ENGINES = ("espeak-ng", "flite", "rhvoice", "pico", "kokoro")
# Held-out voices (ids as Voice.id) for the project's own tests; they must never be trained on.
HELD_OUT_VOICES = ("festival:ked_diphone", "pico:en-GB")
FESTIVAL_TEST_VOICES = ("ked_diphone",)  # the only festival speaker no training engine has
ESPEAK_PITCHES = tuple(range(25, 86, 5))
ESPEAK_RATES = tuple(range(130, 211, 10))


class SynthesisError(RuntimeError):
    """A TTS program failed or is missing; the message says which and how to install it."""


class HeldOutVoiceError(ValueError):
    """A held-out or unlisted voice was about to be used for training audio."""


@dataclass(frozen=True)
class Voice:
    """One speaker identity: engine (espeak-ng | flite | rhvoice | pico | kokoro | festival), voice name, espeak pitch
    (0-99) and rate (wpm)."""

    engine: str
    name: str
    pitch: int = 50
    rate: int = 175

    @property
    def id(self) -> str:
        """Stable identity string, e.g. ``espeak-ng:en-gb+f3:p60:s160`` or ``flite:awb``."""
        if self.engine == "espeak-ng":
            return f"espeak-ng:{self.name}:p{self.pitch}:s{self.rate}"
        return f"{self.engine}:{self.name}"

    def as_dict(self) -> dict:
        """Plain dict (for job descriptions and the index)."""
        return asdict(self)


def espeak_variants() -> list[str]:
    """Names of espeak-ng's voice variants (``+name``) installed on this machine, sorted."""
    try:
        listing = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        raise SynthesisError(f"espeak-ng not usable ({err}); install the Debian package espeak-ng") from err
    names = []
    for line in listing.splitlines()[1:]:
        files = [f for f in line.split() if f.startswith("!v/")]
        if files:
            name = files[0][3:]
            if not any(bad in name.lower() for bad in _ESPEAK_EXCLUDED):
                names.append(name)
    return sorted(set(names))


def is_training_voice(voice: Voice) -> bool:
    """True only for the voices Dataset v2 trains on (listed above); held-out and unlisted voices are False."""
    if voice.id in HELD_OUT_VOICES:
        return False
    if voice.engine == "espeak-ng":
        base = voice.name.split("+")[0]
        return base in ESPEAK_ACCENTS or (voice.name in MBROLA_TRAIN_VOICES)
    return voice.name in {"flite": FLITE_TRAIN_VOICES, "rhvoice": RHVOICE_TRAIN_VOICES,
                          "pico": PICO_TRAIN_VOICES, "kokoro": KOKORO_TRAIN_VOICES}.get(voice.engine, ())


def check_training_voice(voice: Voice) -> Voice:
    """``voice`` if it may be trained on; raises HeldOutVoiceError for held-out and unlisted voices."""
    if not is_training_voice(voice):
        kind = "held out for testing" if voice.id in HELD_OUT_VOICES else "not a listed training voice"
        raise HeldOutVoiceError(f"voice {voice.id} is {kind}; training audio may only use {TRAINING_ENGINES} voices "
                                "listed in data/voices.py")
    return voice


def training_voice_pool(engines: tuple[str, ...] = TRAINING_ENGINES) -> list[Voice]:
    """The training voices of ``engines``: espeak-ng accent x variant base voices and its MBROLA voices, flite,
    RHVoice bdl/clb/alan, Pico en-US (each checked by ``check_training_voice``)."""
    pool = []
    if "espeak-ng" in engines:
        pool += [Voice("espeak-ng", f"{accent}+{variant}") for accent in ESPEAK_ACCENTS for variant in espeak_variants()]
        pool += [Voice("espeak-ng", name) for name in ESPEAK_ACCENTS + MBROLA_TRAIN_VOICES]
    pool += [Voice("flite", name) for name in FLITE_TRAIN_VOICES if "flite" in engines]
    pool += [Voice("rhvoice", name) for name in RHVOICE_TRAIN_VOICES if "rhvoice" in engines]
    pool += [Voice("pico", name) for name in PICO_TRAIN_VOICES if "pico" in engines]
    pool += [Voice("kokoro", name) for name in KOKORO_TRAIN_VOICES if "kokoro" in engines]
    return [check_training_voice(v) for v in pool]


def sample_training_voice(pool: list[Voice], rng: random.Random, non_espeak_share: float = 0.12) -> Voice:
    """A random training identity: a non-espeak voice (flite, RHVoice, Pico, Kokoro) with probability ``non_espeak_share``,
    otherwise an espeak-ng (or MBROLA) base voice with a random pitch and rate."""
    other = [v for v in pool if v.engine != "espeak-ng"]
    if other and rng.random() < non_espeak_share:
        return check_training_voice(rng.choice(other))
    base = rng.choice([v for v in pool if v.engine == "espeak-ng"])
    return check_training_voice(Voice(base.engine, base.name, rng.choice(ESPEAK_PITCHES), rng.choice(ESPEAK_RATES)))


def to_16k(audio: np.ndarray, rate: int) -> np.ndarray:
    """Resample float audio to 16 kHz (polyphase)."""
    if rate == SAMPLE_RATE:
        return audio.astype(np.float32)
    g = gcd(SAMPLE_RATE, rate)
    return resample_poly(audio, SAMPLE_RATE // g, rate // g).astype(np.float32)


def read_wav(path: Path) -> np.ndarray:
    """Mono float32 16 kHz audio from a 16-bit (or float) WAV file of any rate."""
    rate, data = wavfile.read(path)
    data = data.astype(np.float32) / 32768.0 if data.dtype == np.int16 else data.astype(np.float32)
    if data.ndim == 2:
        data = data.mean(axis=1)
    return to_16k(data, rate)


def write_wav(path: Path, audio: np.ndarray) -> None:
    """16 kHz mono 16-bit PCM WAV."""
    pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)
    wavfile.write(path, SAMPLE_RATE, pcm)


def synthesize(voice: Voice, text: str) -> np.ndarray:
    """Speak ``text`` with ``voice``; 16 kHz mono float32."""
    if voice.engine == "kokoro":
        from . import kokoro

        try:
            audio, rate = kokoro.synthesize(voice.name, text)
        except (OSError, subprocess.SubprocessError, kokoro.KokoroMissing) as err:
            raise SynthesisError(f"kokoro failed for voice {voice.name!r}: {err}") from err
        return to_16k(audio, rate)
    with tempfile.TemporaryDirectory(prefix="kinevox-tts-") as tmp:
        out = Path(tmp) / "speech.wav"
        if voice.engine == "espeak-ng":
            command = ["espeak-ng", "-v", voice.name, "-p", str(voice.pitch), "-s", str(voice.rate), "-w", str(out), text]
        elif voice.engine == "flite":
            command = ["flite", "-voice", voice.name, "-t", text, "-o", str(out)]
        elif voice.engine == "rhvoice":
            command = ["RHVoice-test", "-p", voice.name, "-o", str(out)]
        elif voice.engine == "pico":
            command = ["pico2wave", "-l", voice.name, "-w", str(out), text]
        elif voice.engine == "festival":
            text_file = Path(tmp) / "text.txt"
            text_file.write_text(text)
            command = ["text2wave", "-eval", f"(voice_{voice.name})", str(text_file), "-o", str(out)]
        else:
            raise SynthesisError(f"unknown TTS engine {voice.engine!r}")
        try:
            subprocess.run(command, capture_output=True, check=True, timeout=60,
                           input=text.encode() if voice.engine == "rhvoice" else None)
        except (OSError, subprocess.SubprocessError) as err:
            raise SynthesisError(f"{voice.engine} failed for voice {voice.name!r}: {err}; is the {voice.engine} "
                                 "Debian package (and its voice) installed? See the Makefile's APT_PACKAGES (rhvoice, pico and mbrola "
                                 "need Debian contrib/non-free)") from err
        if not out.exists() or out.stat().st_size <= 44:
            raise SynthesisError(f"{voice.engine} wrote no audio for voice {voice.name!r}")
        return read_wav(out)


def synthesize_festival_batch(voice_name: str, texts: list[str]) -> list[np.ndarray]:
    """Speak many texts with one festival voice in a single festival process (loading a voice takes ~1 s)."""
    with tempfile.TemporaryDirectory(prefix="kinevox-festival-") as tmp:
        lines = [f"(voice_{voice_name})"]
        for i, text in enumerate(texts):
            quoted = text.replace("\\", " ").replace('"', " ")
            lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{quoted}")) "{tmp}/{i}.wav" \'riff)')
        script = Path(tmp) / "batch.scm"
        script.write_text("\n".join(lines) + "\n")
        try:
            subprocess.run(["festival", "-b", str(script)], capture_output=True, check=True, timeout=60 + 5 * len(texts))
        except (OSError, subprocess.SubprocessError) as err:
            raise SynthesisError(f"festival failed for voice {voice_name!r}: {err}; install festival and its voice "
                                 "packages (see the Makefile's APT_PACKAGES)") from err
        missing = [i for i in range(len(texts)) if not (Path(tmp) / f"{i}.wav").exists()]
        if missing:
            raise SynthesisError(f"festival voice {voice_name!r} wrote no audio for {len(missing)} texts")
        return [read_wav(Path(tmp) / f"{i}.wav") for i in range(len(texts))]
