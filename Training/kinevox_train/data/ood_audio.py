"""Audio of the out-of-distribution test set (data/ood/ood_commands.jsonl): the held-out voices, clean and at
10 dB SNR (pink noise, babble), plus the real human recordings Debian's pocketsphinx-testdata ships.

Run from Training/: ``python -m kinevox_train.data.ood_audio --cache cache/ood``. Writes 16 kHz mono WAVs
under CACHE/wav/ and CACHE/manifest.json:

    {"sample_rate": 16000, "snr_db": 10, "voices": [...], "conditions": [...],
     "utterances": [{"wav": "wav/<voice>/<condition>/<ood id>.wav", "ood_id", "voice", "noise", "source":
                     "tts" | "generated" | "recording", "text", "kind", "actions", "style", "side", "count"}, ...]}

``wav`` is relative to the manifest. Labels are copied from the OOD list; recordings carry their own labels
(``ood_id`` links them to the list entry with the same words, or is null). Text-less entries (silence, white
and pink noise) are generated once (voice "none", noise "clean"). Deterministic for --seed; resumable (WAVs
already there are kept).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import augment, voices

OOD_PATH = Path(__file__).resolve().parent / "ood" / "ood_commands.jsonl"
HELD_OUT = (voices.Voice("festival", "ked_diphone"), voices.Voice("pico", "en-GB"))
CONDITIONS = ("clean", "pink-10db", "babble-10db")
SNR_DB = 10.0
POCKETSPHINX_DATA = Path("/usr/share/pocketsphinx/test/data")
# Real recordings of pocketsphinx-testdata (16 kHz 16-bit mono) and what each should do.
RECORDINGS = [
    {"file": "goforward.raw", "text": "go forward ten meters", "kind": "single", "actions": ["walk"], "count": 10},
    {"file": "something.raw", "text": "go somewhere and do something", "kind": "non-command", "actions": []},
    *({"file": f"librivox/sense_and_sensibility_01_austen_64kb-{n}.wav", "text": None, "kind": "non-command", "actions": []}
      for n in ("0870", "0880", "0890", "0920", "0930")),
    *({"file": f"cards/00{n}.wav", "text": None, "kind": "non-command", "actions": []} for n in range(1, 6)),
]
_LABELS = ("text", "kind", "actions", "style", "side", "count")


def transcripts(recordings: Path = POCKETSPHINX_DATA) -> dict[str, str]:
    """Recording file (relative to ``recordings``) -> its words, from the package's transcription files
    ("<s> ten of clubs </s> (001)")."""
    out = {}
    for folder, name in (("librivox", "transcription"), ("cards", "cards.transcription")):
        path = recordings / folder / name
        if path.exists():
            for line in path.read_text().splitlines():
                words, _, utt = line.rpartition("(")
                out[f"{folder}/{utt.strip(') ')}.wav"] = " ".join(w for w in words.split() if w not in ("<s>", "</s>"))
    return out


def load_ood(path: Path = OOD_PATH) -> list[dict]:
    """The OOD list, one dict per line."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def generated_audio(kind: str, seed: int, seconds: float = 2.0) -> np.ndarray:
    """Silence, or white/pink noise at -30 dB RMS re full scale, for the text-less non-commands."""
    n = int(seconds * voices.SAMPLE_RATE)
    if kind == "silence":
        return np.zeros(n, np.float32)
    colour = {"white-noise": "white", "pink-noise": "pink"}[kind]
    return augment.coloured_noise(n, colour, np.random.default_rng(seed)) * np.float32(10 ** (-30 / 20))


def read_recording(path: Path) -> np.ndarray:
    """A pocketsphinx-testdata file: .raw = headerless 16 kHz 16-bit little-endian mono, else WAV."""
    if path.suffix == ".raw":
        return np.fromfile(path, dtype="<i2").astype(np.float32) / 32768.0
    return voices.read_wav(path)


def _speak(voice: voices.Voice, rows: list[dict]) -> list[np.ndarray]:
    if voice.engine == "festival":
        out = []
        for start in range(0, len(rows), 40):
            out += voices.synthesize_festival_batch(voice.name, [r["text"] for r in rows[start:start + 40]])
        return out
    return [voices.synthesize(voice, r["text"]) for r in rows]


