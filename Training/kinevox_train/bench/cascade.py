"""The paper's cascaded baseline (Table 4): offline speech recognition -> text -> text-conditioned generator.

    python -m kinevox_train.bench.cascade --audio a.wav b.wav --frames 60 [--text-model M.safetensors]
        [--iterations 5] [--warmup 1] [--threads 2]

Stages: `asr` (pocketsphinx 5, its bundled US English acoustic model, language model and dictionary, whole
utterance: eval/asr.py), `text_encoder` (the frozen MiniLM sentence embedding the text-conditioned generator is trained on),
`generator` and `decoder` (PyTorch eager, the bundled generator architecture with an identity audio encoder
taking the 384-d sentence embedding as its one condition token; random weights unless --text-model is given:
the cost is the same). Prints one JSON object like `compare.py`, plus the transcripts.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
import torch

from ..models import AudioEncoderConfig, KinevoxModel, bundled_config
from .compare import read_wav
from .pipelines import Stopwatch, load_model_file, torch_motion
from .stats import latency_summary

STAGES = ("asr", "text_encoder", "generator", "decoder")
TEXT_DIM = 384


def text_model(path: str | None) -> KinevoxModel:
    """The text-conditioned generator: from `path`, or the bundled architecture with random weights."""
    if path:
        return load_model_file(path)[0]
    cfg = bundled_config()
    cfg.audio_encoder = AudioEncoderConfig(kind="identity", input_dim=TEXT_DIM, dim=TEXT_DIM, num_cond_tokens=1)
    cfg.length_estimator = dataclasses.replace(cfg.length_estimator, cond_dim=TEXT_DIM)
    cfg.mask_transformer = dataclasses.replace(cfg.mask_transformer, cond_dim=TEXT_DIM)
    cfg.res_transformer = dataclasses.replace(cfg.res_transformer, cond_dim=TEXT_DIM)
    torch.manual_seed(0)
    return KinevoxModel(cfg).eval()


class CascadedPipeline:
    name = "Cascaded (pocketsphinx -> MiniLM -> text-conditioned generator, PyTorch eager)"

    def __init__(self, threads: int, model_path: str | None):
        from ..eval.asr import SpeechRecognizer
        from ..train.conditions import minilm_encoder

        torch.set_num_threads(threads)
        self.recognizer = SpeechRecognizer()
        self.text_encoder = minilm_encoder()
        self.model = text_model(model_path)

    @torch.no_grad()
    def generate(self, samples: np.ndarray, frames: int, seed: int) -> tuple[np.ndarray, dict[str, float], str]:
        watch = Stopwatch()
        text = self.recognizer.transcribe(samples)
        watch.lap("asr")
        embedding = self.text_encoder.encode([text], convert_to_numpy=True, normalize_embeddings=True)
        cond = self.model.audio_encoder(torch.from_numpy(embedding).float()[:, None, :], torch.tensor([1]))
        watch.lap("text_encoder")
        joints = torch_motion(self.model, cond, frames, seed, watch)
        return joints, watch.laps, text


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--audio", nargs="+", required=True)
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--text-model", default=None)
    p.add_argument("--iterations", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    pipeline = CascadedPipeline(args.threads, args.text_model)
    utterances = [(path, read_wav(path)) for path in args.audio]
    seed, transcripts = 0, {}
    for _ in range(args.warmup):
        for path, samples in utterances:
            transcripts[path] = pipeline.generate(samples, args.frames, seed)[2]
            seed += 1
    laps = []
    started = time.perf_counter()
    for _ in range(args.iterations):
        for path, samples in utterances:
            _, lap, transcripts[path] = pipeline.generate(samples, args.frames, seed)
            laps.append(lap)
            seed += 1
    wall = time.perf_counter() - started
    totals = [sum(lap.values()) * 1000 for lap in laps]
    print(json.dumps({"name": pipeline.name, "threads": args.threads, "samples_per_s": len(laps) / wall,
                      "latency_ms": latency_summary(totals), "latencies_ms": totals,
                      "stages_ms": {s: float(np.mean([lap[s] for lap in laps]) * 1000) for s in STAGES},
                      "transcripts": transcripts, "trained_text_model": bool(args.text_model)}))


if __name__ == "__main__":
    main()
