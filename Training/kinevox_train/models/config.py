"""Architecture configuration: plain dataclasses shared (as snake_case JSON) with the Swift `Codable` configs.

The whole model's config is serialised as JSON under the safetensors `__metadata__` key `kinevox.config`
with the top-level keys `frontend`, `audio_encoder`, `length_estimator`, `rvq`, `mask_transformer`,
`res_transformer`, `sampling`.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

ENCODER_KINDS = ("memory", "transformer", "conv1d", "avgpool", "identity")


def frontend_section(kind: str = "speech_embedding", feature_dim: int = 96, frame_ms: float = 80.0, **extra) -> dict:
    """The `frontend` config section: a dict owned by the front-end converters (kinevox_train.frontends), which
    add their own keys; every front end has at least `kind` ("speech_embedding" | "wavlm" | "whisper"),
    `feature_dim` (the width the audio encoder receives) and `frame_ms` (feature period)."""
    return {"kind": kind, "feature_dim": feature_dim, "frame_ms": frame_ms, **extra}


@dataclass
class AudioEncoderConfig:
    """Audio encoder: front-end features [B, S, input_dim] -> condition tokens [B, num_cond_tokens, dim].

    kind: "memory" (paper 3.2, memory retrieval), "transformer" (input projection + encoder, learnable
    condition/CLS tokens), "conv1d" (strided convolutions, then adaptive average pooling to
    num_cond_tokens), "avgpool" (padding-aware adaptive average pooling of the features to num_cond_tokens,
    then a projection), "identity" (features are already the condition tokens, e.g. a MiniLM sentence
    embedding for the text-conditioned baseline; no parameters, dim must equal input_dim).
    """
    kind: str = "memory"
    input_dim: int = 96
    dim: int = 512
    num_memory: int = 256
    num_layers: int = 2
    num_heads: int = 8
    ff_dim: int = 1024
    num_cond_tokens: int = 1
    num_conv_layers: int = 3
    dropout: float = 0.1
    max_positions: int = 1024


@dataclass
class LengthEstimatorConfig:
    """Condition tokens -> distribution over the motion length in tokens (class i = i tokens)."""
    cond_dim: int = 512
    hidden_dim: int = 256
    num_lengths: int = 50
    dropout: float = 0.1


@dataclass
class RVQConfig:
    """Residual-quantised VAE over normalised HumanML3D-263 features (MoMask recipe)."""
    input_dim: int = 263
    width: int = 512
    code_dim: int = 512
    num_codes: int = 512
    num_quantizers: int = 6
    down_t: int = 2
    depth: int = 3
    dilation_growth_rate: int = 3
    ema_decay: float = 0.99
    quantize_dropout_prob: float = 0.2
    commit_weight: float = 0.02
    joint_loss_weight: float = 0.5
    num_joints: int = 22


@dataclass
class MaskTransformerConfig:
    """Masked transformer over base-layer codes, condition tokens prefixed."""
    num_codes: int = 512
    cond_dim: int = 512
    latent_dim: int = 384
    num_layers: int = 6
    num_heads: int = 6
    ff_dim: int = 1536
    dropout: float = 0.1
    cond_drop_prob: float = 0.2
    max_positions: int = 256


@dataclass
class ResTransformerConfig:
    """Residual transformer predicting layer q's codes from the summed embeddings of layers < q."""
    num_codes: int = 512
    num_quantizers: int = 6
    code_dim: int = 512
    cond_dim: int = 512
    latent_dim: int = 384
    num_layers: int = 6
    num_heads: int = 6
    ff_dim: int = 1536
    dropout: float = 0.1
    cond_drop_prob: float = 0.2
    share_weight: bool = True
    max_positions: int = 256


@dataclass
class SamplingConfig:
    """Generation settings (MaskGIT for base codes, one pass per residual layer)."""
    steps: int = 10
    temperature: float = 1.0
    top_k: int = 51
    res_temperature: float = 1.0
    res_top_k: int = 51
    mask_cfg: float = 4.0
    res_cfg: float = 5.0
    length: str = "sample"  # "sample" from the length estimator's softmax, or "argmax"
    min_tokens: int = 4


