"""Times the PyTorch eager and ONNX Runtime pipelines on WAV files, like `kinevox bench --json` does for Swift.

    python -m kinevox_train.bench.compare --model M.safetensors --audio a.wav b.wav --frames 60 \
        [--iterations 10] [--warmup 2] [--threads 2] [--engines torch,ort] [--onnx-dir DIR]

Prints one JSON object {engine: {samples_per_s, latency_ms{p50,p99,...}, stages_ms{...}, utterances[...]}}, plus
"flops": {wav: {stage: FLOPs}} counted on the PyTorch pipeline (matmuls and convolutions, 2 per multiply-add).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np

from .pipelines import STAGES, OnnxRuntimePipeline, TorchEagerPipeline, stage_flops
from .stats import latency_summary


def read_wav(path: str) -> np.ndarray:
    """16 kHz mono float32 in [-1, 1] (the bench WAVs are written at 16 kHz; others are resampled)."""
    import wave

    from scipy.signal import resample_poly

    with wave.open(path) as wav:
        rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
        raw = wav.readframes(wav.getnframes())
    if width != 2:
        raise ValueError(f"{path}: only 16-bit PCM WAV is supported here")
    samples = np.frombuffer(raw, dtype="<i2").astype(np.float32).reshape(-1, channels).mean(axis=1) / 32768.0
    if rate != 16000:
        samples = resample_poly(samples, 16000, rate).astype(np.float32)
    return np.ascontiguousarray(samples, dtype=np.float32)


def time_pipeline(pipeline, utterances: list[tuple[str, np.ndarray]], frames: int, iterations: int, warmup: int) -> dict:
    """Warm-up passes, then `iterations` timed passes over all utterances, one after another."""
    seed = 0
    for _ in range(warmup):
        for _, samples in utterances:
            pipeline.generate(samples, frames, seed)
            seed += 1
    laps = {name: [] for name, _ in utterances}
    cpu0, started = time.process_time(), time.perf_counter()
    for _ in range(iterations):
        for name, samples in utterances:
            _, lap = pipeline.generate(samples, frames, seed)
            laps[name].append(lap)
            seed += 1
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    everything = [lap for runs in laps.values() for lap in runs]

    def summary(runs: list[dict]) -> dict:
        totals = [sum(lap.values()) * 1000 for lap in runs]
        return {"latency_ms": latency_summary(totals),
                "stages_ms": {s: float(np.mean([lap[s] for lap in runs]) * 1000) for s in STAGES},
                "latencies_ms": totals}

    result = {"samples_per_s": len(everything) / wall, "cpu_cores_busy": cpu / wall, **summary(everything)}
    result["utterances"] = [{"name": name, "audio_s": len(samples) / 16000, "motion_frames": frames,
                             **summary(laps[name]), "samples_per_s": 1000 / np.mean(summary(laps[name])["latencies_ms"])}
                            for name, samples in utterances]
    return result


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--audio", nargs="+", required=True)
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--engines", default="torch,ort")
    p.add_argument("--onnx-dir", default=None, help="where the exported stage graphs go (default: a temp dir)")
    args = p.parse_args(argv)
    utterances = [(path, read_wav(path)) for path in args.audio]
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for engine in args.engines.split(","):
            if engine == "torch":
                pipeline = TorchEagerPipeline(args.model, args.threads)
            elif engine == "ort":
                pipeline = OnnxRuntimePipeline(args.model, args.threads, args.onnx_dir or scratch)
            else:
                raise SystemExit(f"unknown engine {engine!r} (torch, ort)")
            results[engine] = {"name": pipeline.name, "threads": args.threads,
                               **time_pipeline(pipeline, utterances, args.frames, args.iterations, args.warmup)}
            if engine == "torch":
                results["flops"] = {name: stage_flops(pipeline, samples, args.frames) for name, samples in utterances}
            del pipeline
    print(json.dumps(results))


if __name__ == "__main__":
    main()
