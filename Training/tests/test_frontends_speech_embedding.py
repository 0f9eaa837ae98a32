"""The converted speech_embedding weights, run by the PyTorch twin, equal onnxruntime on the graphs."""
import pathlib
import shutil

import numpy as np
import onnx
import pytest
import torch
from safetensors.numpy import load_file

from kinevox_train.frontends.convert_speech_embedding import PREFIX, convert_speech_embedding
from kinevox_train.frontends.speech_embedding import SpeechEmbedding, openwakeword_model_dir
from kinevox_train.frontends.speech_embedding_net import SpeechEmbeddingConfig, SpeechEmbeddingNet

FIXTURE = pathlib.Path(__file__).resolve().parents[2] / "Tests" / "Fixtures" / "Speech" / "speech_embedding_parity.safetensors"
# Max abs error on embeddings (values reach ~50). Speech, silence and noise only: for a pure tone the
# float32 STFT is ill-conditioned (cancellation in off-peak bins) and onnxruntime itself is >1e-4 from
# a float64 mel, so no float32 implementation can promise 1e-4 there.
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def net() -> SpeechEmbeddingNet:
    tensors, config = convert_speech_embedding()
    model = SpeechEmbeddingNet(SpeechEmbeddingConfig(**config))
    model.load_state_dict({k[len(PREFIX):]: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    return model.eval()


@pytest.fixture(scope="module")
def reference() -> SpeechEmbedding:
    return SpeechEmbedding()


def clips() -> dict[str, np.ndarray]:
    fixture = load_file(str(FIXTURE))
    rng = np.random.default_rng(11)
    out = {name: fixture[f"{name}.audio"] for name in ("speech", "silence", "noise")}
    out["loud_noise_2s"] = np.clip(rng.standard_normal(32_000) * 0.5, -1, 1).astype(np.float32)
    return out


@pytest.mark.parametrize("name", list(clips()))
def test_twin_equals_onnxruntime(net, reference, name):
    audio = clips()[name]
    expected = reference(audio)
    with torch.no_grad():
        got = net(torch.from_numpy(audio)).numpy()
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= TOLERANCE


def test_fixture_matches_current_reference(reference):
    fixture = load_file(str(FIXTURE))
    for name in ("speech", "silence", "noise"):
        assert np.array_equal(reference(fixture[f"{name}.audio"]), fixture[f"{name}.embeddings"]), name


def test_tensor_names_and_config():
    tensors, config = convert_speech_embedding()
    assert config["kind"] == "speech_embedding"
    assert len(config["conv_kernels"]) == 20 and sorted(config["pools"], key=int) == ["2", "6", "10", "14", "18"]
    assert tensors["frontend.melspectrogram.stft_real.weight"].shape == (257, 1, 512)
    assert tensors["frontend.melspectrogram.mel_filters"].shape == (257, 32)
    assert tensors["frontend.embedding.convs.19.weight"].shape == (96, 96, 3, 1)
    assert all(v.dtype == np.float32 for v in tensors.values())


def test_unsupported_graph_is_rejected(tmp_path):
    source = openwakeword_model_dir()
    shutil.copy(source / "embedding_model.onnx", tmp_path / "embedding_model.onnx")
    model = onnx.load(str(source / "melspectrogram.onnx"))
    conv = next(n for n in model.graph.node if n.op_type == "Conv")
    next(a for a in conv.attribute if a.name == "strides").ints[0] = 128
    onnx.save(model, str(tmp_path / "melspectrogram.onnx"))
    with pytest.raises(ValueError, match="STFT conv"):
        convert_speech_embedding(tmp_path)


def test_cli_writes_loadable_file(tmp_path, monkeypatch):
    import json
    import sys
    from safetensors import safe_open
    from kinevox_train.frontends import convert_speech_embedding as module
    out = tmp_path / "frontend.safetensors"
    monkeypatch.setattr(sys, "argv", ["convert", str(out)])
    module.main()
    assert len(load_file(str(out))) == 43
    with safe_open(str(out), "np") as f:
        assert json.loads(f.metadata()["kinevox.config"])["frontend"]["kind"] == "speech_embedding"
