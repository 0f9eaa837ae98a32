"""Training audio for the "understood?" head: spoken commands and things that are not commands, in training voices.

    python -m kinevox_train.data.understanding --cache cache/understanding [--commands 2400 --non-commands 1500]

The head (train/understanding.py) learns, on the model's condition vector, which supported action was asked for, or
that nothing supported was. It needs examples of both:
- commands: Dataset v2 phrasings (data/phrasings/, single, styled and two-step; a two-step one is labelled with its
  first action, the one the motion starts with);
- non-commands: sentences written here (`non_command_texts`): actions the motion data cannot do and everyday chatter,
  plus silence, hum and coloured noise. None of them shares its text or its verb with a non-command of the frozen
  out-of-distribution set (data/ood/), so the OOD rejection rate stays a held-out number (`check_disjoint`).
Voices are training voices only (voices.check_training_voice): espeak-ng and its MBROLA voices, flite, RHVoice and
Pico en-US. A third of the utterances stay clean, the rest get pink, brown or white noise or babble at 5-20 dB SNR.
Each utterance is kept as speech_embedding features (96 per 80 ms) in features.npy with an index.json; rendering is
resumable (done utterances are skipped) and shows a progress bar.
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
import re
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import augment, voices
from .ood_audio import OOD_PATH, load_ood

PHRASINGS = Path(__file__).resolve().parent / "phrasings" / "phrasings.jsonl.gz"
NOT_UNDERSTOOD = "none"

# Body actions the Bandai-Namco motions do not contain (none is a verb of the OOD set's non-commands).
_UNSUPPORTED = [
    "stretch your arms", "spin around", "hop on one foot", "skip along", "do a squat", "crawl on the floor",
    "roll over", "dive into the water", "juggle three balls", "drink a glass of water", "eat an apple",
    "type on a keyboard", "read a book", "write a letter", "laugh out loud", "cry", "go to sleep", "yawn",
    "whistle a tune", "hug me", "shrug your shoulders", "stomp your feet", "lean against the wall",
    "twist your hips", "salute", "do a handstand", "do the splits", "throw the ball to me", "catch the ball",
    "play the guitar", "ride a bike", "drive the car", "paint the wall", "brush your teeth", "comb your hair",
    "tie your shoes", "put on your coat", "take off your hat", "do a backflip", "rub your eyes", "fold your arms",
    "cross your legs", "bend your knees and hold it", "stand on your head", "lift the heavy crate",
    "pull the rope", "drag the cart", "carry the bag", "fall over", "tumble down", "knock on the table", "ring the bell",
]
_PREFIXES = ["", "", "please ", "can you ", "could you ", "now ", "okay, ", "I want you to ", "go ahead and ", "try to "]
_SUFFIXES = ["", "", "", " please", " for me", " now", " right now", " again"]
_CHATTER = [
    "where did I leave my keys", "I think it's going to rain later", "let's order pizza tonight",
    "my phone battery is almost dead", "did you see the game last night", "I'll be back in five minutes",
    "can you pass me the remote", "this tea is too hot", "we should leave soon", "I forgot my password again",
    "the bus is late today", "turn the music down a bit", "who wants more tea", "I love this album",
    "remind me to call mom", "that's a great idea", "I'm not sure about that", "let me check my calendar",
    "how was your weekend", "it's really cold in here", "the printer is jammed", "okay, one moment",
    "uh, hold on", "wait, what", "yes, exactly", "no, not that one", "maybe tomorrow", "good morning everyone",
    "see you later", "nice to meet you", "testing, one, two, three", "check, check", "hey, are you listening",
    "the dog needs a walk later", "dinner is ready", "I can't find the charger", "put it on the table",
    "that movie was boring", "the wifi is down again", "how much does it cost", "tell me a joke",
    "what's on the news", "set an alarm for seven", "it's my turn now", "hmm, interesting", "well, anyway",
]
_CHATTER_OPENERS = ["", "", "", "so ", "well, ", "um, ", "oh, ", "hey, ", "you know, ", "honestly, "]
_GENERATED = ("silence", "hum", "white-noise", "pink-noise", "brown-noise")
ENGINES = ("espeak-ng", "flite", "rhvoice", "pico")


def non_command_texts(n: int, rng: random.Random) -> list[str]:
    """`n` distinct non-command sentences: unsupported actions (with command framings) and chatter, half each."""
    out: set[str] = set()
    for _ in range(50 * n):
        if len(out) == n:
            break
        if rng.random() < 0.5:
            text = rng.choice(_PREFIXES) + rng.choice(_UNSUPPORTED) + rng.choice(_SUFFIXES)
        else:
            text = rng.choice(_CHATTER_OPENERS) + rng.choice(_CHATTER)
        out.add(text.strip())
    return sorted(out)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


# The content words of the OOD set's non-commands (data/ood/ood_commands.jsonl, ood-0372..0406).
OOD_NON_COMMAND_WORDS = frozenset(
    "sit jump lie cartwheel clap nod shake crouch push pick box climb stairs swim pool sing song scratch kneel toes "
    "lights door coffee weather name sister cat meeting hear".split())


def check_disjoint(texts: list[str], ood: list[dict]) -> None:
    """Raise if a training non-command repeats an OOD non-command's text or one of its content words."""
    ood_texts = {r["text"].strip().lower().rstrip("?.!") for r in ood if r["kind"] == "non-command" and r["text"]}
    for t in texts:
        if t.lower().rstrip("?.!") in ood_texts:
            raise ValueError(f"non-command {t!r} is in the frozen OOD set")
        if _words(t) & OOD_NON_COMMAND_WORDS:
            raise ValueError(f"non-command {t!r} uses an OOD non-command word ({sorted(_words(t) & OOD_NON_COMMAND_WORDS)})")


