"""`make bench`: every Kinevox benchmark in one run on this machine, written to docs/benchmarks.md.

    cd Training && ../.venv/bin/python -m kinevox_train.bench.report [--quick]

Runs, in order: kinevox-engine-bench (hot layers vs cblas_sgemm); `kinevox bench --json` on the bundled model
(or, until it exists, a random-weight model of the bundled architecture); the same model in PyTorch eager
and ONNX Runtime (compare.py); the paper-sized model in the Swift engine; the cascaded pocketsphinx baseline
(cascade.py); kinevoxd end of speech -> first frame, idle CPU and RSS (daemon_latency.py). Then writes
docs/benchmarks.md and docs/benchmarks-latency.png. Needs the release build (`swift build -c release`).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys
import time
import wave

import numpy as np

from .report_markdown import write_report

ROOT = pathlib.Path(__file__).resolve().parents[3]
TRAINING = ROOT / "Training"
CACHE = TRAINING / "cache" / "bench"
BUNDLED = ROOT / "Models" / "kinevox-default.safetensors"
# The bundled sample instructions (the same texts as `kinevox bench` speaks without --audio), cut/padded to length.
INSTRUCTIONS = [("walk forward and wave with the right hand", 3),
                ("walk forward, turn around to the left, then jump twice and sit down on the floor slowly", 6)]
FRAMES = 60  # motion length fixed for every engine: 3 s at 20 fps
PAPER_E2E, PAPER_CASCADE = 2.695, 1.509  # samples/s on an A6000 GPU (the paper's Table 4)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rel(path: pathlib.Path | str) -> str:
    """A path as written in the report: relative to the repository root."""
    try:
        return str(pathlib.Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


LOADS: list[tuple[str, float]] = []  # (step, 1-minute load average when it started)


def run_json(label: str, command: list[str], cwd: pathlib.Path = ROOT) -> dict:
    LOADS.append((label, os.getloadavg()[0]))
    log(" ".join(rel(c) if c.startswith("/") else c for c in command))
    out = subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def speak(directory: pathlib.Path) -> list[pathlib.Path]:
    """The sample instructions as 16 kHz mono 16-bit WAVs of exactly 3 s and 6 s (espeak-ng, US English)."""
    from scipy.signal import resample_poly

    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, (text, seconds) in enumerate(INSTRUCTIONS):
        path = directory / f"instruction{index}-{seconds}s-16k.wav"
        raw = directory / f"instruction{index}-raw.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw), text], check=True)
        with wave.open(str(raw)) as wav:
            rate = wav.getframerate()
            speech = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64)
        speech = resample_poly(speech, 16000, rate)[: seconds * 16000]
        audio = np.concatenate([speech, np.zeros(seconds * 16000 - len(speech))])
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(16000)
            wav.writeframes(np.clip(np.round(audio), -32768, 32767).astype("<i2").tobytes())
        raw.unlink()
        paths.append(path)
    return paths


def machine() -> dict:
    def first(command: list[str]) -> str:
        try:
            return subprocess.run(command, capture_output=True, text=True).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    flags = next((line for line in open("/proc/cpuinfo") if line.startswith("flags")), "")
    memory = next((int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    import onnxruntime
    import pocketsphinx
    import torch
    from importlib.metadata import version
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores" + (", AVX-512" if "avx512f" in flags else "")
               + (" + BF16" if "avx512_bf16" in flags else ""),
        "memory": f"{memory / 1024 / 1024:.1f} GiB",
        "os": f"{platform.system()} {platform.release()}, Debian {open('/etc/debian_version').read().strip()}"
              if os.path.exists("/etc/debian_version") else platform.platform(),
        "swift": first(["swift", "--version"]),
        "openblas": first(["dpkg-query", "-W", "-f=${Version}", "libopenblas0-pthread"]),
        "python": platform.python_version(), "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
        "pocketsphinx": version("pocketsphinx"), "numpy": np.__version__,
        "commit": first(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "load": os.getloadavg(),
    }


def models(quick: bool) -> tuple[pathlib.Path, bool, pathlib.Path]:
    """(bundled-architecture model, whether it is the trained bundled file, paper-sized random model)."""
    from .model_files import bundled_random, paper_random

    from ..models import bundled_config, paper_config

    CACHE.mkdir(parents=True, exist_ok=True)
    bundled = BUNDLED if BUNDLED.exists() else CACHE / "bundled-random.safetensors"
    if bundled != BUNDLED and not architecture_matches(bundled, bundled_config()):
        log("building a random-weight model of the bundled architecture")
        bundled_random(bundled)
    paper = CACHE / "paper-random.safetensors"
    if not architecture_matches(paper, paper_config()):
        log("building the random-weight paper-sized model (WavLM-Base + 6-layer d-384 generators)")
        paper_random(paper)
    return bundled, bundled == BUNDLED, paper


def architecture_matches(path: pathlib.Path, config) -> bool:
    """Whether a cached model file exists and was built from `config` (front end aside)."""
    import dataclasses

    from safetensors import safe_open

    if not path.exists():
        return False
    with safe_open(str(path), framework="pt") as f:
        stored = json.loads((f.metadata() or {}).get("kinevox.config", "{}"))
    wanted = dataclasses.asdict(config)
    return all(stored.get(k) == v for k, v in wanted.items() if k != "frontend")


def perf_profile(kinevox: pathlib.Path, model: pathlib.Path, wav: str) -> str | None:
    """`perf` top symbols (all threads, 999 Hz) of `kinevox bench` on one instruction, or None without perf."""
    import shutil

    if shutil.which("perf") is None:
        return None
    data = CACHE / "perf.data"
    command = ["perf", "record", "-q", "-F", "999", "-o", str(data), str(kinevox), "bench", "--model", str(model),
               "--audio", wav, "--iterations", "8", "--warmup", "1", "--frames", str(FRAMES)]
    log("perf record -F 999 kinevox bench (3 s instruction, 8 passes)")
    if subprocess.run(command, cwd=ROOT, capture_output=True).returncode != 0:
        return None
    report = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", "dso,symbol",
                             "--percent-limit", "1.5"], capture_output=True, text=True).stdout
    rows = [line.rstrip() for line in report.splitlines() if line.strip() and not line.startswith("#")]
    demangled = subprocess.run(["swift", "demangle", "--simplified", "--compact"], input="\n".join(rows),
                               capture_output=True, text=True)
    text = demangled.stdout if demangled.returncode == 0 else "\n".join(rows)
    return "\n".join(" ".join(line.split()).removesuffix(" - -") for line in text.splitlines()[:18])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="few iterations (smoke test; numbers are noisy)")
    p.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    p.add_argument("--skip-engine-bench", action="store_true")
    args = p.parse_args(argv)
    n = dict(swift=3, python=1, paper=1, cascade=1, uploads=4, listen=6, idle=3.0) if args.quick else \
        dict(swift=25, python=5, paper=8, cascade=3, uploads=40, listen=44, idle=10.0)
    started = time.time()
    info = machine()
    log(f"load average before: {info['load']}")
    bundled, trained, paper = models(args.quick)
    wavs = [str(p) for p in speak(CACHE / "audio")]
    release = ROOT / ".build" / "release"
    python = [sys.executable, "-m"]
    results: dict = {"machine": info, "trained": trained, "bundled": rel(bundled), "paper_model": rel(paper), "n": n}

    if not args.skip_engine_bench:
        log("kinevox-engine-bench")
        results["engine_bench"] = subprocess.run([str(release / "kinevox-engine-bench")], cwd=ROOT, check=True,
                                                 capture_output=True, text=True).stdout
    common = ["--frames", str(FRAMES), "--threads", "2"]
    results["swift"] = run_json("swift", [str(release / "kinevox"), "bench", "--model", str(bundled), "--audio", *wavs,
                                 "--iterations", str(n["swift"]), "--json", *common])
    for key, extra in (("swift_1thread", ["--frames", str(FRAMES), "--threads", "1"]),
                       ("swift_2workers", ["--frames", str(FRAMES), "--threads", "1", "--workers", "2"]),
                       ("swift_estimated", ["--threads", "2"])):
        results[key] = run_json(key.replace("_", " "), [str(release / "kinevox"), "bench", "--model", str(bundled), "--audio", *wavs,
                                 "--iterations", str(max(2, n["swift"] // 2)), "--json", *extra])
    results["perf"] = perf_profile(release / "kinevox", bundled, wavs[0])
    results["python"] = run_json("pytorch + ort", python + ["kinevox_train.bench.compare", "--model", str(bundled), "--audio", *wavs,
                                           "--iterations", str(n["python"]), "--onnx-dir", str(CACHE / "onnx"), *common],
                                 cwd=TRAINING)
    for key, precision in (("paper", "fp32"), ("paper_bf16", "bf16")):
        results[key] = run_json(f"paper-sized {precision}", [str(release / "kinevox"), "bench", "--model", str(paper), "--audio", *wavs,
                                "--iterations", str(n["paper"]), "--warmup", "1", "--precision", precision, "--json", *common])
    results["cascade"] = run_json("cascade", python + ["kinevox_train.bench.cascade", "--audio", *wavs,
                                            "--iterations", str(n["cascade"]), *common], cwd=TRAINING)
    results["daemon"] = run_json("kinevoxd", python + ["kinevox_train.bench.daemon_latency", "--binary", str(release / "kinevoxd"),
                                           "--model", str(bundled), "--audio", *wavs, "--uploads", str(n["uploads"]),
                                           "--listen-utterances", str(n["listen"]), "--idle-seconds", str(n["idle"])],
                                 cwd=TRAINING)
    results["frames"] = FRAMES
    results["load_after"] = os.getloadavg()
    results["loads"] = LOADS
    results["seconds"] = time.time() - started
    results["finished"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    (CACHE / "results.json").write_text(json.dumps(results, indent=1))
    write_report(results, pathlib.Path(args.out))
    log(f"wrote {rel(args.out)} in {results['seconds']:.0f} s")


if __name__ == "__main__":
    main()
