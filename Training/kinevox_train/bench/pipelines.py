"""The same model file run three ways for the comparison tables: PyTorch eager and ONNX Runtime (the Swift
engine is timed by `kinevox bench`). Each pipeline has the four stages of the Swift one, timed separately:

  frontend       16 kHz samples -> front-end features (the model's `frontend.kind`; speech_embedding: 96-d / 80 ms)
  audio_encoder  features -> condition tokens
  generator      condition -> motion codes (MaskGIT steps + residual layers, both with CFG)
  decoder        codes -> HumanML3D-263 -> 22 joints

The motion length is fixed (`frames`), so every engine does the same work whatever the length estimator says.
"""
from __future__ import annotations

import json
import math
import pathlib
import time

import numpy as np
import torch
from safetensors import safe_open

from ..data.humanml3d import features_to_joints
from ..frontends import load_frontend
from ..frontends.speech_embedding import SpeechEmbedding, openwakeword_model_dir
from ..models import KinevoxConfig, KinevoxModel
from ..models.generation import maskgit_generate, residual_generate, seeded_uniform

CONFIG_KEY = "kinevox.config"
STAGES = ("frontend", "audio_encoder", "generator", "decoder")


def load_model_file(path: str | pathlib.Path) -> tuple[KinevoxModel, dict, dict[str, torch.Tensor]]:
    """(float32 KinevoxModel, frontend config dict, frontend tensors without their `frontend.` prefix). A front end
    kept in its own file (a `frontend` section with `file`, Swift's `FrontEndFile`) is read from that file, beside
    the model, with the section's `output_layer`."""
    with safe_open(str(path), framework="pt") as f:
        config = json.loads((f.metadata() or {})[CONFIG_KEY])
        tensors = {k: f.get_tensor(k).float() for k in f.keys()}
    frontend_config = config["frontend"]
    model = KinevoxModel(KinevoxConfig.from_dict(config)).eval()
    model.load_state_dict({k: v for k, v in tensors.items() if not k.startswith("frontend.")})
    frontend = {k.removeprefix("frontend."): v for k, v in tensors.items() if k.startswith("frontend.")}
    if "file" in frontend_config:
        with safe_open(str(pathlib.Path(path).parent / frontend_config["file"]), framework="pt") as f:
            layer = {k: frontend_config[k] for k in ("output_layer",) if k in frontend_config}
            frontend_config = json.loads((f.metadata() or {})[CONFIG_KEY])["frontend"] | layer
            frontend = {k.removeprefix("frontend."): f.get_tensor(k).float() for k in f.keys()}
    return model, frontend_config, frontend


class Stopwatch:
    """Laps in seconds per stage name."""

    def __init__(self):
        self.laps: dict[str, float] = {}
        self._mark = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self._mark
        self._mark = now


class FlopWatch(Stopwatch):
    """Laps in matmul/conv FLOPs (torch.utils.flop_counter) instead of seconds."""

    def __init__(self, counter):
        self.counter, self.laps, self._mark = counter, {}, 0

    def lap(self, name: str) -> None:
        total = self.counter.get_total_flops()
        self.laps[name] = total - self._mark
        self._mark = total


def stage_flops(pipeline: "TorchEagerPipeline", samples: np.ndarray, frames: int) -> dict[str, float]:
    """Multiply-add FLOPs (x2) of each stage of one generation, counted on the PyTorch twin of the pipeline."""
    from torch.utils.flop_counter import FlopCounterMode

    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # the fused encoder-layer kernel is invisible to the counter
    try:
        with FlopCounterMode(display=False) as counter:
            _, laps = pipeline.generate(samples, frames, 0, watch=FlopWatch(counter))
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return laps


class TorchEagerPipeline:
    """PyTorch eager, float32, `torch.set_num_threads(threads)`, the training code's own modules."""

    name = "PyTorch eager"

    def __init__(self, model_path: str, threads: int):
        torch.set_num_threads(threads)
        self.model, frontend_config, frontend = load_model_file(model_path)
        self.frontend = load_frontend(frontend_config, frontend)

    @torch.no_grad()
    def generate(self, samples: np.ndarray, frames: int, seed: int,
                 watch: Stopwatch | None = None) -> tuple[np.ndarray, dict[str, float]]:
        m, watch = self.model, watch or Stopwatch()
        features = self.frontend(torch.from_numpy(samples)).unsqueeze(0)
        watch.lap("frontend")
        cond = m.audio_encoder(features, torch.tensor([features.shape[1]]))
        watch.lap("audio_encoder")
        return torch_motion(m, cond, frames, seed, watch), watch.laps


