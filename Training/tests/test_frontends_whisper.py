"""Whisper front end: the twin's log-mel vs faster-whisper, the twin vs CTranslate2 (committed outputs), the
converter on synthetic CTranslate2 files, and named errors for files it or the loader cannot use."""
import json
import pathlib
import struct

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import load_file

from kinevox_train.fixtures.whisper import BASE_ENCODER, TINY, tiny_whisper
from kinevox_train.frontends import convert_whisper
from kinevox_train.frontends.ctranslate2_model import CTranslate2ModelError, TruncatedModelError, read_model
from kinevox_train.frontends.whisper import (WhisperConfig, WhisperFileError, load_whisper, mel_filters, reference_section,
                                            sinusoids)

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "Tests" / "Fixtures" / "Speech"
# The twin and CTranslate2 float32 run the same fp16-valued weights in float32: only summation order and
# CTranslate2's own exp/GELU kernels differ, which six layers grow to a few 1e-4 on outputs of magnitude ~18.
CTRANSLATE2_TOLERANCE = 1e-3
MEL_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def base():
    return load_whisper(BASE_ENCODER)


@pytest.fixture(scope="module")
def base_io():
    return load_file(str(FIXTURES / "whisper_base_io.safetensors"))


def test_committed_encoder_has_the_recorded_sha256():
    recorded = (BASE_ENCODER.parent / (BASE_ENCODER.name + ".sha256")).read_text().split()[0]
    assert convert_whisper.sha256(BASE_ENCODER) == recorded


def test_mel_filters_equal_faster_whispers():
    from faster_whisper.feature_extractor import FeatureExtractor
    for n_mels in (80, 128):
        ours = mel_filters(16000, 400, n_mels).astype(np.float32)
        assert np.abs(ours - FeatureExtractor(feature_size=n_mels).mel_filters).max() <= 1e-7


@pytest.mark.parametrize("clip", ["walk", "wave", "noise", "tone"])
def test_log_mel_matches_faster_whisper(base, base_io, clip):
    from faster_whisper.feature_extractor import FeatureExtractor
    rng = np.random.default_rng(4)
    audio = {"noise": (rng.standard_normal(7_777) * 0.1).astype(np.float32),
             "tone": (0.5 * np.sin(np.arange(12_000) * 0.3)).astype(np.float32)}.get(clip)
    if audio is None:
        audio = base_io[f"{clip}.audio"]
    reference = FeatureExtractor()(audio)
    with torch.no_grad():
        ours = base.log_mel(torch.from_numpy(audio)).numpy()
    assert ours.shape == reference.shape
    assert np.abs(ours - reference).max() <= MEL_TOLERANCE


@pytest.mark.parametrize("clip", ["walk", "wave"])
def test_twin_matches_ctranslate2_encode(base, base_io, clip):
    with torch.no_grad():
        ours = base.encode(torch.from_numpy(base_io[f"{clip}.mel"])).numpy()
    reference = base_io[f"{clip}.ctranslate2"]
    assert ours.shape == reference.shape == (base.cfg.frame_count(len(base_io[f"{clip}.audio"])), 512)
    assert np.abs(ours - reference).max() <= CTRANSLATE2_TOLERANCE


@pytest.mark.parametrize("clip", ["walk", "wave"])
def test_committed_twin_output_is_current(base, base_io, clip):
    """`.twin` is the float64 twin's output; the float32 twin stays within the tolerance Swift is held to."""
    exact = load_whisper(BASE_ENCODER).double()
    with torch.no_grad():
        ours = exact(torch.from_numpy(base_io[f"{clip}.audio"]).double()).float().numpy()
        float32 = base(torch.from_numpy(base_io[f"{clip}.audio"])).numpy()
    assert np.abs(ours - base_io[f"{clip}.twin"]).max() <= 1e-6
    with torch.no_grad():
        layer3 = exact.encode(exact.log_mel(torch.from_numpy(base_io[f"{clip}.audio"]).double()), output_layer=3)
    assert np.abs(layer3.float().numpy() - base_io[f"{clip}.twin_layer3"]).max() <= 1e-6
    assert np.abs(float32 - base_io[f"{clip}.twin"]).max() <= 1e-4


@pytest.mark.parametrize("name", list(TINY))
def test_tiny_fixture_output_is_the_twins(name):
    model = load_whisper(FIXTURES / f"whisper_{name}_tiny.safetensors")
    io = load_file(str(FIXTURES / f"whisper_{name}_tiny_io.safetensors"))
    with torch.no_grad():
        out = model(torch.from_numpy(io["audio"])).numpy()
    assert out.shape == io["output"].shape == (model.cfg.frame_count(len(io["audio"])), model.cfg.d_model)
    assert np.abs(out - io["output"]).max() <= 1e-5


