"""Whisper feature cache: the speech dataset's utterances through the frozen Whisper encoder, for training.

Run from Training/ after the speech step, with the settings that step was built with:

    python -m kinevox_train.data.whisper_features --cache cache [--layers 6] [--pool 2] \\
        [--utterances-per-clip 6] [--seed 0] [--limit 0] [--workers 2]

The speech step keeps no training audio, so every utterance of ``cache/speech/index.json`` is rendered again from
the speech step's job plan (same voices, texts, augmentation; each must come out with the sample count the index
records) and run through the PyTorch twin (`kinevox_train.frontends.whisper`), keeping the output of each block in
``--layers`` (e.g. 2,4,6: one pass); ``--pool 2`` averages pairs of frames (40 ms instead of 20 ms, half the disk).
Writes, per layer, ``cache/whisper-l<layer>-p<pool>/``:
``features_<set>.npy`` (float16, concatenated in index order) and ``index.json`` (the speech index with this
cache's ``offset`` / ``n_frames``, ``frame_ms`` and the front end's reference section), the layout
`train.conditions.speech_conditions` reads. Resumable: finished utterances go to ``parts/`` every ``--chunk``
jobs and a rerun skips them; the parts are removed once the features files are written. Prints the disk used.
"""
from __future__ import annotations

import argparse
import json
import os
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..frontends.whisper import load_whisper, reference_section
from .speech import DEFAULT_CACHE, SETS, SpeechConfig, plan_jobs, render_job

ENCODER = Path(__file__).resolve().parents[3] / "Models" / "whisper-base-encoder.safetensors"


class RenderMismatchError(RuntimeError):
    """A re-rendered utterance differs from the one the speech index records (other build settings)."""


def pooled(features: np.ndarray, pool: int) -> np.ndarray:
    """Means of `pool` consecutive frames (the last group may be shorter), float16."""
    if pool == 1:
        return features.astype(np.float16)
    groups = [features[i:i + pool].mean(axis=0) for i in range(0, len(features), pool)]
    return np.stack(groups).astype(np.float16) if groups else np.zeros((0, features.shape[1]), np.float16)


def job_ids(job: dict) -> list[str]:
    """The utterance ids a speech job makes."""
    if job["kind"] == "festival":
        return [r["id"] for r in job["records"]]
    return [job["record"]["id"]] + ([job["noisy"]["id"]] if job.get("noisy") else [])


def _parts(folder: Path) -> dict[str, np.ndarray]:
    done: dict[str, np.ndarray] = {}
    for part in sorted(folder.glob("part-*.npz")):
        with np.load(part) as data:
            done |= {name: data[name] for name in data.files}
    return done


