"""Kinevox PyTorch modules (ported 1:1 to Swift; state_dict keys are the model file's tensor names)."""
from __future__ import annotations

import torch
import torch.nn as nn

from .audio_encoder import AudioEncoder
from .config import (AudioEncoderConfig, KinevoxConfig, LengthEstimatorConfig, MaskTransformerConfig,
                     ResTransformerConfig, RVQConfig, SamplingConfig, bundled_config, frontend_section, paper_config,
                     tiny_config)
from .length_estimator import LengthEstimator
from .mask_transformer import MaskTransformer
from .res_transformer import ResTransformer
from .rvq import RVQVAE


class KinevoxModel(nn.Module):
    """All trainable parts; state_dict prefixes audio_encoder., length_estimator., rvq., mask_transformer.,
    res_transformer., plus motion_mean / motion_std [263] (HumanML3D normalisation)."""

    def __init__(self, cfg: KinevoxConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.audio_encoder = AudioEncoder(cfg.audio_encoder)
        self.length_estimator = LengthEstimator(cfg.length_estimator)
        self.rvq = RVQVAE(cfg.rvq)
        self.mask_transformer = MaskTransformer(cfg.mask_transformer)
        self.res_transformer = ResTransformer(cfg.res_transformer)
        self.register_buffer("motion_mean", torch.zeros(cfg.rvq.input_dim))
        self.register_buffer("motion_std", torch.ones(cfg.rvq.input_dim))


__all__ = [
    "AudioEncoder", "AudioEncoderConfig", "KinevoxConfig", "KinevoxModel", "LengthEstimator",
    "LengthEstimatorConfig", "MaskTransformer", "MaskTransformerConfig", "RVQConfig", "RVQVAE", "ResTransformer",
    "ResTransformerConfig", "SamplingConfig", "bundled_config", "frontend_section", "paper_config", "tiny_config",
]