@torch.no_grad()
def torch_motion(model: KinevoxModel, cond: torch.Tensor, frames: int, seed: int, watch: Stopwatch) -> np.ndarray:
    """Condition tokens -> joints (T, 22, 3) in PyTorch eager, laps "generator" and "decoder"."""
    uniform = seeded_uniform(seed)
    lengths = torch.tensor([frames // model.rvq.downsample])
    base = maskgit_generate(model.mask_transformer, cond, lengths, model.cfg.sampling, uniform)
    codes = residual_generate(model.res_transformer, base, cond, lengths, model.cfg.sampling, uniform)
    watch.lap("generator")
    motion = (model.rvq.decode(codes) * model.motion_std + model.motion_mean)[0].numpy()
    joints = features_to_joints(motion)
    watch.lap("decoder")
    return joints


class _MaskLogits(torch.nn.Module):
    """Exported graph: CFG logits of the masked transformer for one sample (cond and zeroed cond as a batch of 2)."""

    def __init__(self, model, scale: float):
        super().__init__()
        self.model, self.scale = model, scale

    def forward(self, ids, cond):
        padding = torch.zeros(2, ids.shape[1], dtype=torch.bool)
        both = self.model.logits(torch.cat([ids, ids]), torch.cat([cond, torch.zeros_like(cond)]), padding)
        c, u = both.chunk(2)
        return u + self.scale * (c - u)


class _ResLogits(torch.nn.Module):
    """Exported graph: CFG logits of the residual transformer for layer q of one sample."""

    def __init__(self, model, scale: float):
        super().__init__()
        self.model, self.scale = model, scale

    def forward(self, history, q, cond):
        padding = torch.zeros(2, history.shape[1], dtype=torch.bool)
        both = self.model.logits(torch.cat([history, history]), torch.cat([q, q]),
                                 torch.cat([cond, torch.zeros_like(cond)]), padding)
        c, u = both.chunk(2)
        return u + self.scale * (c - u)


class _Encoder(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, features):
        return self.model(features, torch.full((1,), features.shape[1], dtype=torch.long))


class _Decoder(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, codes):
        return self.model.rvq.decode(codes) * self.model.motion_std + self.model.motion_mean


def _export(module: torch.nn.Module, args: tuple, path: pathlib.Path, inputs: list[str], dynamic: dict) -> None:
    # The fused fast path of nn.TransformerEncoderLayer has no ONNX symbolic: export the plain ops.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad():
            torch.onnx.export(module, args, str(path), input_names=inputs, output_names=["output"],
                              dynamic_axes=dynamic, opset_version=17, dynamo=False)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


def _top_k(logits: np.ndarray, k: int) -> np.ndarray:
    """Keep logits >= the k-th largest of the last axis (ties kept), others -inf (generation.top_k_filter)."""
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = np.partition(logits, -k, axis=-1)[..., -k:].min(axis=-1, keepdims=True)
    return np.where(logits < kth, -np.inf, logits).astype(np.float32)


def _gumbel(filtered: np.ndarray, temperature: float, u: np.ndarray) -> np.ndarray:
    """argmax(filtered / temperature + g), g = -log(-log(clamp(u))) (generation.gumbel_sample)."""
    if temperature <= 0:
        return filtered.argmax(-1)
    u = np.clip(u, 1e-20, 1 - 1e-7)
    return (filtered / temperature - np.log(-np.log(u))).argmax(-1)


class OnnxRuntimePipeline:
    """ONNX Runtime (CPU provider, `intra_op_num_threads = threads`): openwakeword's original speech_embedding
    graphs for the front end; audio encoder, masked / residual transformer (with CFG) and decoder exported
    per stage from the training code with torch.onnx.export; the MaskGIT / residual loop in NumPy calling
    the sessions."""

    name = "ONNX Runtime"

    def __init__(self, model_path: str, threads: int, onnx_dir: str | pathlib.Path):
        import onnxruntime as ort

        self.ort = ort
        model, _, _ = load_model_file(model_path)
        self.cfg = model.cfg
        self.downsample = model.rvq.downsample
        s = self.cfg.sampling
        self.modules = {"audio_encoder": _Encoder(model.audio_encoder).eval(),
                        "mask_transformer": _MaskLogits(model.mask_transformer, s.mask_cfg).eval(),
                        "res_transformer": _ResLogits(model.res_transformer, s.res_cfg).eval(),
                        "decoder": _Decoder(model).eval()}
        self.onnx_dir = pathlib.Path(onnx_dir)
        self.onnx_dir.mkdir(parents=True, exist_ok=True)
        self.options = ort.SessionOptions()
        self.options.intra_op_num_threads = threads
        self.options.inter_op_num_threads = 1
        self.options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.sessions: dict[tuple, object] = {}
        self.frontend = SpeechEmbedding()
        wakeword = openwakeword_model_dir()
        providers = ["CPUExecutionProvider"]
        self.frontend.melspec = ort.InferenceSession(str(wakeword / "melspectrogram.onnx"), self.options, providers=providers)
        self.frontend.embedding = ort.InferenceSession(str(wakeword / "embedding_model.onnx"), self.options, providers=providers)
        self.token_emb = model.res_transformer.token_emb.detach().numpy()
        self.mask_id = model.mask_transformer.mask_id

    def run(self, stage: str, **inputs: np.ndarray) -> np.ndarray:
        """Runs one stage's graph. Graphs are exported with static shapes, once per input shape (the traced
        attention bakes its sequence length in), during warm-up."""
        key = (stage,) + tuple(v.shape for v in inputs.values())
        session = self.sessions.get(key)
        if session is None:
            path = self.onnx_dir / f"{stage}-{len(self.sessions)}.onnx"
            _export(self.modules[stage], tuple(torch.from_numpy(v) for v in inputs.values()), path, list(inputs), {})
            session = self.ort.InferenceSession(str(path), self.options, providers=["CPUExecutionProvider"])
            self.sessions[key] = session
        return session.run(None, inputs)[0]

    def generate(self, samples: np.ndarray, frames: int, seed: int) -> tuple[np.ndarray, dict[str, float]]:
        watch, run = Stopwatch(), self.run
        features = self.frontend(samples)[None]
        watch.lap("frontend")
        cond = run("audio_encoder", features=features)
        watch.lap("audio_encoder")
        rng = np.random.default_rng(seed)
        codes = self.codes(cond, frames, lambda shape: rng.random(shape, dtype=np.float32))
        watch.lap("generator")
        motion = run("decoder", codes=codes)[0]
        joints = features_to_joints(motion)
        watch.lap("decoder")
        return joints, watch.laps

    def codes(self, cond: np.ndarray, frames: int, uniform) -> np.ndarray:
        """Condition tokens [1, K, dim] -> codes [1, T, Q]: MaskGIT then the residual layers, with the draw order and
        rules of generation.py (`uniform(shape)` -> float32 array in [0, 1))."""
        s, run = self.cfg.sampling, self.run
        t = frames // self.downsample
        ids = np.full((1, t), self.mask_id, dtype=np.int64)
        scores = np.zeros((1, t), dtype=np.float32)
        for step in range(s.steps):
            ratio = math.cos(math.pi * 0.5 * step / (s.steps - 1))
            n = max(1, round(ratio * t))
            ranks = scores.argsort(axis=1, kind="stable").argsort(axis=1)
            is_mask = ranks < n
            ids = np.where(is_mask, self.mask_id, ids)
            logits = run("mask_transformer", ids=ids, cond=cond)
            filtered = _top_k(logits, s.top_k)
            pred = _gumbel(filtered, s.temperature, uniform(filtered.shape))
            scaled = filtered / (s.temperature if s.temperature > 0 else 1.0)
            probs = np.exp(scaled - scaled.max(-1, keepdims=True))
            probs /= probs.sum(-1, keepdims=True)
            pred_scores = np.take_along_axis(probs, pred[..., None], -1)[..., 0]
            ids = np.where(is_mask, pred, ids)
            scores = np.where(is_mask, pred_scores, 1e5).astype(np.float32)
        codes = [ids]
        history = np.zeros((1, t, self.token_emb.shape[-1]), dtype=np.float32)
        for q in range(1, self.cfg.rvq.num_quantizers):
            history = history + self.token_emb[q - 1][codes[-1]]
            logits = run("res_transformer", history=history, q=np.array([q], dtype=np.int64), cond=cond)
            codes.append(_gumbel(_top_k(logits, s.res_top_k), s.res_temperature, uniform(logits.shape)))
        return np.stack(codes, axis=-1).astype(np.int64)
