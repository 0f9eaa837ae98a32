"""`make bench-whisper` (part of `make bench`): the Whisper base front end, side by side in one run.

    cd Training && ../.venv/bin/python -m kinevox_train.bench.whisper --wheels cache/wheels [--iterations N]

On the bench's 3 s and 6 s espeak-ng utterances, with 1 and 2 threads: the Swift front end (`kinevox
bench --frontend-only`, fp32 and bf16, log-mel included), CTranslate2's `encode` (float32 and int8 compute types;
the log-mel is faster-whisper's, timed apart and not included), and the PyTorch twin in float32 (log-mel
included). Median milliseconds per utterance after warm-up. Prints a table and writes
docs/benchmarks-whisper.md. Needs the release build and the base model's wheels (`make whisper-encoder`
downloads them).
"""
from __future__ import annotations

import argparse
import collections
import datetime
import os
import pathlib
import platform
import statistics
import tempfile
import time
import wave

import numpy as np
import torch

from ..frontends.convert_whisper import write_ctranslate2_directory
from ..frontends.whisper import load_whisper
from .report import CACHE, ROOT, log, rel, run_json, speak

ENCODER = ROOT / "Models" / "whisper-base-encoder.safetensors"
KINEVOX = ROOT / ".build" / "release" / "kinevox"
DOC = ROOT / "docs" / "benchmarks-whisper.md"
THREADS = (1, 2)
# Issue targets: Swift fp32 at least as fast as CTranslate2 float32; Swift bf16 at least 0.8x CTranslate2 int8.
TARGETS = {("swift fp32", "ct2 float32"): 1.0, ("swift bf16", "ct2 int8"): 0.8}


