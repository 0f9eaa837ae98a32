"""Convert WavLM checkpoints (Hugging Face `WavLMModel` or microsoft/unilm `WavLM.pt`) to Kinevox tensors.

    python -m kinevox_train.frontends.convert_wavlm --hf DIR_OR_HUB_NAME OUT.safetensors
    python -m kinevox_train.frontends.convert_wavlm --official WavLM-Base+.pt OUT.safetensors

Kinevox tensor names are `frontend.` + the Hugging Face `WavLMModel` state_dict keys, with the positional
convolution's weight norm folded into a plain `encoder.pos_conv_embed.conv.weight`. `kinevox_tensors` is
the one place where checkpoint keys are remapped; the Swift WavLM binds the result by name.
"""
from __future__ import annotations

import argparse
import ast
import json
import pathlib
import re

import torch

PREFIX = "frontend."

# microsoft/unilm WavLM key patterns → Hugging Face WavLMModel keys ({i} = layer index).
OFFICIAL_TO_HF = [
    (r"feature_extractor\.conv_layers\.(\d+)\.0\.", r"feature_extractor.conv_layers.\1.conv."),
    (r"feature_extractor\.conv_layers\.(\d+)\.2\.1\.", r"feature_extractor.conv_layers.\1.layer_norm."),
    (r"feature_extractor\.conv_layers\.(\d+)\.2\.", r"feature_extractor.conv_layers.\1.layer_norm."),
    (r"^layer_norm\.", "feature_projection.layer_norm."),
    (r"^post_extract_proj\.", "feature_projection.projection."),
    (r"^encoder\.pos_conv\.0\.", "encoder.pos_conv_embed.conv."),
    (r"\.self_attn\.grep_linear\.", ".attention.gru_rel_pos_linear."),
    (r"\.self_attn\.grep_a$", ".attention.gru_rel_pos_const"),
    (r"\.self_attn\.relative_attention_bias\.", ".attention.rel_attn_embed."),
    (r"\.self_attn\.(q|k|v|out)_proj\.", r".attention.\1_proj."),
    (r"\.self_attn_layer_norm\.", ".layer_norm."),
    (r"\.fc1\.", ".feed_forward.intermediate_dense."),
    (r"\.fc2\.", ".feed_forward.output_dense."),
]
# Training-only tensors that inference never reads.
DROPPED = re.compile(r"^(masked_spec_embed|mask_emb|label_embs_concat|final_proj\.|quantizer\.|project_q\.|adapter\.)")
# Weight-norm halves of the positional convolution, in either checkpoint's spelling.
WEIGHT_NORM_G = ("encoder.pos_conv_embed.conv.parametrizations.weight.original0", "encoder.pos_conv_embed.conv.weight_g")
WEIGHT_NORM_V = ("encoder.pos_conv_embed.conv.parametrizations.weight.original1", "encoder.pos_conv_embed.conv.weight_v")


def official_key_to_hf(key: str) -> str:
    for pattern, replacement in OFFICIAL_TO_HF:
        key, count = re.subn(pattern, replacement, key)
        if count:
            return key
    return key


def fold_weight_norm(g: torch.Tensor, v: torch.Tensor, dim: int = 2) -> torch.Tensor:
    """weight = g · v / ‖v‖, the norm taken over every axis but `dim` (torch weight_norm semantics)."""
    axes = [a for a in range(v.dim()) if a != dim]
    return g * v / v.norm(dim=axes, keepdim=True)


def kinevox_tensors(state_dict: dict[str, torch.Tensor], official: bool) -> dict[str, torch.Tensor]:
    """Remap a checkpoint's state_dict to `frontend.`-prefixed Kinevox names (float32, weight norm folded)."""
    renamed = {}
    for key, value in state_dict.items():
        key = key.removeprefix("wavlm.")
        if official:
            key = official_key_to_hf(key)
        if not DROPPED.match(key):
            renamed[key] = value.detach().to(torch.float32)
    g = next((renamed.pop(k) for k in WEIGHT_NORM_G if k in renamed), None)
    v = next((renamed.pop(k) for k in WEIGHT_NORM_V if k in renamed), None)
    if g is not None and v is not None:
        renamed["encoder.pos_conv_embed.conv.weight"] = fold_weight_norm(g, v)
    if "encoder.pos_conv_embed.conv.weight" not in renamed:
        raise ValueError("checkpoint has no positional convolution weight (weight_g/weight_v or folded)")
    return {PREFIX + k: v.contiguous() for k, v in renamed.items()}


def _hop_samples(strides) -> int:
    hop = 1
    for stride in strides:
        hop *= stride
    return hop