def cache_features(config: SpeechConfig, encoder: Path = ENCODER, layers: list[int] | None = None, pool: int = 2,
                   chunk: int = 64, stop_after: int | None = None) -> list[Path]:
    """Builds (or resumes) one cache per layer; returns their folders. `stop_after` jobs: stop early (tests)."""
    speech = config.cache / "speech"
    index = json.loads((speech / "index.json").read_text())
    records = {u["id"]: u for u in index["utterances"]}
    model = load_whisper(encoder)
    layers = sorted(set(layers or [model.cfg.n_layers]))
    outs = {layer: config.cache / f"whisper-l{layer}-p{pool}" for layer in layers}
    parts = {layer: out / "parts" for layer, out in outs.items()}
    for folder in parts.values():
        folder.mkdir(parents=True, exist_ok=True)
    done = _parts(parts[layers[-1]])  # parts are written for every layer together, the last one last
    jobs = [j for j in plan_jobs(config) if all(i in records for i in job_ids(j))]
    todo = [j for j in jobs if not all(i in done for i in job_ids(j))]
    if stop_after is not None:
        todo = todo[:stop_after]
    pending: dict[int, dict[str, np.ndarray]] = {layer: {} for layer in layers}
    part_number = len(list(parts[layers[-1]].glob("part-*.npz")))

    def flush() -> None:
        nonlocal part_number
        if pending[layers[-1]]:
            for layer in layers:
                partial = parts[layer] / f"part-{part_number:05d}.partial.npz"
                np.savez(partial, **pending[layer])
                os.replace(partial, parts[layer] / f"part-{part_number:05d}.npz")
                pending[layer].clear()
            part_number += 1

    with Pool(config.workers) as workers, torch.inference_mode():
        progress = tqdm(workers.imap(render_job, todo), total=len(jobs), initial=len(jobs) - len(todo),
                        desc=f"whisper layers {','.join(map(str, layers))}", unit="job")
        for count, rendered in enumerate(progress, 1):
            for record, audio in rendered:
                expected = records[record["id"]]["n_samples"]
                if audio.size != expected:
                    raise RenderMismatchError(
                        f"{record['id']}: re-rendered with {audio.size} samples, the speech index says {expected}; "
                        "run with the --seed, --utterances-per-clip and --limit the speech step was built with")
                mel = model.log_mel(torch.from_numpy(audio.astype(np.float32)))
                for layer, features in model.encode_layers(mel, layers).items():
                    pending[layer][record["id"]] = pooled(features.numpy(), pool)
            if count % chunk == 0:
                flush()
        flush()
    for layer, out in outs.items():
        done = _parts(parts[layer])
        if any(u["id"] not in done for u in index["utterances"]):
            continue
        _assemble(out, index, done, layer, pool, encoder)
        for part in parts[layer].glob("part-*.npz"):
            part.unlink()
        parts[layer].rmdir()
    return list(outs.values())


def _assemble(out: Path, index: dict, done: dict[str, np.ndarray], layer: int, pool: int, encoder: Path) -> None:
    utterances = []
    for name in SETS:
        members = [dict(u) for u in index["utterances"] if u["set"] == name]
        offset = 0
        arrays = []
        for u in members:
            features = done[u["id"]]
            u["offset"], u["n_frames"] = offset, int(features.shape[0])
            offset += u["n_frames"]
            arrays.append(features)
            utterances.append(u)
        width = next(iter(done.values())).shape[1]
        partial = out / f"features_{name}.partial.npy"
        np.save(partial, np.concatenate(arrays) if arrays else np.zeros((0, width), np.float16))
        os.replace(partial, out / f"features_{name}.npy")
    frontend = reference_section(encoder, encoder.name, output_layer=layer)
    meta = dict(index, utterances=utterances, frame_ms=frontend["frame_ms"] * pool, frontend=frontend, pool=pool)
    (out / "index.partial.json").write_text(json.dumps(meta))
    os.replace(out / "index.partial.json", out / "index.json")


def disk_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.glob("features_*.npy"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--encoder", type=Path, default=ENCODER)
    parser.add_argument("--layers", default="", help="blocks whose output to keep, e.g. 2,4,6 (default: the encoder output)")
    parser.add_argument("--pool", type=int, default=2, choices=(1, 2, 4), help="average this many 20 ms frames")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--utterances-per-clip", type=int, default=1)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="processes rendering audio")
    parser.add_argument("--chunk", type=int, default=64, help="jobs per resumable part")
    args = parser.parse_args(argv)
    config = SpeechConfig(cache=args.cache, seed=args.seed, workers=args.workers,
                          utterances_per_clip=args.utterances_per_clip, limit=args.limit)
    layers = [int(v) for v in args.layers.split(",") if v] or None
    for out in cache_features(config, args.encoder, layers, args.pool, args.chunk):
        index = json.loads((out / "index.json").read_text())
        hours = sum(u["n_samples"] for u in index["utterances"]) / 16000 / 3600
        size = disk_bytes(out)
        print(f"{out}: {len(index['utterances'])} utterances, {hours:.2f} h of audio, {size / 1e6:.1f} MB "
              f"({size / max(hours, 1e-9) / 1e6:.1f} MB per hour, float16, {index['frame_ms']:.0f} ms frames)")


if __name__ == "__main__":
    main()