@dataclass
class KinevoxConfig:
    """The full model's architecture config (what `kinevox.config` holds)."""
    frontend: dict = field(default_factory=frontend_section)
    audio_encoder: AudioEncoderConfig = field(default_factory=AudioEncoderConfig)
    length_estimator: LengthEstimatorConfig = field(default_factory=LengthEstimatorConfig)
    rvq: RVQConfig = field(default_factory=RVQConfig)
    mask_transformer: MaskTransformerConfig = field(default_factory=MaskTransformerConfig)
    res_transformer: ResTransformerConfig = field(default_factory=ResTransformerConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "KinevoxConfig":
        unknown_sections = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown_sections:
            raise ValueError(f"unknown config sections: {sorted(unknown_sections)}")
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name == "frontend" and f.name in d:
                kwargs["frontend"] = frontend_section(**d["frontend"])
            elif f.name in d:
                sub_type = f.default_factory().__class__
                known = {g.name for g in dataclasses.fields(sub_type)}
                unknown = set(d[f.name]) - known
                if unknown:
                    raise ValueError(f"unknown keys in config section '{f.name}': {sorted(unknown)}")
                kwargs[f.name] = sub_type(**d[f.name])
        return cls(**kwargs)

    @classmethod
    def from_json(cls, s: str) -> "KinevoxConfig":
        return cls.from_dict(json.loads(s))

    def validate(self) -> None:
        """Raise ValueError when sections disagree (dimensions, code counts)."""
        ae, le, rvq, mt, rt = (self.audio_encoder, self.length_estimator, self.rvq,
                               self.mask_transformer, self.res_transformer)
        if ae.kind != "identity" and ae.input_dim != self.frontend["feature_dim"]:
            raise ValueError("audio_encoder.input_dim must equal frontend.feature_dim")
        if ae.kind not in ENCODER_KINDS:
            raise ValueError(f"audio_encoder.kind must be one of {ENCODER_KINDS}, got {ae.kind!r}")
        if ae.kind == "identity" and ae.dim != ae.input_dim:
            raise ValueError("audio_encoder.kind 'identity' needs dim == input_dim")
        checks = [
            (le.cond_dim == ae.dim, "length_estimator.cond_dim must equal audio_encoder.dim"),
            (mt.cond_dim == ae.dim, "mask_transformer.cond_dim must equal audio_encoder.dim"),
            (rt.cond_dim == ae.dim, "res_transformer.cond_dim must equal audio_encoder.dim"),
            (mt.num_codes == rvq.num_codes, "mask_transformer.num_codes must equal rvq.num_codes"),
            (rt.num_codes == rvq.num_codes, "res_transformer.num_codes must equal rvq.num_codes"),
            (rt.num_quantizers == rvq.num_quantizers, "res_transformer.num_quantizers must equal rvq's"),
            (mt.latent_dim % mt.num_heads == 0, "mask_transformer.latent_dim must divide by num_heads"),
            (rt.latent_dim % rt.num_heads == 0, "res_transformer.latent_dim must divide by num_heads"),
            (ae.dim % 2 == 0 and mt.latent_dim % 2 == 0 and rt.latent_dim % 2 == 0,
             "sinusoidal positional encodings need even widths"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


def paper_config() -> KinevoxConfig:
    """The paper's size: WavLM-Base+ features, 256x512 memory, 6-layer 6-head d-384 generators, 6x512 codes."""
    return KinevoxConfig(
        frontend=frontend_section("wavlm", 768, 20.0),
        audio_encoder=AudioEncoderConfig(kind="memory", input_dim=768, dim=512, num_memory=256,
                                         num_layers=2, num_heads=8, ff_dim=1024, num_cond_tokens=1),
        length_estimator=LengthEstimatorConfig(cond_dim=512, hidden_dim=256, num_lengths=50),
        rvq=RVQConfig(),
        mask_transformer=MaskTransformerConfig(),
        res_transformer=ResTransformerConfig(),
        sampling=SamplingConfig(),
    )


def bundled_config() -> KinevoxConfig:
    """The bundled default: speech_embedding features, sized to train on 2 shared CPU cores (Models/README.md).
    One condition token of width 384 = the MiniLM sentence-vector width, so the audio encoder can be distilled
    onto sentence vectors and stand in for the text condition (train.align). The encoder is the Conv1d one: on
    these 12.5 Hz features it beat memory retrieval at equal steps and cost ~20x less per step, and six stride-2
    layers (a 127-frame, 10 s receptive field) beat three (15 frames) (docs/results.md, Table 2); memory
    retrieval stays the paper-sized default."""
    d = 192
    c = 384
    codes = 256
    return KinevoxConfig(
        frontend=frontend_section("speech_embedding", 96, 80.0),
        audio_encoder=AudioEncoderConfig(kind="conv1d", input_dim=96, dim=c, num_memory=256, num_layers=2,
                                         num_heads=4, ff_dim=384, num_cond_tokens=1, num_conv_layers=6,
                                         max_positions=512),
        length_estimator=LengthEstimatorConfig(cond_dim=c, hidden_dim=128, num_lengths=50),
        rvq=RVQConfig(width=256, code_dim=256, num_codes=codes, num_quantizers=4, depth=2),
        mask_transformer=MaskTransformerConfig(num_codes=codes, cond_dim=c, latent_dim=d, num_layers=4,
                                               num_heads=4, ff_dim=768),
        res_transformer=ResTransformerConfig(num_codes=codes, num_quantizers=4, code_dim=256, cond_dim=c,
                                             latent_dim=d, num_layers=2, num_heads=4, ff_dim=768),
        sampling=SamplingConfig(top_k=26, res_top_k=26),
    )


def tiny_config() -> KinevoxConfig:
    """A tiny config for tests and parity fixtures."""
    d = 16
    return KinevoxConfig(
        frontend=frontend_section("speech_embedding", 12, 80.0),
        audio_encoder=AudioEncoderConfig(kind="memory", input_dim=12, dim=d, num_memory=8, num_layers=1,
                                         num_heads=2, ff_dim=32, num_cond_tokens=2, num_conv_layers=2,
                                         max_positions=128),
        length_estimator=LengthEstimatorConfig(cond_dim=d, hidden_dim=16, num_lengths=12),
        rvq=RVQConfig(input_dim=263, width=16, code_dim=8, num_codes=16, num_quantizers=3, depth=2),
        mask_transformer=MaskTransformerConfig(num_codes=16, cond_dim=d, latent_dim=16, num_layers=2,
                                               num_heads=2, ff_dim=32, max_positions=64),
        res_transformer=ResTransformerConfig(num_codes=16, num_quantizers=3, code_dim=8, cond_dim=d,
                                             latent_dim=16, num_layers=2, num_heads=2, ff_dim=32,
                                             max_positions=64),
        sampling=SamplingConfig(steps=4, top_k=4, res_top_k=4, min_tokens=2),
    )
