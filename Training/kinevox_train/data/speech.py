"""Speech step: speak the oral captions with many voices, augment, and cache the frozen front end's features.

Run from Training/ after the motion and caption steps: ``python -m kinevox_train.data.speech --cache DIR``.
Writes ``DIR/speech/``:

- ``features_<set>.npy``  float16 (total frames, 96): speech_embedding features of every utterance of
  the set, concatenated in index order (one row per 80 ms)
- ``index.json``  {"utterances": [{id, set, split, clip_id, text, voice, engine, augment, n_samples,
  offset, n_frames, wav}], "voices": {...}, "counts": {...}}; rows ``offset:offset+n_frames`` of the
  set's feature file belong to the utterance
- ``wav/<set>/<id>.wav``  16 kHz 16-bit audio of the test sets (for end-to-end evaluation)

Sets: ``train`` (every training clip, augmented, training voices), ``val`` (same recipe), ``test`` (test
clips, training voices, clean), ``test_festival`` (same texts, festival voices never used in training),
``test_10db`` (the ``test`` audio with white/pink/brown noise at 10 dB SNR).
"""
from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import asdict, dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import augment, voices
from .captions import clip_rng
from .motion import DEFAULT_CACHE

SETS = ("train", "val", "test", "test_festival", "test_10db")
WAV_SETS = ("test", "test_festival", "test_10db")
FESTIVAL_BATCH = 40
_FRONTEND = None


@dataclass
class SpeechConfig:
    """Settings of the speech step."""

    cache: Path = DEFAULT_CACHE
    seed: int = 0
    workers: int = 2
    utterances_per_clip: int = 1  # per training/validation clip
    # Training clips with sampling weight ``repeat`` > 1 (rare actions) get min(ceil(repeat), this)
    # utterances, so their audio varies as often as they are drawn.
    max_utterances_per_clip: int = 4
    test_snr_db: float = 10.0
    limit: int = 0  # at most this many clips per split (0 = all); for quick checks
    # Make only the utterances of these splits (the test split brings its festival and 10 dB sets); the plan stays
    # the full one, so each utterance is the one a whole build makes.
    splits: tuple[str, ...] = ("train", "val", "test")
    engines: tuple[str, ...] = voices.TRAINING_ENGINES  # training engines to speak with (a subset renders without the rest)


def _frontend():
    global _FRONTEND
    if _FRONTEND is None:
        from ..frontends.speech_embedding import SpeechEmbedding

        _FRONTEND = SpeechEmbedding()
    return _FRONTEND


def _finish(record: dict, audio: np.ndarray, wav_dir: str | None) -> tuple[dict, np.ndarray]:
    record["n_samples"] = int(audio.size)
    if wav_dir is not None:
        path = Path(wav_dir) / record["set"] / f"{record['id']}.wav"
        voices.write_wav(path, audio)
        record["wav"] = f"wav/{record['set']}/{record['id']}.wav"
    features = _frontend()(audio).astype(np.float16)
    record["n_frames"] = int(features.shape[0])
    return record, features


def render_job(job: dict) -> list[tuple[dict, np.ndarray]]:
    """The (record, 16 kHz audio) pairs of one job: one utterance (espeak-ng/flite, optionally augmented,
    optionally also at test SNR) or one batch of festival utterances. The same job gives the same audio."""
    if job["kind"] == "festival":
        audios = voices.synthesize_festival_batch(job["voice"], [r["text"] for r in job["records"]])
        return list(zip(job["records"], audios))
    record = job["record"]
    voice = voices.Voice(**job["voice"])
    clean = voices.synthesize(voice, record["text"])
    out = [(record, augment.apply(clean, augment.AugmentPlan(**record["augment"]), job["seed"]))]
    if job.get("noisy"):
        noisy = dict(job["noisy"])
        out.append((noisy, augment.apply(clean, augment.AugmentPlan(**noisy["augment"]), job["seed"] + 1)))
    return out


