"""The benchmark harness (kinevox_train.bench): the ONNX Runtime pipeline does the PyTorch generation's work,
the percentiles match numpy's, the engine-bench table parses, and a report renders from a results dict."""
import json
import pathlib

import numpy as np
import pytest
import torch

from kinevox_train.bench.daemon_latency import score_microphone
from kinevox_train.bench.pipelines import OnnxRuntimePipeline, _gumbel, _top_k, load_model_file
from kinevox_train.bench.report_markdown import hot_layer_ratios, write_report
from kinevox_train.bench.stats import latency_summary
from kinevox_train.models.generation import gumbel_sample, maskgit_generate, residual_generate, top_k_filter

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = ROOT / "Tests" / "Fixtures" / "Daemon" / "tiny_model.safetensors"


def test_numpy_sampling_matches_generation_py():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(1, 7, 16)).astype(np.float32)
    logits[0, 0, :4] = 2.0  # ties at the k-th value are kept by both
    u = rng.random(logits.shape, dtype=np.float32)
    for k in (1, 4, 16):
        filtered = _top_k(logits, k)
        expected = top_k_filter(torch.from_numpy(logits), k).numpy()
        np.testing.assert_array_equal(filtered, expected)
        for temperature in (0.0, 1.0):
            np.testing.assert_array_equal(_gumbel(filtered, temperature, u),
                                          gumbel_sample(torch.from_numpy(filtered), temperature, torch.from_numpy(u)).numpy())


