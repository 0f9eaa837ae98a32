"""The twin dispatches like Swift: `load_frontend` builds each kind from a model file's `frontend` section, the kind
lists equal Swift's enums, and the config keys each converter writes are exactly the ones Swift decodes."""
import dataclasses
import json
import pathlib
import re

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import load_file

from kinevox_train.frontends import FRONTEND_KINDS, load_frontend
from kinevox_train.frontends.convert_wavlm import config_from_hf, config_from_official
from kinevox_train.frontends.speech_embedding_net import SpeechEmbeddingConfig
from kinevox_train.frontends.whisper import WhisperConfig, reference_section
from kinevox_train.models.config import ENCODER_KINDS

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCES = ROOT / "Sources"
FIXTURES = ROOT / "Tests" / "Fixtures" / "Speech"


def _cases(block: str) -> list[str]:
    """The raw values of the `case` items in the body of a Swift String enum."""
    names = []
    for line in re.findall(r"\bcase\s+([^\n}]+)", block):
        for item in line.split(","):
            match = re.fullmatch(r'\s*(\w+)(?:\s*=\s*"([^"]+)")?\s*', item)
            assert match, f"unparsed enum case {item!r}"
            names.append(match.group(2) or match.group(1))
    return names


def swift_enum(file: str, name: str) -> list[str]:
    text = (SOURCES / file).read_text()
    body = text[text.index(f"enum {name}"):]
    return _cases(body[body.index("{") + 1:body.index("\n}")])


def swift_coding_keys(file: str, struct: str) -> set[str]:
    text = (SOURCES / file).read_text()
    body = text[text.index(f"struct {struct}"):]
    body = body[body.index("enum CodingKeys"):]
    return set(_cases(body[body.index("{") + 1:body.index("}")]))


SECTION = swift_coding_keys("KinevoxSpeech/SpeechFrontEnd.swift", "SpeechFrontEndSection")


def test_kind_lists_are_swifts():
    assert list(FRONTEND_KINDS) == swift_enum("KinevoxSpeech/SpeechFrontEnd.swift", "SpeechFrontEndKind")
    assert list(ENCODER_KINDS) == swift_enum("KinevoxSpeech/AudioEncoder.swift", "AudioEncoderKind")


def test_speech_embedding_converter_keys_are_swifts():
    written = set(dataclasses.asdict(SpeechEmbeddingConfig()))  # what convert_speech_embedding returns
    assert written == swift_coding_keys("KinevoxSpeech/SpeechEmbedding.swift", "SpeechEmbeddingConfig") | SECTION


def test_wavlm_converter_keys_are_swifts():
    from transformers import WavLMConfig
    swift = swift_coding_keys("KinevoxSpeech/WavLM.swift", "WavLMConfig") | SECTION
    assert set(config_from_hf(WavLMConfig())) == swift
    assert set(config_from_official({"relative_position_embedding": True, "gru_rel_pos": True})) == swift


def test_whisper_converter_keys_are_swifts():
    assert set(dataclasses.asdict(WhisperConfig())) == swift_coding_keys("KinevoxSpeech/Whisper.swift", "WhisperConfig") | SECTION
    section = reference_section(ROOT / "Models" / "whisper-base-encoder.safetensors", "whisper-base-encoder.safetensors", 4)
    assert set(section) == SECTION | swift_coding_keys("KinevoxModel/FrontEndFile.swift", "FrontEndFile")


def _file(path: pathlib.Path) -> tuple[dict, dict[str, torch.Tensor]]:
    with safe_open(str(path), framework="pt") as f:
        config = json.loads(f.metadata()["kinevox.config"])["frontend"]
        tensors = {k.removeprefix("frontend."): f.get_tensor(k).float() for k in f.keys() if k.startswith("frontend.")}
    return config, tensors


@pytest.mark.parametrize("fixture, io, audio, expected, tolerance", [
    ("whisper_a_tiny", "whisper_a_tiny_io", "audio", "output", 1e-5),
    ("wavlm_base_tiny", "wavlm_base_tiny_io", "input", "last_hidden_state", 1e-5),
])
def test_load_frontend_builds_the_kind_the_file_names(fixture, io, audio, expected, tolerance):
    model = load_frontend(*_file(FIXTURES / f"{fixture}.safetensors"))
    data = load_file(str(FIXTURES / f"{io}.safetensors"))
    with torch.no_grad():
        out = model(torch.from_numpy(data[audio])).numpy()
    assert out.shape == data[expected].shape
    assert np.abs(out - data[expected]).max() <= tolerance


def test_load_frontend_reads_the_bundled_models_speech_embedding():
    config, tensors = _file(ROOT / "Models" / "kinevox-default.safetensors")
    assert config["kind"] == "speech_embedding"
    model = load_frontend(config, tensors)
    data = load_file(str(FIXTURES / "speech_embedding_parity.safetensors"))  # openwakeword's own output
    with torch.no_grad():
        out = model(torch.from_numpy(data["speech.audio"])).numpy()
    assert out.shape == data["speech.embeddings"].shape
    # the bundled file stores fp16 weights: within 1 % of the embeddings' range
    assert np.abs(out - data["speech.embeddings"]).max() <= 1e-2 * np.abs(data["speech.embeddings"]).max()


def test_unknown_kind_lists_the_known_ones():
    with pytest.raises(ValueError, match="kind 'hubert' is not one of 'speech_embedding', 'wavlm', 'whisper'"):
        load_frontend({"kind": "hubert"}, {})