def run_ms(run, iterations: int, warmup: int = 2) -> list[float]:
    """Milliseconds of `iterations` calls of `run` after `warmup` untimed ones."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(iterations):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return times


def read_wav(path: pathlib.Path) -> np.ndarray:
    with wave.open(str(path)) as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


def cpu_flags() -> str:
    flags = set()
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    model = next((l.split(":", 1)[1].strip() for l in pathlib.Path("/proc/cpuinfo").read_text().splitlines()
                  if l.startswith("model name")), platform.processor())
    wanted = [f for f in ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8") if f in flags]
    return f"{model}; {', '.join(wanted) or 'no AVX-512'}"


def measure(wheels: pathlib.Path, iterations: int, rounds: int) -> dict:
    """{(engine, threads, seconds): {"p50", "min"}} ms, plus ("heap allocations", threads, seconds): count. Every
    engine runs `iterations // rounds` times per round, round after round, so load changes on a shared machine
    fall on all of them alike."""
    import ctranslate2
    from faster_whisper.feature_extractor import FeatureExtractor

    paths = speak(CACHE)
    audio = {p: read_wav(p) for p in paths}
    extractor = FeatureExtractor()
    mels = {p: extractor(a) for p, a in audio.items()}
    twin = load_whisper(ENCODER)
    per_round = max(1, iterations // rounds)
    times: dict = collections.defaultdict(list)
    allocations: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        write_ctranslate2_directory(pathlib.Path(folder), "base", wheels)
        runtimes = {(c, t): ctranslate2.models.Whisper(folder, device="cpu", compute_type=c, intra_threads=t)
                    for c in ("float32", "int8") for t in THREADS}
        for round_index in range(rounds):
            log(f"round {round_index + 1} of {rounds}")
            for threads in THREADS:
                for precision in ("fp32", "bf16"):
                    report = run_json(f"swift {precision} {threads}t", [
                        str(KINEVOX), "bench", "--frontend-only", "--json", "--model", str(ENCODER), "--threads", str(threads),
                        "--precision", precision, "--iterations", str(per_round), "--warmup", "2",
                        "--audio", *map(str, paths)])
                    name = f"swift {precision}" if report["precision"] == precision else f"swift {precision} (ran fp32)"
                    for u in report["utterances"]:
                        cell = (threads, round(u["audio_seconds"]))
                        times[(name, *cell)] += u["latencies_ms"]
                        allocations[cell] = max(allocations.get(cell, 0), u["heap_allocations_max"])
                for compute_type in ("float32", "int8"):
                    model = runtimes[(compute_type, threads)]
                    for p, mel in mels.items():
                        features = ctranslate2.StorageView.from_array(mel[None])
                        times[(f"ct2 {compute_type}", threads, round(len(audio[p]) / 16000))] += run_ms(
                            lambda: model.encode(features, to_cpu=True), per_round)
                torch.set_num_threads(threads)
                for p, a in audio.items():
                    samples, seconds = torch.from_numpy(a), round(len(a) / 16000)
                    with torch.inference_mode():
                        times[("pytorch twin fp32", threads, seconds)] += run_ms(lambda: twin(samples), per_round)
                    times[("faster-whisper log-mel", threads, seconds)] += run_ms(lambda: extractor(a), per_round)
    results = {key: {"p50": statistics.median(v), "min": min(v)} for key, v in times.items()}
    results |= {("heap allocations", *cell): count for cell, count in allocations.items()}
    return results


def table(results: dict, statistic: str) -> str:
    engines = ["swift fp32", "swift bf16", "ct2 float32", "ct2 int8", "pytorch twin fp32", "faster-whisper log-mel"]
    engines = [e for e in engines if any(k[0] == e for k in results)]
    keys = sorted({(k[1], k[2]) for k in results}, key=lambda k: (k[1], k[0]))
    lines = ["| utterance | threads | " + " | ".join(f"{e} (ms)" for e in engines)
             + " | fp32 vs CT2 float32 | bf16 vs CT2 int8 | heap allocations / utterance |",
             "|---|---|" + "---|" * (len(engines) + 3)]
    for threads, seconds in keys:
        cells = [f"{results[(e, threads, seconds)][statistic]:.1f}" if (e, threads, seconds) in results else "n/a"
                 for e in engines]
        ratios = []
        for (ours, theirs), target in TARGETS.items():
            if (ours, threads, seconds) in results and (theirs, threads, seconds) in results:
                ratio = results[(theirs, threads, seconds)][statistic] / results[(ours, threads, seconds)][statistic]
                ratios.append(f"{ratio:.2f}x ({'meets' if ratio >= target else 'misses'} >= {target}x)")
            else:
                ratios.append("n/a")
        allocations = results.get(("heap allocations", threads, seconds), "n/a")
        lines.append(f"| {seconds} s | {threads} | " + " | ".join(cells) + " | " + " | ".join(ratios) + f" | {allocations} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=pathlib.Path, required=True, help="folder with the base model's PyPI wheels")
    parser.add_argument("--iterations", type=int, default=30, help="timed runs per cell, over all rounds")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    started = datetime.datetime.now(datetime.timezone.utc)
    results = measure(args.wheels, args.iterations, args.rounds)
    load = os.getloadavg()[0]
    text = (f"Fastest run per cell (the machine's 1-minute load average was {load:.1f} at the end):\n\n"
            f"{table(results, 'min')}\n\nMedian run per cell:\n\n{table(results, 'p50')}")
    print(text)
    DOC.write_text(
        "# Whisper base front end: speed (written by `make bench-whisper`)\n\n"
        f"Run {started:%Y-%m-%d %H:%M} UTC on {cpu_flags()}; {args.iterations} timed runs per cell in {args.rounds} "
        "rounds (every engine in every round, 2 warm-up runs each time). On a shared machine the fastest run is the "
        "fairest comparison (every engine measured alike). Swift and the PyTorch twin time audio → features (log-mel included); CTranslate2 times `encode` on "
        "faster-whisper's log-mel (its own column), so the ratios (CTranslate2 ms / Swift ms; above 1 = Swift faster) "
        "favour CTranslate2. Utterances: the bench's espeak-ng instructions padded to 3 s and 6 s, "
        f"`{rel(CACHE)}`.\n\n{text}\n")
    log(f"wrote {rel(DOC)}")


if __name__ == "__main__":
    main()