def run_job(job: dict) -> list[tuple[dict, np.ndarray]]:
    """A job's utterances with their features (and WAVs of the test sets)."""
    return [_finish(r, a, job["wav_dir"] if r["set"] in WAV_SETS else None) for r, a in render_job(job)]


def plan_jobs(config: SpeechConfig) -> list[dict]:
    """Every utterance to make, in a fixed order; all random choices come from (seed, utterance id).
    The extra utterances of rare-action training clips come last, so that a cache built before they
    existed can be topped up by appending them (``build_speech(top_up=True)``)."""
    index = json.loads((config.cache / "motion" / "index.json").read_text())
    table = json.loads((config.cache / "captions" / "captions.json").read_text())
    pool = voices.training_voice_pool(config.engines)
    wav_dir = str(config.cache / "speech" / "wav")
    jobs: list[dict] = []
    extras: list[dict] = []
    festival: dict[str, list[dict]] = {name: [] for name in voices.FESTIVAL_TEST_VOICES}
    for split in ("train", "val", "test"):
        clips = [c for c in index["clips"] if c["split"] == split]
        if config.limit:
            clips = clips[::max(1, len(clips) // config.limit)][:config.limit]
        repeats = config.utterances_per_clip if split != "test" else 1
        for clip in clips:
            orals = [o for group in table[clip["id"]]["oral"] for o in group]
            wanted = repeats
            if split == "train":
                wanted = max(repeats, min(math.ceil(clip.get("repeat", 1.0)), config.max_utterances_per_clip))
            for k in range(wanted):
                utt_id = f"{split}-{clip['id']}-{k}"
                rng = clip_rng(config.seed, utt_id)
                text = rng.choice(orals)
                voice = voices.sample_training_voice(pool, rng)
                plan = augment.random_plan(rng) if split != "test" else augment.AugmentPlan()
                record = {"id": utt_id, "set": split, "split": split, "clip_id": clip["id"], "text": text,
                          "voice": voice.id, "engine": voice.engine, "augment": asdict(plan)}
                job = {"kind": "tts", "record": record, "voice": voice.as_dict(), "seed": rng.randrange(2 ** 31), "wav_dir": wav_dir}
                if split == "test":
                    noise = augment.AugmentPlan(noise=rng.choice(sorted(augment.NOISE_COLOURS)), snr_db=config.test_snr_db)
                    job["noisy"] = dict(record, id=f"test_10db-{clip['id']}-{k}", set="test_10db", augment=asdict(noise))
                    name = voices.FESTIVAL_TEST_VOICES[len(jobs) % len(voices.FESTIVAL_TEST_VOICES)]
                    festival[name].append(dict(record, id=f"test_festival-{clip['id']}-{k}", set="test_festival",
                                               voice=voices.Voice("festival", name).id, engine="festival",
                                               augment=asdict(augment.AugmentPlan())))
                (jobs if k < repeats else extras).append(job)
    for name, records in festival.items():
        for start in range(0, len(records), FESTIVAL_BATCH):
            jobs.append({"kind": "festival", "voice": name, "records": records[start:start + FESTIVAL_BATCH], "wav_dir": wav_dir})
    return jobs + extras


def job_split(job: dict) -> str:
    """The motion split whose clip a planned job speaks (festival batches belong to the test split)."""
    return "test" if job["kind"] == "festival" else job["record"]["split"]


def is_training_job(job: dict) -> bool:
    """Whether a planned job makes one training-set utterance (the only kind ``top_up`` appends)."""
    return job["kind"] == "tts" and job["record"]["set"] == "train"


def _save_atomically(path: Path, array: np.ndarray) -> None:
    """Write an .npy so that a reader never sees a half-written file."""
    partial = path.with_suffix(".partial.npy")
    np.save(partial, array)
    os.replace(partial, path)


def build_speech(config: SpeechConfig, top_up: bool = False) -> dict:
    """Make every utterance and its features; returns the counts also stored in ``speech/index.json``.
    ``top_up``: keep an existing cache and append only the training utterances it lacks: the rare-action
    extras, or more renderings of every training clip when ``utterances_per_clip`` grew."""
    out = config.cache / "speech"
    for name in WAV_SETS:
        (out / "wav" / name).mkdir(parents=True, exist_ok=True)
    previous: list[dict] = []
    if top_up:
        previous = json.loads((out / "index.json").read_text())["utterances"]
        have = {u["id"] for u in previous}
        jobs = [j for j in plan_jobs(config) if is_training_job(j) and j["record"]["id"] not in have]
    else:
        jobs = [j for j in plan_jobs(config) if job_split(j) in config.splits]
    results: list[tuple[dict, np.ndarray]] = []
    with Pool(config.workers) as pool:
        for result in tqdm(pool.imap(run_job, jobs, chunksize=4), total=len(jobs), desc="speech", unit="job"):
            results.extend(result)
    utterances = []
    for name in SETS:
        kept = [u for u in previous if u["set"] == name]
        members = [(r, f) for r, f in results if r["set"] == name]
        if top_up and not members:
            utterances.extend(kept)
            continue
        parts = [np.load(out / f"features_{name}.npy")] if kept else []
        offset = sum(u["n_frames"] for u in kept)
        utterances.extend(kept)
        for record, features in members:
            record["offset"] = offset
            offset += record["n_frames"]
            utterances.append(record)
        parts += [f for _, f in members]
        _save_atomically(out / f"features_{name}.npy", np.concatenate(parts) if parts else np.zeros((0, 96), np.float16))
    used = {u["voice"] for u in utterances}
    counts = {
        "utterances": {name: sum(u["set"] == name for u in utterances) for name in SETS},
        "hours": {name: round(sum(u["n_samples"] for u in utterances if u["set"] == name) / 16000 / 3600, 3) for name in SETS},
        "voice_identities": len(used),
        "espeak_base_voices": len({v.split(":")[1] for v in used if v.startswith("espeak-ng:")}),
        "flite_voices": sorted({v for v in used if v.startswith("flite:")}),
        "festival_voices": sorted({v for v in used if v.startswith("festival:")}),
        "train_voice_identities": len({u["voice"] for u in utterances if u["set"] in ("train", "val")}),
        "train_hours_per_engine": {e: round(sum(u["n_samples"] for u in utterances if u["set"] in ("train", "val")
                                                and u["engine"] == e) / 16000 / 3600, 3)
                                   for e in sorted({u["engine"] for u in utterances})},
    }
    index = {"sample_rate": voices.SAMPLE_RATE, "frame_ms": 80, "utterances": utterances, "counts": counts}
    partial = out / "index.partial.json"
    partial.write_text(json.dumps(index))
    os.replace(partial, out / "index.json")
    return counts


def main(argv: list[str] | None = None) -> None:
    """Command line: build (or top up) the speech part of a cache and print its counts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--utterances-per-clip", type=int, default=1)
    parser.add_argument("--limit", type=int, default=0, help="at most N clips per split (quick check)")
    parser.add_argument("--splits", default="train,val,test",
                        help="make only these splits' utterances, e.g. test for the evaluation sets alone")
    parser.add_argument("--engines", default=",".join(voices.TRAINING_ENGINES),
                        help="comma-separated training engines (default: all of data/voices.py TRAINING_ENGINES)")
    parser.add_argument("--top-up", action="store_true", help="append the training utterances an existing cache lacks (rare-action extras; "
                        "more renderings per clip with a larger --utterances-per-clip)")
    args = parser.parse_args(argv)
    counts = build_speech(SpeechConfig(cache=args.cache, seed=args.seed, workers=args.workers,
                                       utterances_per_clip=args.utterances_per_clip, limit=args.limit,
                                       splits=tuple(args.splits.split(",")),
                                       engines=tuple(args.engines.split(","))), top_up=args.top_up)
    print(json.dumps(counts, indent=1))


if __name__ == "__main__":
    main()