def test_intermediate_layer_is_the_residual_stream_after_that_block(base, base_io):
    mel = torch.from_numpy(base_io["walk.mel"])
    with torch.no_grad():
        third = base.encode(mel, output_layer=3)
        x = base.encode(mel, output_layer=2)
        assert torch.allclose(base.blocks[2](x), third, atol=1e-6)
        assert not torch.allclose(base.ln_post(third), base.encode(mel), atol=1e-2)


def test_frame_count_and_length_limit():
    cfg = WhisperConfig()
    model = tiny_whisper("a")
    for samples in (400, 401, 559, 560, 719, 720, 3_333):
        with torch.no_grad():
            assert model(torch.zeros(samples) + 0.01).shape[0] == model.cfg.frame_count(samples)
    assert cfg.frame_count(cfg.max_samples) == cfg.n_ctx and cfg.frame_count(cfg.max_samples + 1) == cfg.n_ctx + 1
    assert cfg.max_samples == 30 * 16000 - 1
    with pytest.raises(ValueError, match="stored positions"):
        model(torch.zeros(model.cfg.max_samples + 1))


# --- converter, on a CTranslate2 file written from a tiny twin --------------------------------------------

def _name(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def ctranslate2_bytes(model, key_bias: float = 0.0, version: int = 6, int8: str | None = None) -> bytes:
    """A WhisperSpec model.bin holding `model`'s encoder in fp16 (the layout CTranslate2 4.x writes)."""
    sd = {k: v.numpy() for k, v in model.state_dict().items()}
    d = model.cfg.d_model
    variables = {"encoder/conv1/weight": sd["conv1.weight"], "encoder/conv1/bias": sd["conv1.bias"],
                 "encoder/conv2/weight": sd["conv2.weight"], "encoder/conv2/bias": sd["conv2.bias"],
                 "encoder/layer_norm/gamma": sd["ln_post.weight"], "encoder/layer_norm/beta": sd["ln_post.bias"],
                 "encoder/position_encodings/encodings": sd["positional_embedding"]}
    for i in range(model.cfg.n_layers):
        p, c = f"blocks.{i}.", f"encoder/layer_{i}/"
        variables[c + "self_attention/linear_0/weight"] = np.concatenate(
            [sd[p + "attn.query.weight"], sd[p + "attn.key.weight"], sd[p + "attn.value.weight"]])
        variables[c + "self_attention/linear_0/bias"] = np.concatenate(
            [sd[p + "attn.query.bias"], np.full(d, key_bias, np.float32), sd[p + "attn.value.bias"]])
        for ours, theirs in {"attn.out": "self_attention/linear_1", "mlp.0": "ffn/linear_0", "mlp.2": "ffn/linear_1"}.items():
            variables[f"{c}{theirs}/weight"], variables[f"{c}{theirs}/bias"] = sd[p + ours + ".weight"], sd[p + ours + ".bias"]
        for ours, theirs in {"attn_ln": "self_attention/layer_norm", "mlp_ln": "ffn/layer_norm"}.items():
            variables[f"{c}{theirs}/gamma"], variables[f"{c}{theirs}/beta"] = sd[p + ours + ".weight"], sd[p + ours + ".bias"]
    out = struct.pack("<I", version) + _name("WhisperSpec") + struct.pack("<II", 3, len(variables) + 2)
    for name, value in sorted(variables.items()):
        code, array = (1, value.astype(np.int8)) if name == int8 else (4, value.astype(np.float16))
        out += _name(name) + struct.pack(f"<B{value.ndim}I", value.ndim, *value.shape)
        out += struct.pack("<BI", code, array.nbytes) + array.tobytes()
    out += _name("encoder/num_heads") + struct.pack("<BBI", 0, 2, 2) + struct.pack("<h", model.cfg.n_heads)
    out += _name("decoder/embeddings/weight") + struct.pack("<B2IBI", 2, 2, 2, 4, 8) + np.zeros(4, np.float16).tobytes()
    return out + struct.pack("<I", 1) + _name("decoder/projection/weight") + _name("decoder/embeddings/weight")


@pytest.fixture(scope="module")
def tiny_twin():
    torch.manual_seed(2)
    model = tiny_whisper("a")
    with torch.no_grad():  # a released model's positions: the full 30 s table
        model.positional_embedding = torch.from_numpy(sinusoids(1500, 32)).float()
    model.cfg.n_ctx = 1500
    return model


def test_converter_round_trip(tiny_twin, tmp_path):
    out = tmp_path / "enc.safetensors"
    cfg = convert_whisper.convert(ctranslate2_bytes(tiny_twin), out, "tiny")
    assert (cfg.d_model, cfg.n_heads, cfg.n_layers, cfg.ffn_dim, cfg.n_mels) == (32, 4, 2, 64, 80)
    loaded = load_whisper(out)
    expected = tiny_twin.state_dict()
    with safe_open(str(out), "np") as f:
        assert sorted(f.keys()) == sorted("frontend." + k for k in expected)
        assert f.get_tensor("frontend.mel_filters").dtype == np.float32
        assert f.get_tensor("frontend.conv1.weight").dtype == np.float16
        assert set(json.loads(f.metadata()["kinevox.config"])["frontend"]) == set(WhisperConfig.__dataclass_fields__)
    for name, value in loaded.state_dict().items():
        want = expected[name] if name == "mel_filters" else expected[name].half().float()
        assert torch.equal(value, want), name
    convert_whisper.convert(ctranslate2_bytes(tiny_twin), tmp_path / "again.safetensors", "tiny")
    assert (tmp_path / "again.safetensors").read_bytes() == out.read_bytes()


def test_converter_refuses_what_it_does_not_understand(tiny_twin, tmp_path):
    good = ctranslate2_bytes(tiny_twin)
    with pytest.raises(TruncatedModelError, match="truncated: data of"):
        read_model(good[: len(good) // 2], "half.bin")
    with pytest.raises(TruncatedModelError, match="binary version"):
        read_model(good[:2], "two.bin")
    with pytest.raises(CTranslate2ModelError, match="binary version 5"):
        read_model(ctranslate2_bytes(tiny_twin, version=5))
    with pytest.raises(CTranslate2ModelError, match="bytes after the last alias"):
        read_model(good + b"\0")
    with pytest.raises(CTranslate2ModelError, match="key bias"):
        convert_whisper.convert(ctranslate2_bytes(tiny_twin, key_bias=0.5), tmp_path / "x.safetensors", "kb")
    with pytest.raises(CTranslate2ModelError, match="quantized"):
        convert_whisper.convert(ctranslate2_bytes(tiny_twin, int8="encoder/layer_0/ffn/linear_0/weight"),
                                tmp_path / "x.safetensors", "q")
    with torch.no_grad():
        tiny_twin.positional_embedding[3, 0] += 0.01
    try:
        with pytest.raises(CTranslate2ModelError, match="sinusoids"):
            convert_whisper.convert(ctranslate2_bytes(tiny_twin), tmp_path / "x.safetensors", "pos")
    finally:
        with torch.no_grad():
            tiny_twin.positional_embedding[3, 0] -= 0.01


def test_bad_or_truncated_converted_file_is_a_named_error(tmp_path):
    good = (FIXTURES / "whisper_a_tiny.safetensors").read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(good[: len(good) - 100])
    (tmp_path / "garbage.safetensors").write_bytes(b"not a model at all")
    for name in ("truncated", "garbage"):
        with pytest.raises(WhisperFileError, match="not a readable safetensors file"):
            load_whisper(tmp_path / f"{name}.safetensors")
    from safetensors.numpy import save_file
    tensors = load_file(str(FIXTURES / "whisper_a_tiny.safetensors"))
    save_file(tensors, str(tmp_path / "no_config.safetensors"))
    with pytest.raises(WhisperFileError, match="no Whisper 'frontend' config"):
        load_whisper(tmp_path / "no_config.safetensors")
    del tensors["frontend.blocks.1.mlp.2.bias"]
    with safe_open(str(FIXTURES / "whisper_a_tiny.safetensors"), "np") as f:
        save_file(tensors, str(tmp_path / "missing.safetensors"), metadata=f.metadata())
    with pytest.raises(WhisperFileError, match="blocks.1.mlp.2.bias"):
        load_whisper(tmp_path / "missing.safetensors")


def test_reference_section_names_the_file_and_its_digest():
    section = reference_section(BASE_ENCODER, "whisper-base-encoder.safetensors", output_layer=4)
    recorded = (BASE_ENCODER.parent / (BASE_ENCODER.name + ".sha256")).read_text().split()[0]
    # The keys Swift's FrontEndFile decodes (file, sha256, output_layer) beside the ones every front end has.
    assert section == {"kind": "whisper", "feature_dim": 512, "frame_ms": 20.0, "file": "whisper-base-encoder.safetensors",
                       "sha256": recorded, "output_layer": 4}
    with pytest.raises(ValueError, match="output_layer 7"):
        reference_section(BASE_ENCODER, "x", output_layer=7)
