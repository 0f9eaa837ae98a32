"""docs/benchmarks.md and docs/benchmarks-latency.png from the results `report.py` collected."""
from __future__ import annotations

import datetime
import pathlib
import re

import numpy as np


STAGE_NAMES = {"frontend": "front end", "audio_encoder": "audio encoder", "generator": "generator",
               "decoder": "decoder"}


def _ms(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _engine_rows(results: dict, variants: bool = False) -> list[tuple[str, dict]]:
    """(engine name, result) for Swift, PyTorch eager, ONNX Runtime (and, with `variants`, Swift at 1 thread and
    with 2 workers)."""
    rows = [("Kinevox (Swift engine, OpenBLAS)", results["swift"])]
    if variants:
        rows += [(name, results[key]) for key, name in (("swift_1thread", "Kinevox, 1 thread"),
                                                        ("swift_2workers", "Kinevox, 2 workers × 1 thread"),
                                                        ("swift_estimated", "Kinevox, 2 threads, length from the estimator"))
                 if key in results]
    for key in ("torch", "ort"):
        if key in results["python"]:
            rows.append((results["python"][key]["name"], results["python"][key]))
    return rows


def engine_bench_rows(engine_bench: str) -> list[tuple[str, int, float, float]]:
    """(case, threads, engine GF/s, raw sgemm GF/s) from kinevox-engine-bench's table, in either of its layouts:
    one row per case and thread count (`case thr ms/call engine sgemm ratio%`) or one row per case with a
    `| engine sgemm ratio%` group per thread count (1, 2, ...)."""
    rows = []
    number = r"([\d.]+)"
    for line in engine_bench.splitlines():
        line = line.strip()
        m = re.match(rf"^(.*?)\s+(\d+)\s+{number}\s+{number}\s+{number}\s+(\d+)%$", line)
        if m and "|" not in line:
            rows.append((m.group(1).strip(), int(m.group(2)), float(m.group(4)), float(m.group(5))))
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) >= 2:
            for threads, group in enumerate(parts[1:], start=1):
                g = re.match(rf"^{number}\s+{number}\s+(\d+)%$", group)
                if g:
                    rows.append((parts[0], threads, float(g.group(1)), float(g.group(2))))
    return rows


def hot_layer_ratios(engine_bench: str) -> dict[int, list[tuple[str, float]]]:
    """Per thread count, (case, engine GF/s as a fraction of raw sgemm GF/s)."""
    ratios: dict[int, list[tuple[str, float]]] = {}
    for case, threads, engine, sgemm in engine_bench_rows(engine_bench):
        ratios.setdefault(threads, []).append((case, engine / sgemm))
    return ratios


def _sgemm_peak(engine_bench: str) -> dict[int, float]:
    """Best raw cblas_sgemm GF/s per thread count in the engine bench's table."""
    peak: dict[int, float] = {}
    for _, threads, _, sgemm in engine_bench_rows(engine_bench):
        peak[threads] = max(peak.get(threads, 0.0), sgemm)
    return peak


def median_rate(result: dict) -> float:
    """Samples/s implied by the median latency of each instruction (1 / mean of the per-instruction p50s):
    insensitive to the rare slow runs that another process on the 2 cores causes."""
    return 1000.0 / float(np.mean([u["latency_ms"]["p50"] for u in result["utterances"]]))


def _verdict(ok: bool, miss: str) -> str:
    return "met" if ok else f"**missed** ({miss})"


def microphone_targets(name: str, mic: dict) -> list[str]:
    """The microphone path's target rows for one run of the stream (daemon_latency.microphone)."""
    m = mic["end_of_speech_to_first_frame_ms"]
    cpu = mic["listening_cpu_fraction_of_core"] * 100
    return [
        f"| microphone ({name}): end of speech → first frame p50 ≤ 250 ms, p99 ≤ 450 ms | p50 {_ms(m['p50'])} ms, "
        f"p99 {_ms(m['p99'])} ms ({mic['commands']} commands, {len(mic['voices'])} voices) | "
        + _verdict(m["p50"] <= 250 and m["p99"] <= 450, f"p50 {m['p50'] / 250:.1f}×, p99 {m['p99'] / 450:.1f}× the target") + " |",
        f"| microphone ({name}): commands cut early ≤ 2 % | {mic['early_cut_percent']:.1f} % "
        f"({mic['early_cuts']} of {mic['commands']}; two-step commands {mic['two_step_cut_percent']:.0f} %) | "
        + _verdict(mic["early_cut_percent"] <= 2, "cut at their inner pause") + " |",
        f"| microphone ({name}): CPU while listening ≤ 2 % of a core | {cpu:.2f} % | "
        + _verdict(cpu <= 2, f"{cpu / 2:.1f}× the target") + " |",
    ]


