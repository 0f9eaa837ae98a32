"""The committed audio-encoder fixtures still match the training side's `AudioEncoder` (what Swift ports)."""
import json
import pathlib

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from kinevox_train.fixtures.speech import TINY_ENCODERS
from kinevox_train.models.audio_encoder import AudioEncoder
from kinevox_train.models.config import AudioEncoderConfig

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "Tests" / "Fixtures" / "Speech"


@pytest.mark.parametrize("name", list(TINY_ENCODERS))
def test_fixture_output_is_audio_encoder_output(name):
    path = str(FIXTURES / f"audio_encoder_{name}_tiny.safetensors")
    with safe_open(path, "pt") as f:
        cfg = AudioEncoderConfig(**json.loads(f.metadata()["kinevox.config"])["audio_encoder"])
    model = AudioEncoder(cfg).eval()
    model.load_state_dict({k.removeprefix("audio_encoder."): v for k, v in load_file(path).items()}, strict=True)
    io = load_file(str(FIXTURES / "audio_encoder_tiny_io.safetensors"))
    with torch.no_grad():
        out = model(io["features"], io["lengths"].long())
    assert (out - io[f"{name}.output"]).abs().max() <= 1e-6