def config_from_hf(hf, normalize_waveform: bool = False) -> dict:
    """The `frontend` config dict from a transformers `WavLMConfig`. `normalize_waveform` is the
    checkpoint's preprocessor `do_normalize` (true for WavLM-Large, false for Base/Base+)."""
    return {
        "kind": "wavlm", "feature_dim": hf.hidden_size, "frame_ms": 1000.0 * _hop_samples(hf.conv_stride) / 16000,
        "conv_dim": list(hf.conv_dim), "conv_kernel": list(hf.conv_kernel), "conv_stride": list(hf.conv_stride),
        "conv_bias": bool(hf.conv_bias), "feat_extract_norm": hf.feat_extract_norm,
        "hidden_size": hf.hidden_size, "num_hidden_layers": hf.num_hidden_layers,
        "num_attention_heads": hf.num_attention_heads, "intermediate_size": hf.intermediate_size,
        "num_conv_pos_embeddings": hf.num_conv_pos_embeddings,
        "num_conv_pos_embedding_groups": hf.num_conv_pos_embedding_groups,
        "num_buckets": hf.num_buckets, "max_bucket_distance": hf.max_bucket_distance,
        "do_stable_layer_norm": bool(hf.do_stable_layer_norm), "layer_norm_eps": hf.layer_norm_eps,
        "normalize_waveform": normalize_waveform,
    }


def parse_conv_layers(spec: str) -> list[tuple[int, int, int]]:
    """unilm's conv spec, e.g. "[(512,10,5)] + [(512,3,2)] * 4", as a list of (dim, kernel, stride)."""
    layers = []
    for term in spec.split("+"):
        items, _, repeat = term.partition("*")
        layers += list(ast.literal_eval(items.strip())) * (int(repeat) if repeat.strip() else 1)
    return layers


def config_from_official(cfg: dict) -> dict:
    """The `frontend` config dict from a unilm checkpoint's `cfg` (its WavLMConfig fields)."""
    layers = parse_conv_layers(cfg.get("conv_feature_layers", "[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2"))
    if not cfg.get("relative_position_embedding", False) or not cfg.get("gru_rel_pos", False):
        raise ValueError("only WavLM checkpoints with gated relative position bias are supported")
    if cfg.get("activation_fn", "gelu") != "gelu":
        raise ValueError(f"activation {cfg['activation_fn']} is not supported (gelu only)")
    return {
        "kind": "wavlm", "feature_dim": cfg.get("encoder_embed_dim", 768),
        "frame_ms": 1000.0 * _hop_samples([l[2] for l in layers]) / 16000,
        "conv_dim": [l[0] for l in layers], "conv_kernel": [l[1] for l in layers], "conv_stride": [l[2] for l in layers],
        "conv_bias": bool(cfg.get("conv_bias", False)),
        "feat_extract_norm": "layer" if cfg.get("extractor_mode", "default") == "layer_norm" else "group",
        "hidden_size": cfg.get("encoder_embed_dim", 768), "num_hidden_layers": cfg.get("encoder_layers", 12),
        "num_attention_heads": cfg.get("encoder_attention_heads", 12),
        "intermediate_size": cfg.get("encoder_ffn_embed_dim", 3072),
        "num_conv_pos_embeddings": cfg.get("conv_pos", 128), "num_conv_pos_embedding_groups": cfg.get("conv_pos_groups", 16),
        "num_buckets": cfg.get("num_buckets", 320), "max_bucket_distance": cfg.get("max_distance", 1280),
        "do_stable_layer_norm": bool(cfg.get("layer_norm_first", False)), "layer_norm_eps": 1e-5,
        "normalize_waveform": bool(cfg.get("normalize", False)),
    }


def convert_hf(model, normalize_waveform: bool = False) -> tuple[dict[str, torch.Tensor], dict]:
    """(Kinevox tensors, frontend config) from a transformers `WavLMModel` (or a model wrapping one as `.wavlm`)."""
    model = getattr(model, "wavlm", model)
    return kinevox_tensors(model.state_dict(), official=False), config_from_hf(model.config, normalize_waveform)


def convert_official(checkpoint: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """(Kinevox tensors, frontend config) from a loaded unilm checkpoint {"cfg": ..., "model": state_dict}."""
    return kinevox_tensors(checkpoint["model"], official=True), config_from_official(checkpoint["cfg"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--hf", help="Hugging Face model directory or hub name (loaded offline if cached)")
    source.add_argument("--official", type=pathlib.Path, help="microsoft/unilm WavLM checkpoint (.pt)")
    parser.add_argument("--normalize-waveform", action="store_true",
                        help="with --hf: the checkpoint's preprocessor normalizes audio (WavLM-Large)")
    parser.add_argument("out", type=pathlib.Path)
    args = parser.parse_args()
    if args.hf:
        from transformers import WavLMModel
        tensors, config = convert_hf(WavLMModel.from_pretrained(args.hf), args.normalize_waveform)
    else:
        tensors, config = convert_official(torch.load(args.official, map_location="cpu", weights_only=False))
    from safetensors.torch import save_file
    save_file(tensors, str(args.out), metadata={"kinevox.config": json.dumps({"frontend": config})})
    print(f"wrote {len(tensors)} tensors to {args.out}")


if __name__ == "__main__":
    main()