def command_rows(n: int, rng: random.Random) -> list[dict]:
    """`n` phrasings (single, styled, two-step), spread over actions, none whose text is in the OOD set."""
    ood_texts = {r["text"].strip().lower() for r in load_ood()}
    with gzip.open(PHRASINGS, "rt") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    rows = [r for r in rows if r["actions"] and r["text"].strip().lower() not in ood_texts]
    by_action: dict[str, list[dict]] = {}
    for r in rows:
        by_action.setdefault(r["actions"][0], []).append(r)
    picked: list[dict] = []
    actions = sorted(by_action)
    for a in actions:
        rng.shuffle(by_action[a])
    while len(picked) < n and any(by_action.values()):
        for a in actions:
            if by_action[a] and len(picked) < n:
                picked.append(by_action[a].pop())
    return [{"text": r["text"], "action": r["actions"][0], "kind": r["kind"]} for r in picked]


def generated_clip(kind: str, rng: np.random.Generator) -> np.ndarray:
    """1-4 s of silence, mains hum or coloured noise at -45 to -20 dB RMS."""
    n = int(rng.uniform(1.0, 4.0) * voices.SAMPLE_RATE)
    level = np.float32(10 ** (rng.uniform(-45, -20) / 20))
    if kind == "silence":
        return np.zeros(n, np.float32)
    if kind == "hum":
        t = np.arange(n) / voices.SAMPLE_RATE
        hum = sum(np.sin(2 * np.pi * k * rng.choice([50.0, 60.0]) * t) / k for k in (1, 2, 3))
        return (hum / np.sqrt(np.mean(hum ** 2)) * level).astype(np.float32)
    return augment.coloured_noise(n, kind.removesuffix("-noise"), rng) * level


def noisy(audio: np.ndarray, others: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Clean (a third), or noise / babble at 5-20 dB SNR; returns the audio and a label such as "pink-12db"."""
    pick = rng.integers(0, 6)
    if pick < 2 or not audio.any():
        return audio, "clean"
    snr = float(rng.uniform(5, 20))
    if pick == 5 and others:
        return augment.add_babble(audio, others, snr, rng), f"babble-{snr:.0f}db"
    colour = ("pink", "brown", "white", "pink")[pick - 2]  # babble without other utterances yet: pink
    return augment.add_noise(audio, colour, snr, rng), f"{colour}-{snr:.0f}db"


def render(cache: Path, n_commands: int, n_non_commands: int, seed: int = 0) -> dict:
    """Render (resuming) and write features.npy + index.json under `cache`; returns the index."""
    from ..frontends.speech_embedding import SpeechEmbedding

    rng = random.Random(seed)
    ood = load_ood(OOD_PATH)
    texts = non_command_texts(n_non_commands - n_non_commands // 6, rng)
    check_disjoint(texts, ood)
    items = [{"text": r["text"], "action": r["action"], "kind": r["kind"]} for r in command_rows(n_commands, rng)]
    items += [{"text": t, "action": NOT_UNDERSTOOD, "kind": "non-command"} for t in texts]
    items += [{"text": "", "action": NOT_UNDERSTOOD, "kind": "non-command", "audio": _GENERATED[i % len(_GENERATED)]}
              for i in range(n_non_commands - len(texts))]
    pool = voices.training_voice_pool(ENGINES)
    cache.mkdir(parents=True, exist_ok=True)
    parts = cache / "parts"
    parts.mkdir(exist_ok=True)
    frontend = SpeechEmbedding()
    recent: list[np.ndarray] = []
    for i, item in enumerate(tqdm(items, desc="understanding audio", unit="utt")):
        item["id"] = f"u{i:05d}"
        part = parts / f"{item['id']}.npz"
        if part.exists():
            meta = json.loads(str(np.load(part)["meta"]))
            item.update(meta)
            continue
        nrng = np.random.default_rng([seed, i])
        if item.get("audio"):
            audio, voice, noise = generated_clip(item["audio"], nrng), "none", "clean"
        else:
            voice_obj = voices.sample_training_voice(pool, rng)
            audio = voices.synthesize(voice_obj, item["text"])
            audio, noise = noisy(audio, recent[-8:], nrng)
            recent.append(audio)
            recent = recent[-16:]
            voice = voice_obj.id
        meta = {"voice": voice, "noise": noise}
        item.update(meta)
        feats = frontend(np.clip(audio, -1.0, 1.0).astype(np.float32)).astype(np.float16)
        np.savez(part, features=feats, meta=json.dumps(meta))
    feats, offset = [], 0
    for item in items:
        f = np.load(parts / f"{item['id']}.npz")["features"]
        item["offset"], item["n_frames"] = offset, int(len(f))
        offset += len(f)
        feats.append(f)
    np.save(cache / "features.npy", np.concatenate(feats))
    index = {"frame_ms": 80.0, "seed": seed, "engines": list(ENGINES), "utterances": items,
             "counts": {"commands": sum(i["action"] != NOT_UNDERSTOOD for i in items),
                        "non_commands": sum(i["action"] == NOT_UNDERSTOOD for i in items)}}
    (cache / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    return index


def load(cache: Path) -> tuple[list[dict], np.ndarray]:
    """The index's utterances and the features array (index entries carry offset and n_frames)."""
    index = json.loads((cache / "index.json").read_text())
    return index["utterances"], np.load(cache / "features.npy", mmap_mode="r")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cache", type=Path, default=Path("cache/understanding"))
    p.add_argument("--commands", type=int, default=2400)
    p.add_argument("--non-commands", type=int, default=1500)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    index = render(args.cache, args.commands, args.non_commands, args.seed)
    print(f"{len(index['utterances'])} utterances in {args.cache / 'index.json'}: {index['counts']}")


if __name__ == "__main__":
    main()
