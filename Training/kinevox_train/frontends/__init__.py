"""Speech front ends: speech_embedding (ONNX → safetensors), WavLM checkpoint conversion, Whisper (CTranslate2
model.bin → encoder file, and its PyTorch twin).

`load_frontend(config, tensors)` is the twin of Swift's `loadSpeechFrontEnd` (Sources/KinevoxSpeech/SpeechFrontEnd.swift):
it builds the front end a `frontend` config section names by its `kind`. `FRONTEND_KINDS` is the one list of kinds on
this side (a test holds it equal to Swift's `SpeechFrontEndKind`)."""
from __future__ import annotations

import torch
from torch import nn

from .speech_embedding_net import SpeechEmbeddingConfig, SpeechEmbeddingNet
from .whisper import WhisperConfig, WhisperEncoder

#: Front-end kinds, as Swift's `SpeechFrontEndKind` spells them.
FRONTEND_KINDS = ("speech_embedding", "wavlm", "whisper")
#: The module and function of the converter whose tensors `export` embeds in a model file, per kind; the other kinds
#: live in a front-end file of their own (whisper) or are converted separately (wavlm).
EMBEDDED_CONVERTERS = {"speech_embedding": ("kinevox_train.frontends.convert_speech_embedding", "convert_speech_embedding")}


class WavLMFrontEnd(nn.Module):
    """transformers' `WavLMModel` as a front end: samples (N,) → last hidden states (T, hidden_size), the waveform
    normalised first when the config says so (Swift's `WavLM`). State dict: `WavLMModel`'s, weight norm folded."""

    def __init__(self, config: dict):
        super().__init__()
        from torch.nn.utils import parametrize
        from transformers import WavLMConfig, WavLMModel
        keys = ("conv_dim", "conv_kernel", "conv_stride", "conv_bias", "feat_extract_norm", "hidden_size",
                "num_hidden_layers", "num_attention_heads", "intermediate_size", "num_conv_pos_embeddings",
                "num_conv_pos_embedding_groups", "num_buckets", "max_bucket_distance", "do_stable_layer_norm",
                "layer_norm_eps")
        self.normalize_waveform = bool(config.get("normalize_waveform", False))
        self.model = WavLMModel(WavLMConfig(mask_time_prob=0.0, **{k: config[k] for k in keys}))
        parametrize.remove_parametrizations(self.model.encoder.pos_conv_embed.conv, "weight")

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        return self.model.load_state_dict(state_dict, strict=strict, assign=assign)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if self.normalize_waveform:
            audio = torch.nn.functional.layer_norm(audio, audio.shape)
        return self.model(audio[None]).last_hidden_state[0]


_BUILDERS = {"speech_embedding": lambda config: SpeechEmbeddingNet(SpeechEmbeddingConfig(**config)),
             "wavlm": WavLMFrontEnd,
             "whisper": lambda config: WhisperEncoder(WhisperConfig(**config))}
assert tuple(_BUILDERS) == FRONTEND_KINDS


def load_frontend(config: dict, tensors: dict[str, torch.Tensor]) -> nn.Module:
    """The float32 twin (eval mode) of the front end `config` (a model's `frontend` section) names, with `tensors`
    (state_dict names, the `frontend.` prefix removed) loaded strictly. It maps 16 kHz samples (N,) to features
    (T, feature_dim). An unknown kind is a ValueError listing the known ones."""
    kind = config.get("kind")
    if kind not in _BUILDERS:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(repr(k) for k in FRONTEND_KINDS)}")
    model = _BUILDERS[kind](config)
    model.load_state_dict(tensors, strict=True)
    return model.float().eval()