def render(cache: Path, seed: int = 0, ood_path: Path = OOD_PATH, recordings: Path = POCKETSPHINX_DATA) -> dict:
    """Render everything (missing WAVs only) and write the manifest; returns it."""
    rows = load_ood(ood_path)
    spoken = [r for r in rows if r["text"]]
    entries = []
    for voice in HELD_OUT:
        slug = voice.id.replace(":", "-")
        clean_dir = cache / "wav" / slug / "clean"
        todo = [r for r in spoken if not (clean_dir / f"{r['id']}.wav").exists()]
        clean_dir.mkdir(parents=True, exist_ok=True)
        for start in tqdm(range(0, len(todo), 40), desc=f"ood {voice.id}", unit="batch"):
            batch = todo[start:start + 40]
            for r, audio in zip(batch, _speak(voice, batch)):
                voices.write_wav(clean_dir / f"{r['id']}.wav", audio)
        clean = {r["id"]: voices.read_wav(clean_dir / f"{r['id']}.wav") for r in spoken}
        ids = sorted(clean)
        for i, r in enumerate(tqdm(spoken, desc=f"noise {voice.id}", unit="utt")):
            for condition in CONDITIONS:
                path = cache / "wav" / slug / condition / f"{r['id']}.wav"
                if condition != "clean" and not path.exists():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    rng = np.random.default_rng([seed, i, CONDITIONS.index(condition)])
                    if condition == "pink-10db":
                        audio = augment.add_noise(clean[r["id"]], "pink", SNR_DB, rng)
                    else:
                        pool = [k for k in ids if k != r["id"]]
                        others = [clean[k] for k in rng.choice(pool, size=min(6, len(pool)), replace=False)]
                        audio = augment.add_babble(clean[r["id"]], others, SNR_DB, rng)
                    voices.write_wav(path, np.clip(audio, -1.0, 1.0))
                entries.append({"wav": str(path.relative_to(cache)), "ood_id": r["id"], "voice": voice.id,
                                "noise": condition, "source": "tts", **{k: r.get(k) for k in _LABELS}})
    for i, r in enumerate(r for r in rows if not r["text"]):
        path = cache / "wav" / "generated" / f"{r['id']}.wav"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            voices.write_wav(path, generated_audio(r["audio"], seed + i))
        entries.append({"wav": str(path.relative_to(cache)), "ood_id": r["id"], "voice": "none", "noise": "clean",
                        "source": "generated", "audio": r["audio"], **{k: r.get(k) for k in _LABELS}})
    by_text = {r["text"]: r["id"] for r in spoken}
    words = transcripts(recordings)
    for rec in RECORDINGS:
        rec = dict(rec, text=rec["text"] or words.get(rec["file"]))
        src = recordings / rec["file"]
        if not src.exists():
            raise FileNotFoundError(f"{src} not found; install the Debian package pocketsphinx-testdata")
        path = cache / "wav" / "recordings" / (Path(rec["file"]).with_suffix("").as_posix().replace("/", "-") + ".wav")
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            voices.write_wav(path, read_recording(src))
        entries.append({"wav": str(path.relative_to(cache)), "ood_id": by_text.get(rec["text"]), "voice": "human:pocketsphinx-testdata",
                        "noise": "clean", "source": "recording", "recording": rec["file"], "style": None, "side": None,
                        "count": rec.get("count"), **{k: rec[k] for k in ("text", "kind", "actions")}})
    manifest = {"sample_rate": voices.SAMPLE_RATE, "snr_db": SNR_DB, "voices": [v.id for v in HELD_OUT],
                "conditions": list(CONDITIONS), "utterances": entries}
    (cache / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def asr_word_error_rates(cache: Path, n: int) -> dict[tuple[str, str], float]:
    """pocketsphinx word error rate per (voice, noise) on the first ``n`` spoken OOD commands of the manifest:
    how hard each condition is for an off-the-shelf recogniser (a difficulty gauge, not a model score)."""
    from ..eval.asr import SpeechRecognizer
    from ..eval.wer import word_error_rate

    manifest = json.loads((cache / "manifest.json").read_text())
    recognizer, pairs = SpeechRecognizer(), {}
    for u in manifest["utterances"]:
        key = (u["voice"], u["noise"])
        if u["source"] == "tts" and len(pairs.setdefault(key, [])) < n:
            pairs[key].append((u["text"], recognizer.transcribe(voices.read_wav(cache / u["wav"]))))
    return {key: round(word_error_rate(p), 3) for key, p in sorted(pairs.items())}


def main(argv: list[str] | None = None) -> None:
    """Command line: render the OOD audio into --cache and print the counts (and, with --asr N, pocketsphinx's
    word error rate per voice and condition on N commands)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=Path("cache/ood"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--asr", type=int, default=0, help="also print pocketsphinx WER on N commands per condition")
    args = parser.parse_args(argv)
    manifest = render(args.cache, args.seed)
    from collections import Counter

    counts = Counter((u["voice"], u["noise"]) for u in manifest["utterances"])
    print(f"{len(manifest['utterances'])} WAVs in {args.cache}/manifest.json")
    for (voice, noise), n in sorted(counts.items()):
        print(f"  {voice:32s} {noise:12s} {n}")
    if args.asr:
        print(f"pocketsphinx word error rate on {args.asr} OOD commands per condition:")
        for (voice, noise), wer in asr_word_error_rates(args.cache, args.asr).items():
            print(f"  {voice:32s} {noise:12s} {wer:.3f}")


if __name__ == "__main__":
    main()