def targets(results: dict) -> list[str]:
    swift, python = results["swift"], results["python"]
    rows = ["| target (bundled model, 2 cores) | measured | verdict |", "|---|---|---|"]
    daemon = results["daemon"]
    ptt = daemon["push_to_talk"]["end_of_upload_to_first_frame_ms"]
    rows.append(f"| end of speech → first frame p50 ≤ 80 ms (push-to-talk) | {_ms(ptt['p50'])} ms | "
                + _verdict(ptt["p50"] <= 80, f"{ptt['p50'] / 80:.1f}× the target") + " |")
    rows.append(f"| end of speech → first frame p99 ≤ 150 ms (push-to-talk) | {_ms(ptt['p99'])} ms | "
                + _verdict(ptt["p99"] <= 150, f"{ptt['p99'] / 150:.1f}× the target") + " |")
    mic = daemon.get("microphone")
    if mic:
        rows += microphone_targets("shipped `[vad]`", mic)
        for name, variant in daemon.get("microphone_variants", {}).items():
            rows += microphone_targets(name, variant)
    if swift.get("first_utterances"):  # `kinevox bench`: each utterance first on a freshly loaded, planned model
        worst = max(f["ratio"] for f in swift["first_utterances"])
        allocations = sum(f["heap_allocations"] for f in swift["first_utterances"])
        rows.append(f"| first command after start (scratch planned for {swift['planned_s']:.0f} s, one that long too): "
                    f"≤ 1.10 × steady p50, 0 heap allocations | {worst:.2f} ×, {allocations} allocations | "
                    + _verdict(worst <= 1.10 and allocations == 0, "slower or allocating") + " |")
    sps = swift["samples_per_s"]
    best = max([sps] + [results[k]["samples_per_s"] for k in ("swift_1thread", "swift_2workers") if k in results])
    throughput = (f"; 2 workers × 1 thread: {results['swift_2workers']['samples_per_s']:.2f} /s"
                  if "swift_2workers" in results else "")
    rows.append(f"| ≥ 12 samples/s | {sps:.2f} /s one at a time{throughput} | "
                f"{_verdict(best >= 12, f'best {best / 12 * 100:.0f} % of the target')} |")
    for key, need in (("torch", 3.0), ("ort", 1.3)):
        if key in python:
            ratio = sps / python[key]["samples_per_s"]
            median = median_rate(swift) / median_rate(python[key])
            rows.append(f"| ≥ {need}× {python[key]['name']} | {ratio:.2f}× by samples/s (wall clock), "
                        f"{median:.2f}× by median latency | "
                        f"{_verdict(min(ratio, median) >= need, f'{min(ratio, median) / need * 100:.0f} % of the target')} |")
    paper = results["paper"]["samples_per_s"]
    if "paper_bf16" in results:
        bf16 = results["paper_bf16"]
        best = max(paper, bf16["samples_per_s"])
        rows.append(f"| paper-sized ≥ 2.7 samples/s | fp32 {paper:.2f} /s, {bf16.get('precision', 'bf16')} products "
                    f"{bf16['samples_per_s']:.2f} /s | {_verdict(best >= 2.7, f'best {best / 2.7 * 100:.0f} % of the target')} |")
    else:
        rows.append(f"| paper-sized ≥ 2.7 samples/s | {paper:.2f} /s | {_verdict(paper >= 2.7, f'{paper / 2.7 * 100:.0f} % of the target')} |")
    ratios = hot_layer_ratios(results.get("engine_bench", ""))
    for threads in sorted(ratios):
        values = [r for _, r in ratios[threads]]
        worst = min(ratios[threads], key=lambda x: x[1])
        rows.append(f"| hot layers ≥ 60 % of sgemm ({threads} thread{'s' if threads > 1 else ''}) | median "
                    f"{np.median(values) * 100:.0f} %, lowest {worst[1] * 100:.0f} % ({worst[0]}) | "
                    f"{_verdict(min(values) >= 0.6, f'{sum(v < 0.6 for v in values)} of {len(values)} cases below')} |")
    flops, peak = python.get("flops", {}), _sgemm_peak(results.get("engine_bench", ""))
    if flops and peak.get(2):
        counted = next(iter(flops.values()))
        u = swift["utterances"][0]
        # Only the generator: FLOPs are counted on the PyTorch twin, whose front end runs the CNN once per
        # overlapping window, while the Swift front end runs it once over the whole mel map.
        share = counted["generator"] / 1e9 / (u["stages_ms"]["generator"] / 1000) / peak[2]
        rows.append(f"| same, measured in the pipeline (generator GF/s ÷ sgemm peak at 2 threads, 3 s) | "
                    f"{share * 100:.0f} % | "
                    f"{_verdict(share >= 0.6, 'small GEMMs: see where the time goes')} |")
    idle = daemon["push_to_talk"]["idle_cpu_fraction_of_core"] * 100
    rows.append(f"| idle ≤ 2 % of a core while listening | {idle:.2f} % | {_verdict(idle <= 2, f'{idle / 2:.1f}× the target')} |")
    rss = max(daemon["push_to_talk"]["rss_after_mib"] * 1.048576, swift["rss_mb"])
    peak = max(daemon["push_to_talk"]["peak_rss_mib"] * 1.048576, swift["peak_rss_mb"])
    rows.append(f"| RSS ≤ 200 MB | kinevoxd {rss:.0f} MB after the uploads (idle before them: "
                f"{daemon['push_to_talk']['rss_idle_mib'] * 1.048576:.0f} MB), peak {peak:.0f} MB | "
                f"{_verdict(rss <= 200, f'{rss / 200:.2f}× the target')}"
                + ("" if peak <= 200 else f"; peak {peak - 200:.0f} MB over") + " |")
    allocs = swift["heap_allocations_per_utterance"]
    rows.append(f"| 0 heap allocations per utterance (steady state) | {allocs:.0f} | {_verdict(allocs == 0, 'see below')} |")
    return rows