@pytest.mark.skipif(not TINY.exists(), reason="tiny model fixture missing")
def test_onnx_runtime_generation_equals_pytorch(tmp_path):
    model, _, _ = load_model_file(TINY)
    pipeline = OnnxRuntimePipeline(str(TINY), threads=1, onnx_dir=tmp_path)
    features = torch.randn(1, 9, model.cfg.audio_encoder.input_dim)
    cond = model.audio_encoder(features, torch.tensor([9])).detach()
    frames = 8 * model.rvq.downsample
    draws = torch.Generator().manual_seed(5)
    torch_uniform = lambda shape: torch.rand(shape, generator=draws)  # noqa: E731
    lengths = torch.tensor([frames // model.rvq.downsample])
    with torch.no_grad():
        base = maskgit_generate(model.mask_transformer, cond, lengths, model.cfg.sampling, torch_uniform)
        expected = residual_generate(model.res_transformer, base, cond, lengths, model.cfg.sampling, torch_uniform)
    draws.manual_seed(5)
    codes = pipeline.codes(cond.numpy(), frames, lambda shape: torch_uniform(shape).numpy())
    np.testing.assert_array_equal(codes, expected.numpy())
    motion = pipeline.run("decoder", codes=codes)
    with torch.no_grad():
        reference = (model.rvq.decode(torch.from_numpy(codes)) * model.motion_std + model.motion_mean).numpy()
    np.testing.assert_allclose(motion, reference, atol=1e-4)


def test_latency_summary_percentiles():
    values = [5.0, 1.0, 3.0, 2.0, 4.0]
    summary = latency_summary(values)
    assert summary["p50"] == 3.0 and summary["min"] == 1.0 and summary["max"] == 5.0
    assert summary["p99"] == pytest.approx(np.percentile(values, 99))


def test_engine_bench_table_parses():
    table = ("case                                      thr   ms/call   engine    sgemm   ratio\n"
             "Linear 256->1024, T=25                      1     0.184    71.40    70.92    101%\n"
             "Conv1d 512->512 k3 dil=9, T=50              2     1.865    21.00    42.00     50%\n")
    ratios = hot_layer_ratios(table)
    assert ratios[1] == [("Linear 256->1024, T=25", pytest.approx(71.40 / 70.92))]
    assert ratios[2] == [("Conv1d 512->512 k3 dil=9, T=50", pytest.approx(0.5))]
    grouped = ("case                                  |  1 thread: engine  sgemm GF/s  ratio |  2 threads: engine  sgemm GF/s  ratio\n"
               "Linear 256->1024, T=25                |               71.1        70.4   101% |               55.9        56.0   100% \n")
    ratios = hot_layer_ratios(grouped)
    assert ratios[1] == [("Linear 256->1024, T=25", pytest.approx(71.1 / 70.4))]
    assert ratios[2] == [("Linear 256->1024, T=25", pytest.approx(55.9 / 56.0))]


def _engine(name, ms, sps):
    stages = {"frontend": ms / 2, "audio_encoder": 1.0, "generator": ms / 2 - 2, "decoder": 1.0}
    utterance = {"audio_s": 3.0, "motion_frames": 60, "samples_per_s": sps, "latencies_ms": [ms, ms * 1.1],
                 "latency_ms": latency_summary([ms, ms * 1.1]), "stages_ms": stages, "heap_allocations_per_utterance": 3}
    return {"name": name, "samples_per_s": sps, "cpu_cores_busy": 1.9, "latency_ms": latency_summary([ms, ms * 1.1]),
            "stages_ms": stages, "utterances": [utterance], "rss_mb": 90.0, "peak_rss_mb": 120.0,
            "heap_allocations_per_utterance": 3, "fixed_frames": 60}


# Two commands of a microphone stream: a single one (1.0–1.5 s) and a two-step one (3.0–4.6 s, pause 3.6–4.0 s).
MIC_TRUTH = [{"text": "walk forward", "voice": "flite:slt", "start_s": 1.0, "end_s": 1.5},
             {"text": "walk forward … then wave", "voice": "pico:en-US", "start_s": 3.0, "end_s": 4.6, "pause_s": [3.6, 4.0]}]


def test_microphone_scoring_places_motions_on_commands():
    score = score_microphone(MIC_TRUTH, [1.7, 4.2, 4.9])
    assert score["latencies_ms"] == pytest.approx([200.0, 300.0])
    assert score["early_cuts"] == 1 and score["cut_commands"] == ["walk forward … then wave"]
    assert score["two_step_cut_percent"] == 100 and score["early_cut_percent"] == 50
    assert score["missed"] == []
    missed = score_microphone(MIC_TRUTH, [1.45])
    assert missed["missed"] == ["walk forward … then wave"] and missed["early_cuts"] == 0
    assert missed["latencies_ms"] == pytest.approx([-50.0])


def test_report_renders(tmp_path):
    swift = _engine("swift", 60.0, 15.0)
    results = {
        "machine": {"cpu": "test CPU", "memory": "1 GiB", "os": "test", "swift": "6", "openblas": "0.3", "python": "3",
                    "torch": "2", "onnxruntime": "1", "pocketsphinx": "5", "numpy": "1", "commit": "abc", "load": (0.1, 0.2, 0.3)},
        "load_after": (0.2, 0.2, 0.3), "seconds": 5.0, "trained": False, "bundled": "m.safetensors",
        "paper_model": "p.safetensors", "n": {"swift": 2, "python": 1, "paper": 1, "cascade": 1, "uploads": 2, "listen": 1},
        "engine_bench": "Linear 256->1024, T=25                      2     0.184    71.40    70.92    101%\n",
        "swift": swift, "paper": _engine("paper", 300.0, 3.0),
        "python": {"torch": _engine("PyTorch eager", 400.0, 2.5), "ort": _engine("ONNX Runtime", 100.0, 10.0),
                   "flops": {"a.wav": {"frontend": 1e9, "audio_encoder": 1e8, "generator": 2e9, "decoder": 1e8}}},
        "cascade": {**_engine("cascade", 900.0, 1.1), "stages_ms": {"asr": 500.0, "text_encoder": 50.0, "generator": 300.0,
                                                                    "decoder": 50.0},
                    "transcripts": {"a.wav": "walk forward"}, "trained_text_model": False},
        "daemon": {"push_to_talk": {"end_of_upload_to_first_frame_ms": latency_summary([70.0, 90.0]), "latencies_ms": [70.0, 90.0],
                                    "idle_cpu_fraction_of_core": 0.01, "idle_seconds": 1.0, "rss_idle_mib": 80.0,
                                    "rss_after_mib": 90.0, "peak_rss_mib": 150.0},
                   "microphone": score_microphone(MIC_TRUTH, [1.7, 4.2, 4.9]) | {"listening_cpu_fraction_of_core": 0.004,
                                                                                   "speculative_runs": {"started": 3, "used": 2, "dropped": 1}},
                   "microphone_variants": {}},
    }
    out = tmp_path / "benchmarks.md"
    write_report(json.loads(json.dumps(results)), out)
    text = out.read_text()
    assert "| ≥ 12 samples/s | 15.00 /s one at a time | met |" in text
    assert "| ≥ 3.0× PyTorch eager | 6.00× by samples/s (wall clock), 6.67× by median latency | met |" in text
    assert "| ≥ 1.3× ONNX Runtime | 1.50× by samples/s (wall clock), 1.67× by median latency | met |" in text
    assert "paper-sized ≥ 2.7 samples/s | 3.00 /s | met" in text
    assert "| microphone (shipped `[vad]`): end of speech → first frame p50 ≤ 250 ms, p99 ≤ 450 ms | p50 250 ms" in text
    assert "| microphone (shipped `[vad]`): commands cut early ≤ 2 % | 50.0 % (1 of 2; two-step commands 100 %) | **missed**" in text
    assert "first command after start" not in text  # older results: no row
    swift.update(planned_s=30.0, first_utterances=[{"name": "a", "latency_ms": 60.0, "ratio": 1.04, "heap_allocations": 0,
                                                    "arena_growths": 0}, {"name": "30 s", "latency_ms": 300.0, "ratio": 1.12,
                                                                          "heap_allocations": 0, "arena_growths": 0}])
    write_report(json.loads(json.dumps(results)), out)
    assert "one that long too): ≤ 1.10 × steady p50, 0 heap allocations | 1.12 ×, 0 allocations | **missed**" in out.read_text()
    results["paper_bf16"] = {**_engine("paper bf16", 200.0, 4.0), "precision": "bf16"}
    write_report(json.loads(json.dumps(results)), out)
    text = out.read_text()
    assert "| paper-sized ≥ 2.7 samples/s | fp32 3.00 /s, bf16 products 4.00 /s | met |" in text
    assert "| Kinevox, paper-sized, bf16 products | 2 CPU cores (this machine) | both |" in text
    assert "--precision bf16 --json" in text
    assert (tmp_path / "benchmarks-latency.png").stat().st_size > 1000
