"""Convert openwakeword 0.5.1's speech_embedding ONNX graphs into Kinevox `frontend.` tensors.

    python -m kinevox_train.frontends.convert_speech_embedding OUT.safetensors

The export merges `convert_speech_embedding()`'s tensors and config into the bundled model file.
The graphs are walked node by node and every op is checked against what the Swift port implements,
so a different graph fails here instead of giving wrong numbers. Batch-norm is already folded into
the conv weights by the graph's producer; the STFT and mel matrices are the graphs' own initializers.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib

import numpy as np
import onnx
from onnx import numpy_helper

from .speech_embedding import openwakeword_model_dir
from .speech_embedding_net import SpeechEmbeddingConfig

PREFIX = "frontend."


def _attrs(node) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _constants(graph) -> dict[str, np.ndarray]:
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            values[node.output[0]] = numpy_helper.to_array(_attrs(node)["value"])
    return values


def _convert_melspectrogram(path: pathlib.Path, cfg: SpeechEmbeddingConfig) -> dict[str, np.ndarray]:
    graph = onnx.load(str(path)).graph
    values = _constants(graph)
    ops = [n.op_type for n in graph.node if n.op_type != "Constant"]
    expected = ["Unsqueeze", "Conv", "Conv", "Unsqueeze", "Transpose", "Unsqueeze", "Transpose", "Pow", "Pow",
                "Add", "MatMul", "Clip", "Log", "Mul", "Div", "Sub", "ReduceMax", "Sub", "Cast", "Clip"]
    if ops != expected:
        raise ValueError(f"{path}: unexpected op sequence {ops}")
    convs = [n for n in graph.node if n.op_type == "Conv"]
    for conv in convs:
        a = _attrs(conv)
        if a["strides"] != [cfg.hop_length] or a["kernel_shape"] != [cfg.n_fft] or any(a.get("pads", [0])):
            raise ValueError(f"{path}: STFT conv {a} differs from n_fft={cfg.n_fft}, hop={cfg.hop_length}, no padding")
    floor_clip = next(n for n in graph.node if n.op_type == "Clip")
    amin = float(values[floor_clip.input[1]])
    scalars = {n.op_type: float(values[n.input[1]]) for n in graph.node if n.op_type in ("Mul", "Div")}
    top_db = float(values[[n for n in graph.node if n.op_type == "Sub"][1].input[1]])
    ref = float(values[[n for n in graph.node if n.op_type == "Sub"][0].input[1]])
    if (scalars["Mul"], np.float32(scalars["Div"])) != (10.0, np.float32(2.3025851)) or ref != 0.0:
        raise ValueError(f"{path}: dB conversion is not 10*log10(x) (got {scalars}, ref {ref})")
    if np.float32(amin) != np.float32(cfg.amin) or top_db != cfg.top_db:
        raise ValueError(f"{path}: amin {amin} / top_db {top_db} differ from the config")
    matmul = next(n for n in graph.node if n.op_type == "MatMul")
    return {
        "melspectrogram.stft_real.weight": values[convs[0].input[1]],
        "melspectrogram.stft_imag.weight": values[convs[1].input[1]],
        "melspectrogram.mel_filters": values[matmul.input[1]],
    }


def _convert_embedding(path: pathlib.Path, cfg: SpeechEmbeddingConfig) -> dict[str, np.ndarray]:
    graph = onnx.load(str(path)).graph
    values = _constants(graph)
    tensors: dict[str, np.ndarray] = {}
    nodes = [n for n in graph.node if n.op_type != "Constant"]
    if nodes[0].op_type != "Reshape" or list(values[nodes[0].input[1]]) != [-1, 1, cfg.window_frames, cfg.n_mels]:
        raise ValueError(f"{path}: input is not a (B, {cfg.window_frames}, {cfg.n_mels}, 1) window")
    if nodes[-1].op_type != "Reshape" or list(values[nodes[-1].input[1]]) != [-1, 1, 1, cfg.embedding_dim]:
        raise ValueError(f"{path}: output is not (B, 1, 1, {cfg.embedding_dim})")
    conv_index = -1
    for node in nodes[1:-1]:
        a = _attrs(node)
        if node.op_type == "Conv":
            conv_index += 1
            weight = values[node.input[1]]
            kh, kw = weight.shape[2:]
            pads = a.get("pads", [0, 0, 0, 0])
            if a.get("strides", [1, 1]) != [1, 1] or a.get("group", 1) != 1 or pads != [0, (kw - 1) // 2, 0, (kw - 1) // 2]:
                raise ValueError(f"{path}: conv {conv_index} attributes {a} are not supported")
            bias = values[node.input[2]] if len(node.input) > 2 else np.zeros(weight.shape[0], np.float32)
            tensors[f"embedding.convs.{conv_index}.weight"] = weight
            tensors[f"embedding.convs.{conv_index}.bias"] = bias
            cfg.conv_kernels.append([int(kh), int(kw)])
            cfg.conv_channels.append([int(weight.shape[1]), int(weight.shape[0])])
        elif node.op_type == "LeakyRelu":
            if not np.isclose(a["alpha"], cfg.leaky_relu_slope):
                raise ValueError(f"{path}: LeakyRelu alpha {a['alpha']}")
        elif node.op_type == "Max":
            if float(values[node.input[1]].ravel()[0]) != np.float32(cfg.activation_floor):
                raise ValueError(f"{path}: activation floor {values[node.input[1]]}")
        elif node.op_type == "MaxPool":
            if a["kernel_shape"] != a["strides"] or any(a.get("pads", [0])):
                raise ValueError(f"{path}: max-pool {a} is not a plain non-overlapping pool")
            cfg.pools[str(conv_index)] = [int(v) for v in a["kernel_shape"]]
        else:
            raise ValueError(f"{path}: op {node.op_type} is not implemented by the Swift port")
    return tensors


def convert_speech_embedding(model_dir: pathlib.Path | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Return (`frontend.`-prefixed float32 tensors, config dict for `kinevox.config["frontend"]`)."""
    model_dir = pathlib.Path(model_dir or openwakeword_model_dir())
    cfg = SpeechEmbeddingConfig()
    tensors = _convert_melspectrogram(model_dir / "melspectrogram.onnx", cfg)
    tensors |= _convert_embedding(model_dir / "embedding_model.onnx", cfg)
    tensors = {PREFIX + k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}
    return tensors, dataclasses.asdict(cfg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=pathlib.Path, help="safetensors file to write (front end only)")
    args = parser.parse_args()
    from safetensors.numpy import save_file
    tensors, config = convert_speech_embedding()
    save_file(tensors, str(args.out), metadata={"kinevox.config": json.dumps({"frontend": config})})
    print(f"wrote {len(tensors)} tensors to {args.out}")


if __name__ == "__main__":
    main()