def histogram(results: dict, path: pathlib.Path) -> None:
    """Latency histograms: one panel per instruction (the three engines), one for kinevoxd."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    engines = _engine_rows(results)
    daemon = results["daemon"]
    panels = len(engines[0][1]["utterances"])
    fig, axes = plt.subplots(1, panels + 1, figsize=(5.5 * (panels + 1), 4), constrained_layout=True)
    for index, ax in enumerate(axes[:panels]):
        values = [v for _, r in engines for v in r["utterances"][index]["latencies_ms"]]
        bins = np.geomspace(min(values) * 0.8, max(values) * 1.25, 40)
        for name, r in engines:
            u = r["utterances"][index]
            ax.hist(u["latencies_ms"], bins=bins, alpha=0.6, label=f"{name.split(' (')[0]} (p50 {_ms(u['latency_ms']['p50'])} ms)")
        seconds = engines[0][1]["utterances"][index]["audio_s"]
        ax.set_xscale("log")
        ax.set_xlabel("latency per instruction (ms, log scale)")
        ax.set_ylabel("count")
        ax.set_title(f"{seconds:.0f} s instruction → {results['swift'].get('fixed_frames')} frames, 2 threads")
        ax.legend(fontsize=7)
    ax = axes[panels]
    series = [("push-to-talk: audio.end → first frame", daemon["push_to_talk"]["latencies_ms"])]
    if daemon.get("microphone"):
        series.append(("microphone: end of speech → first frame (shipped [vad])", daemon["microphone"]["latencies_ms"]))
        for name, variant in daemon.get("microphone_variants", {}).items():
            series.append((f"microphone: {name}", variant["latencies_ms"]))
    values = [v for _, s in series for v in s]
    bins = np.linspace(0, max(values) * 1.1, 30)
    for label, s in series:
        ax.hist(s, bins=bins, alpha=0.6, label=f"{label} (p50 {_ms(float(np.median(s)))} ms)")
    ax.axvline(80, color="black", linestyle="--", linewidth=1, label="target p50 80 ms")
    ax.set_xlabel("ms")
    ax.set_ylabel("count")
    ax.set_title("kinevoxd: end of speech → first motion frame")
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(results: dict, out: pathlib.Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    png = out.with_name(out.stem + "-latency.png")
    histogram(results, png)
    m = results["machine"]
    swift, python, paper, cascade, daemon = (results[k] for k in ("swift", "python", "paper", "cascade", "daemon"))
    model_note = ("the bundled model (Models/kinevox-default.safetensors)" if results["trained"] else
                  "a **random-weight model of the bundled architecture** (the bundled model did not exist yet; "
                  "`python -m kinevox_train.bench.model_files --bundled`): the cost per stage is that of the trained "
                  "model, only the motion length would differ, and it is fixed here")
    lines = [
        "# Kinevox benchmarks",
        "",
        f"Written by `make bench` ({results.get('finished') or f'{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M}'} UTC, "
        f"{results['seconds']:.0f} s, commit {m['commit']}). Every number below comes from this one run on this machine.",
        "",
        "## Machine and versions",
        "",
        "| | |", "|---|---|",
        f"| CPU | {m['cpu']} |", f"| memory | {m['memory']} |", f"| OS | {m['os']} |",
        f"| load average (1/5/15 min) | before {' / '.join(f'{x:.2f}' for x in m['load'])}, "
        f"after {' / '.join(f'{x:.2f}' for x in results['load_after'])} |",
        "| 1-minute load average as each step started | "
        + ", ".join(f"{step} {load:.2f}" for step, load in results.get("loads", [])) + " |",
        f"| Swift | {m['swift']} |", f"| OpenBLAS (Debian, pthread) | {m['openblas']} |",
        f"| Python / PyTorch / ONNX Runtime / pocketsphinx | {m['python']} / {m['torch']} / {m['onnxruntime']} / {m['pocketsphinx']} |",
        "",
        f"Model: {model_note}. Instructions: two spoken instructions made by espeak-ng at bench time "
        "(\"walk forward and wave with the right hand\" cut/padded to 3.0 s; \"walk forward, turn around to the left, "
        "then jump twice and sit down on the floor slowly\" to 6.0 s), 16 kHz. Motion length fixed at "
        f"{swift.get('fixed_frames')} frames (3 s at 20 fps) in every engine so all do the same work "
        "(10 MaskGIT steps and every residual layer, both with classifier-free guidance = batch of 2). "
        "2 threads everywhere (the Swift engine's own GEMM threads over single-threaded OpenBLAS; `torch.set_num_threads(2)`; "
        "ORT `intra_op_num_threads=2`). "
        "Utterances run one after another after warm-up; samples/s = utterances / wall time.",
        "",
        "Commands (what `make bench` runs; `cd Training` for the Python ones; A3.wav and A6.wav are the two spoken "
        "instructions, written to Training/cache/bench/audio/):",
        "```",
        ".build/release/kinevox-engine-bench",
        f".build/release/kinevox bench --model {results['bundled']} --audio A3.wav A6.wav --frames 60 --threads 2 "
        f"--iterations {results['n']['swift']} --json",
        f"python -m kinevox_train.bench.compare --model {results['bundled']} --audio A3.wav A6.wav --frames 60 "
        f"--threads 2 --iterations {results['n']['python']}",
        *(f".build/release/kinevox bench --model {results['paper_model']} --audio A3.wav A6.wav --frames 60 "
          f"--iterations {results['n']['paper']} --warmup 1 --precision {precision} --json"
          for precision in (("fp32", "bf16") if "paper_bf16" in results else ("fp32",))),
        f"python -m kinevox_train.bench.cascade --audio A3.wav A6.wav --frames 60 --iterations {results['n']['cascade']}",
        f"python -m kinevox_train.bench.daemon_latency --model {results['bundled']} --audio A3.wav A6.wav "
        f"--uploads {results['n']['uploads']} --listen-utterances {results['n']['listen']}",
        "```",
        "",
        "## Targets",
        "",
        *targets(results),
        "",
        "## 1. Bundled model: Swift engine vs PyTorch eager vs ONNX Runtime (same weights, same run)",
        "",
        "| engine | instruction | p50 ms | p99 ms | front end | audio encoder | generator | decoder | samples/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in _engine_rows(results, variants=True):
        fixed = r.get("fixed_frames", results.get("frames"))  # the motion length every engine was given
        for u in r["utterances"]:
            s = u["stages_ms"]
            shown = name if u.get("motion_frames", fixed) == fixed else f"{name} ({u['motion_frames']} frames)"
            lines.append(f"| {shown} | {u['audio_s']:.0f} s | {_ms(u['latency_ms']['p50'])} | {_ms(u['latency_ms']['p99'])} | "
                         + " | ".join(_ms(s[k]) for k in STAGE_NAMES) + f" | {u['samples_per_s']:.2f} |")
        lines.append(f"| {name} | **both** | {_ms(r['latency_ms']['p50'])} | {_ms(r['latency_ms']['p99'])} | "
                     + " | ".join(_ms(r["stages_ms"][k]) for k in STAGE_NAMES) + f" | **{r['samples_per_s']:.2f}** |")
    lines += ["", "Samples/s from the median latencies (1 / mean of the per-instruction p50s): "
              + ", ".join(f"{name} {median_rate(r):.2f}" for name, r in _engine_rows(results, variants=True)
                          if r.get("workers", 1) == 1) + ". "
              "PyTorch eager's wall-clock rate and p99 suffer most from sharing 2 cores with other processes: its "
              "OpenMP threads wait for each other at every operator, so one descheduled thread stalls each of the "
              "thousands of small operators of a generation; compare the medians for the engines' own speed."]
    lines += ["", "Stage times are means in ms. \"length from the estimator\" lets the trained length estimator choose "
              "the motion length (as kinevoxd does) instead of the fixed 60 frames. \"2 workers × 1 thread\" runs two utterances at once, each on its own "
              "inference thread with its own copy of the model and one BLAS thread (throughput mode; its latencies "
              "are per utterance while sharing the cores). Speed-up of the Swift engine (samples/s ratio, one "
              "utterance at a time, 2 threads, against the same for the others): "
              + ", ".join(f"{swift['samples_per_s'] / python[k]['samples_per_s']:.2f}× {python[k]['name']}"
                          for k in ("torch", "ort") if k in python) + ".",
              "ONNX Runtime runs openwakeword's original speech_embedding graphs (melspectrogram.onnx, "
              "embedding_model.onnx) for the front end and the training code's audio encoder, masked and residual "
              "transformers (each with its CFG batch) and RVQ decoder exported per stage with `torch.onnx.export` "
              "(static shapes, exported once per input shape during warm-up); the MaskGIT/residual loop is NumPy. "
              f"CPU use while timing: Swift {swift['cpu_cores_busy']:.2f} cores"
              + "".join(f", {python[k]['name']} {python[k]['cpu_cores_busy']:.2f}" for k in ("torch", "ort") if k in python) + ".",
              "", f"![latency histogram]({png.name})", ""]
    lines += [
        "## 2. Paper-sized configuration on 2 CPU cores",
        "",
        "WavLM-Base front end (random weights, Kinevox's WavLM tensor layout), memory-retrieval encoder with a 256×512 "
        "memory, 6-layer d-384 masked and residual transformers, 6 quantizers × 512 codes (`paper_config()`), "
        "Swift engine, fp32"
        + (", and the same model loaded with bf16 products (`--precision bf16`: Linear, convolution and attention "
           "input projections round inputs and weights to bf16 and accumulate in fp32 with AVX-512 BF16; run right "
           "after the fp32 one)." if "paper_bf16" in results else "."),
        "",
        "| system | hardware | instruction | p50 ms | front end | audio encoder | generator | decoder | samples/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    paper_runs = [("Kinevox, paper-sized", paper)]
    if "paper_bf16" in results:
        paper_runs.append((f"Kinevox, paper-sized, {results['paper_bf16'].get('precision', 'bf16')} products", results["paper_bf16"]))
    for name, run in paper_runs:
        for u in run["utterances"]:
            s = u["stages_ms"]
            lines.append(f"| {name} | 2 CPU cores (this machine) | {u['audio_s']:.0f} s | {_ms(u['latency_ms']['p50'])} | "
                         + " | ".join(_ms(s[k]) for k in STAGE_NAMES) + f" | {u['samples_per_s']:.2f} |")
        lines.append(f"| {name} | 2 CPU cores (this machine) | both | {_ms(run['latency_ms']['p50'])} | "
                     + " | ".join(_ms(run["stages_ms"][k]) for k in STAGE_NAMES) + f" | **{run['samples_per_s']:.2f}** |")
    lines += ["| paper, end-to-end | A6000 GPU | – | – | – | – | – | – | 2.695 |",
              "| paper, cascaded | A6000 GPU | – | – | – | – | – | – | 1.509 |",
              "", "Peak RSS of the paper-sized run: " + ", ".join(f"{run['peak_rss_mb']:.0f} MB ({name.removeprefix('Kinevox, paper-sized').strip(', ') or 'fp32'})"
                                                                  for name, run in paper_runs) + ".", ""]
    cs = cascade["stages_ms"]
    lines += [
        "## 3. Cascaded pipeline (paper's Table 4) vs end to end",
        "",
        "Cascade: pocketsphinx (offline, its bundled en-us acoustic + language model) → text → MiniLM sentence "
        "embedding → text-conditioned generator of the bundled architecture (identity audio encoder over the 384-d "
        "embedding), PyTorch eager, 2 threads. "
        + ("" if cascade.get("trained_text_model") else
           "The text-conditioned generator has random weights (the timing needs no trained one: its cost equals a trained one's; accuracy is measured with the trained one in docs/results.md). "),
        "",
        "| pipeline | per sample: mean ms (p50 ms) | stages (mean ms) | samples/s |",
        "|---|---|---|---|",
        f"| cascaded, PyTorch eager | {_ms(cascade['latency_ms']['mean'])} ({_ms(cascade['latency_ms']['p50'])}) | ASR "
        f"{_ms(cs['asr'])}, text encoder {_ms(cs['text_encoder'])}, generator {_ms(cs['generator'])}, decoder "
        f"{_ms(cs['decoder'])} | {cascade['samples_per_s']:.2f} |",
    ]
    if "torch" in python:
        t = python["torch"]
        lines.append(f"| end to end, PyTorch eager | {_ms(t['latency_ms']['mean'])} ({_ms(t['latency_ms']['p50'])}) | "
                     + ", ".join(f"{STAGE_NAMES[k]} {_ms(t['stages_ms'][k])}" for k in STAGE_NAMES) + f" | {t['samples_per_s']:.2f} |")
    lines.append(f"| end to end, Kinevox Swift | {_ms(swift['latency_ms']['mean'])} ({_ms(swift['latency_ms']['p50'])}) | "
                 + ", ".join(f"{STAGE_NAMES[k]} {_ms(swift['stages_ms'][k])}" for k in STAGE_NAMES) + f" | {swift['samples_per_s']:.2f} |")
    lines += ["", "pocketsphinx heard: " + "; ".join(f"\"{t}\"" for t in cascade["transcripts"].values()) + ".",
              "",
              "How often each pipeline gets the action right (unseen festival voices and 10 dB SNR, 300 utterances "
              "per set, trained text-conditioned generator) is measured by the training evaluation, not in this "
              "timing run: docs/results.md, section \"Cascaded vs end to end\" (commands included).",
              ""]
    ptt, mic = daemon["push_to_talk"], daemon.get("microphone")
    p = ptt["end_of_upload_to_first_frame_ms"]
    lines += [
        "## 4. Through the daemon (kinevoxd, release build, 2 inference threads)",
        "",
        "| path | measured from → to | n | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|",
        f"| push-to-talk upload over WebSocket | `audio.end` sent → first `frame` of that utterance received | "
        f"{len(ptt['latencies_ms'])} | {_ms(p['p50'])} | {_ms(p['p99'])} | {_ms(p['max'])} |",
    ]
    if mic:
        for name, run in [("shipped `[vad]`", mic)] + list(daemon.get("microphone_variants", {}).items()):
            q = run["end_of_speech_to_first_frame_ms"]
            lines.append(f"| microphone (ALSA `file:` source at real-time pace, energy VAD, early endpointing; {name}) | "
                         f"true end of speech → first `frame` of its motion | "
                         f"{len(run['latencies_ms'])} | {_ms(q['p50'])} | {_ms(q['p99'])} | {_ms(q['max'])} |")
        lines += ["", "Microphone stream: " + f"{mic['commands']} commands in {', '.join(mic['voices'])}; "
                  f"{mic['two_step_commands']} of them two-step with a 300–600 ms pause inside. Early cuts (a motion "
                  "started more than 200 ms before the command's end of speech, or a two-step command answered twice): "
                  + "; ".join(f"{name} {run['early_cut_percent']:.1f} % (two-step {run['two_step_cut_percent']:.0f} %)"
                              for name, run in [("shipped", mic)] + list(daemon.get("microphone_variants", {}).items()))
                  + ". Speculative runs (started / used / dropped): "
                  + "; ".join(f"{name} {run['speculative_runs'].get('started', 0)} / {run['speculative_runs'].get('used', 0)} / "
                              f"{run['speculative_runs'].get('dropped', 0)}"
                              for name, run in [("shipped", mic)] + list(daemon.get("microphone_variants", {}).items())) + "."]
    lines += ["", "The daemon lets the length estimator choose the motion length (not fixed at 60 frames here: "
              f"{ptt.get('motion_frames_mean', 0):.0f} frames on average), and runs the speech front end on the whole "
              "utterance after it closed (streaming it during capture needs capture/server API changes; the daemon "
              "helper deferred it, notes/requests.md 14:30).", ""]
    allocs = swift["heap_allocations_per_utterance"]
    lines += [
        "## 5. Efficiency",
        "",
        f"- Idle CPU of kinevoxd listening to silence (ALSA `file:` source, no utterance in flight, "
        f"{ptt['idle_seconds']:.0f} s): {ptt['idle_cpu_fraction_of_core'] * 100:.2f} % of one core.",
        f"- RSS: kinevoxd {ptt['rss_idle_mib'] * 1.048576:.0f} MB idle, {ptt['rss_after_mib'] * 1.048576:.0f} MB after "
        f"{len(ptt['latencies_ms']) + 2} uploads, peak {ptt['peak_rss_mib'] * 1.048576:.0f} MB; `kinevox bench` "
        f"{swift['rss_mb']:.0f} MB after the run, peak {swift['peak_rss_mb']:.0f} MB.",
        f"- Heap allocations per utterance after warm-up (counting malloc family, all threads, around "
        f"`InstructionModel.generate`): {allocs:.0f} on average ("
        + ", ".join(f"{u['audio_s']:.0f} s: {u['heap_allocations_per_utterance']:.0f}" for u in swift["utterances"]) + ").",
        "",
        "`kinevox-engine-bench` (the engine's GEMM-bound layers at Kinevox's shapes next to raw `cblas_sgemm` doing "
        "the same GEMMs, best of 7 alternating rounds):",
        "", "```", results.get("engine_bench", "(skipped)").rstrip(), "```", "",
    ]
    lines += where_time_goes(results)
    out.write_text("\n".join(lines) + "\n")


def where_time_goes(results: dict) -> list[str]:
    """Stage shares, the front-end probe and the allocation sources, from this run's numbers."""
    swift, paper = results["swift"], results["paper"]
    total = sum(swift["stages_ms"].values())
    lines = ["## Where the time goes", "",
             "Share of the Swift pipeline's time per stage (bundled architecture, both instructions): "
             + ", ".join(f"{STAGE_NAMES[k]} {swift['stages_ms'][k] / total * 100:.0f} %" for k in STAGE_NAMES) + "."]
    paper_total = sum(paper["stages_ms"].values())
    lines.append("Paper-sized: " + ", ".join(f"{STAGE_NAMES[k]} {paper['stages_ms'][k] / paper_total * 100:.0f} %"
                                             for k in STAGE_NAMES) + " (the WavLM-Base front end dominates).")
    flops = results["python"].get("flops", {})
    peak = _sgemm_peak(results.get("engine_bench", ""))
    if flops:
        lines += ["", "Achieved throughput per stage: FLOPs of one generation (matmuls and convolutions, counted on the "
                  "PyTorch twin with `torch.utils.flop_counter`) over the Swift stage time"
                  + ("; raw `cblas_sgemm` peak in this run's engine bench: "
                     + ", ".join(f"{gf:.0f} GF/s at {th} thread{'s' if th > 1 else ''}" for th, gf in sorted(peak.items()))
                     if peak else "") + ". The front end's count is the twin's CNN once per overlapping window; the "
                  "Swift front end runs it once over the whole mel map, so its rate here overstates the work done:", "",
                  "| instruction | stage | GFLOP | Swift ms | GF/s |", "|---|---|---|---|---|"]
        for u, counted in zip(swift["utterances"], flops.values()):
            for k in STAGE_NAMES:
                ms = u["stages_ms"][k]
                lines.append(f"| {u['audio_s']:.0f} s | {STAGE_NAMES[k]} | {counted[k] / 1e9:.2f} | {_ms(ms)} | "
                             f"{counted[k] / 1e9 / (ms / 1000):.1f} |")
            total_flops, total_ms = sum(counted.values()), sum(u["stages_ms"].values())
            lines.append(f"| {u['audio_s']:.0f} s | **all** | {total_flops / 1e9:.2f} | {_ms(total_ms)} | "
                         f"{total_flops / 1e9 / (total_ms / 1000):.1f} |")
        lines += ["", "The generator's GEMMs are small (batch of 2 for guidance × (condition tokens + 15 motion tokens) "
                  "rows), so it runs far below the sgemm peak even where its layers keep up with raw sgemm at the same "
                  "shapes (engine bench); its MaskGIT steps and residual passes run one after another."]
    if results.get("perf"):
        lines += ["", "`perf record -F 999` of `kinevox bench` on the 3 s instruction (8 passes, 2 threads; all threads "
                  "of the process, symbols above 1.5 %):", "", "```", results["perf"], "```"]
        perf = results["perf"]
        notes = []
        if "sched_yield" in perf or "__schedule" in perf:
            notes.append("cycles in `sched_yield`/`__schedule` are the engine's GEMM worker thread polling for the "
                         "next GEMM (up to 0.1 ms after each one, yielding its core, then it sleeps)")
        if "exc_page_fault" in perf or "clear_page" in perf:
            notes.append("page faults (`exc_page_fault`, `clear_page_erms`) are fresh memory being touched, at load "
                         "and during inference")
        if "extendhfsf2" in perf:
            notes.append("`__extendhfsf2` is the fp16 → fp32 widening of the weights at model load (part of the run)")
        if notes:
            lines.append("In this profile: " + "; ".join(notes) + ".")
    allocations = swift.get("stage_allocations")
    if allocations:
        lines += ["", "Heap allocations of one generation after warm-up, stage by stage (first instruction, counted with "
                  "the model's own layers, 2 threads): " + ", ".join(f"{STAGE_NAMES[k]} {allocations[k]}" for k in STAGE_NAMES)
                  + ". Stage outputs (features, condition tokens) live in the model's scratch arena, codes and the "
                  "motion's features and joints in the generator's output arrays, refilled in place once the previous "
                  "motion is released; the sampling loop works in buffers planned at load, and the engine's GEMM "
                  "threads dispatch without allocating (OpenBLAS's own threaded driver, not used, mallocs a job array per "
                  "multi-threaded GEMM; the engine bench's last lines compare both). Arena growths while timing: "
                  + str(swift.get("arena_growths", "not reported")) + "."]
    lines.append("")
    return lines
