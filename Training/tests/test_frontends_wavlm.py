"""WavLM conversion: committed tiny fixtures agree with transformers; official layout maps to the same tensors."""
import json
import pathlib

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from kinevox_train.fixtures.speech import TINY_WAVLM, tiny_wavlm
from kinevox_train.frontends import load_frontend
from kinevox_train.frontends.convert_wavlm import PREFIX, convert_hf, convert_official, fold_weight_norm, parse_conv_layers

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "Tests" / "Fixtures" / "Speech"


@pytest.mark.parametrize("style", list(TINY_WAVLM))
def test_fixture_output_is_transformers_output(style):
    path = str(FIXTURES / f"wavlm_{style}_tiny.safetensors")
    with safe_open(path, "pt") as f:
        cfg = json.loads(f.metadata()["kinevox.config"])["frontend"]
    model = load_frontend(cfg, {k.removeprefix(PREFIX): v for k, v in load_file(path).items()})  # transformers' WavLMModel
    io = load_file(str(FIXTURES / f"wavlm_{style}_tiny_io.safetensors"))
    with torch.no_grad():
        hidden = model(io["input"])
    assert hidden.shape == io["last_hidden_state"].shape
    assert (hidden - io["last_hidden_state"]).abs().max() <= 1e-5


def test_fold_weight_norm_equals_torch():
    conv = torch.nn.utils.parametrizations.weight_norm(torch.nn.Conv1d(8, 8, 5, groups=2), name="weight", dim=2)
    g = conv.parametrizations.weight.original0
    v = conv.parametrizations.weight.original1
    with torch.no_grad():
        g.mul_(torch.rand_like(g) + 0.5)
        assert torch.allclose(fold_weight_norm(g, v), conv.weight, atol=1e-7)


# The unilm checkpoint's own names for the tensors of a 2-layer model, written out literally.
def official_state_dict(hf_state: dict, style: str, layers: int) -> dict:
    extractor = {}
    for i in range(len(TINY_WAVLM[style]["conv_dim"])):
        extractor[f"feature_extractor.conv_layers.{i}.conv"] = f"feature_extractor.conv_layers.{i}.0"
        if style == "large":
            extractor[f"feature_extractor.conv_layers.{i}.layer_norm"] = f"feature_extractor.conv_layers.{i}.2.1"
    if style == "base":
        extractor["feature_extractor.conv_layers.0.layer_norm"] = "feature_extractor.conv_layers.0.2"
    names = extractor | {
        "feature_projection.layer_norm": "layer_norm",
        "feature_projection.projection": "post_extract_proj",
        "encoder.layer_norm": "encoder.layer_norm",
    }
    for i in range(layers):
        hf, off = f"encoder.layers.{i}.", f"encoder.layers.{i}."
        names |= {hf + "attention." + p: off + "self_attn." + p for p in ("q_proj", "k_proj", "v_proj", "out_proj")}
        names |= {hf + "attention.gru_rel_pos_linear": off + "self_attn.grep_linear",
                  hf + "attention.rel_attn_embed": off + "self_attn.relative_attention_bias",
                  hf + "layer_norm": off + "self_attn_layer_norm",
                  hf + "feed_forward.intermediate_dense": off + "fc1",
                  hf + "feed_forward.output_dense": off + "fc2",
                  hf + "final_layer_norm": off + "final_layer_norm"}
    out = {"mask_emb": torch.zeros(4), "encoder.pos_conv.0.bias": hf_state["encoder.pos_conv_embed.conv.bias"],
           "encoder.pos_conv.0.weight_g": hf_state["encoder.pos_conv_embed.conv.parametrizations.weight.original0"],
           "encoder.pos_conv.0.weight_v": hf_state["encoder.pos_conv_embed.conv.parametrizations.weight.original1"]}
    for key, value in hf_state.items():
        if key.endswith(".gru_rel_pos_const"):
            out[key.replace("attention.gru_rel_pos_const", "self_attn.grep_a")] = value
            continue
        module, _, leaf = key.rpartition(".")
        if module in names:
            out[f"{names[module]}.{leaf}"] = value
    return out


@pytest.mark.parametrize("style", list(TINY_WAVLM))
def test_official_layout_converts_to_the_same_tensors(style):
    model = tiny_wavlm(style)
    expected, hf_config = convert_hf(model)
    cfg = {"conv_feature_layers": " + ".join(f"[({d},{k},{s})]" for d, k, s in zip(
               model.config.conv_dim, model.config.conv_kernel, model.config.conv_stride)),
           "extractor_mode": "layer_norm" if style == "large" else "default",
           "conv_bias": model.config.conv_bias, "encoder_embed_dim": 32, "encoder_layers": 2,
           "encoder_attention_heads": 4, "encoder_ffn_embed_dim": 48, "conv_pos": model.config.num_conv_pos_embeddings,
           "conv_pos_groups": 4, "relative_position_embedding": True, "num_buckets": 32, "max_distance": 40,
           "gru_rel_pos": True, "layer_norm_first": style == "large", "normalize": False}
    got, official_config = convert_official({"cfg": cfg, "model": official_state_dict(model.state_dict(), style, 2)})
    assert official_config == hf_config
    assert sorted(got) == sorted(expected)
    for name in expected:
        assert torch.equal(got[name], expected[name]), name


def test_parse_conv_layers():
    assert parse_conv_layers("[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2") == \
        [(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512, 2, 2)] * 2
