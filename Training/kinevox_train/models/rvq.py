"""RVQ-VAE over normalised HumanML3D-263 motion: conv encoder/decoder with dilated residual blocks,
x(2^down_t) temporal downsampling, residual EMA codebooks with dead-code reset and quantize dropout.

Tensors are channels-first inside the conv stacks ([B, C, T]); public methods take and return [B, T, 263].
Code index -1 means padding and decodes to the zero vector.
"""
from __future__ import annotations

import random

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from .config import RVQConfig


class ResidualConvBlock(nn.Module):
    """x + conv2(ReLU(conv1(ReLU(x)))); conv1 kernel 3 with `dilation` (same padding), conv2 kernel 1."""

    def __init__(self, width: int, dilation: int):
        super().__init__()
        self.conv1 = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(width, width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class ResidualStack(nn.Module):
    """`depth` residual blocks with dilations growth^0, growth^1, ... (reversed when `reverse`)."""

    def __init__(self, width: int, depth: int, growth: int, reverse: bool):
        super().__init__()
        dilations = [growth ** i for i in range(depth)]
        if reverse:
            dilations = dilations[::-1]
        self.blocks = nn.ModuleList(ResidualConvBlock(width, d) for d in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


class DownBlock(nn.Module):
    """conv (kernel 4, stride 2, padding 1: halves T) then a residual stack."""

    def __init__(self, width: int, depth: int, growth: int):
        super().__init__()
        self.conv = nn.Conv1d(width, width, 4, stride=2, padding=1)
        self.res = ResidualStack(width, depth, growth, reverse=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res(self.conv(x))


class UpBlock(nn.Module):
    """residual stack (reversed dilations), nearest-neighbour x2 upsampling, conv (kernel 3, padding 1)."""

    def __init__(self, width: int, depth: int, growth: int):
        super().__init__()
        self.res = ResidualStack(width, depth, growth, reverse=True)
        self.conv = nn.Conv1d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(self.res(x), scale_factor=2, mode="nearest"))


class MotionEncoder(nn.Module):
    """[B, 263, T] -> [B, code_dim, T / 2^down_t]: conv3, ReLU, down blocks, conv3."""

    def __init__(self, cfg: RVQConfig):
        super().__init__()
        self.input_conv = nn.Conv1d(cfg.input_dim, cfg.width, 3, padding=1)
        self.down = nn.ModuleList(DownBlock(cfg.width, cfg.depth, cfg.dilation_growth_rate)
                                  for _ in range(cfg.down_t))
        self.output_conv = nn.Conv1d(cfg.width, cfg.code_dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.input_conv(x))
        for block in self.down:
            x = block(x)
        return self.output_conv(x)


class MotionDecoder(nn.Module):
    """[B, code_dim, N] -> [B, 263, N * 2^down_t]: conv3, ReLU, up blocks, conv3, ReLU, conv3."""

    def __init__(self, cfg: RVQConfig):
        super().__init__()
        self.input_conv = nn.Conv1d(cfg.code_dim, cfg.width, 3, padding=1)
        self.up = nn.ModuleList(UpBlock(cfg.width, cfg.depth, cfg.dilation_growth_rate)
                                for _ in range(cfg.down_t))
        self.hidden_conv = nn.Conv1d(cfg.width, cfg.width, 3, padding=1)
        self.output_conv = nn.Conv1d(cfg.width, cfg.input_dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.input_conv(x))
        for block in self.up:
            x = block(x)
        return self.output_conv(F.relu(self.hidden_conv(x)))


class EMAQuantizer(nn.Module):
    """One codebook [num_codes, code_dim] updated by exponential moving averages; codes whose EMA count
    falls below 1 are reset to random encoder outputs of the current batch. The EMA statistics are not
    part of the state_dict (see `ema_state`)."""

    def __init__(self, num_codes: int, code_dim: int, decay: float):
        super().__init__()
        self.num_codes = num_codes
        self.decay = decay
        self.register_buffer("codebook", torch.zeros(num_codes, code_dim))
        self.register_buffer("code_sum", torch.zeros(num_codes, code_dim), persistent=False)
        self.register_buffer("code_count", torch.zeros(num_codes), persistent=False)
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool), persistent=False)

    def ema_state(self) -> dict:
        return {"code_sum": self.code_sum, "code_count": self.code_count, "initialized": self.initialized}

    def load_ema_state(self, state: dict) -> None:
        for key, value in state.items():
            getattr(self, key).copy_(value)

    def ema_from_codebook(self) -> None:
        """Start the EMA statistics from the current codebook (each code counted once), e.g. to fine-tune a
        shipped model, whose file holds the codebooks but not their statistics."""
        self.code_sum.copy_(self.codebook)
        self.code_count.fill_(1.0)
        self.initialized.fill_(True)

    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, D] -> indices [N] of the nearest code (squared Euclidean distance)."""
        dist2 = (x.pow(2).sum(1, keepdim=True) - 2 * x @ self.codebook.t()
                 + self.codebook.pow(2).sum(1).unsqueeze(0))
        return dist2.argmin(dim=1)

    @staticmethod
    def _random_rows(x: torch.Tensor, n: int) -> torch.Tensor:
        if x.shape[0] < n:
            reps = (n + x.shape[0] - 1) // x.shape[0]
            x = x.repeat(reps, 1) + torch.randn(x.shape[0] * reps, x.shape[1], device=x.device) * 0.01
        return x[torch.randperm(x.shape[0], device=x.device)[:n]]

    @torch.no_grad()
    def _update(self, x: torch.Tensor, idx: torch.Tensor) -> None:
        distributed = dist.is_available() and dist.is_initialized()
        if not bool(self.initialized):
            rows = self._random_rows(x, self.num_codes)
            if distributed:
                dist.broadcast(rows, 0)
            self.codebook.copy_(rows)
            self.code_sum.copy_(rows)
            self.code_count.fill_(1.0)
            self.initialized.fill_(True)
            return
        onehot = F.one_hot(idx, self.num_codes).type(x.dtype)
        batch_sum = onehot.t() @ x
        batch_count = onehot.sum(0)
        rand_rows = self._random_rows(x, self.num_codes)
        if distributed:
            dist.all_reduce(batch_sum)
            dist.all_reduce(batch_count)
            dist.broadcast(rand_rows, 0)
        self.code_sum.mul_(self.decay).add_(batch_sum, alpha=1 - self.decay)
        self.code_count.mul_(self.decay).add_(batch_count, alpha=1 - self.decay)
        used = (self.code_count >= 1.0).unsqueeze(1).type(x.dtype)
        updated = self.code_sum / self.code_count.clamp(min=1e-6).unsqueeze(1)
        self.codebook.copy_(used * updated + (1 - used) * rand_rows)

    def forward(self, x: torch.Tensor):
        """x [N, D] -> (quantised [N, D] with straight-through gradient, indices [N], commitment loss)."""
        if self.training and not bool(self.initialized):
            self._update(x.detach(), None)
        idx = self.nearest(x.detach())
        if self.training:
            self._update(x.detach(), idx)
        q = F.embedding(idx, self.codebook)
        commit = F.mse_loss(x, q.detach())
        return x + (q - x).detach(), idx, commit


class ResidualQuantizer(nn.Module):
    """num_quantizers EMA codebooks applied to successive residuals; during training, with probability
    quantize_dropout_prob only the first n layers (n uniform in 1..Q) are used for a batch."""

    def __init__(self, cfg: RVQConfig):
        super().__init__()
        self.layers = nn.ModuleList(EMAQuantizer(cfg.num_codes, cfg.code_dim, cfg.ema_decay)
                                    for _ in range(cfg.num_quantizers))
        self.dropout_prob = cfg.quantize_dropout_prob

    def forward(self, z: torch.Tensor):
        """z [N, D] -> (sum of quantised residuals [N, D], indices [N, Q] (-1 for dropped layers), loss)."""
        active = len(self.layers)
        if self.training and random.random() < self.dropout_prob:
            active = random.randint(1, len(self.layers))
        residual = z
        total = torch.zeros_like(z)
        indices = torch.full((z.shape[0], len(self.layers)), -1, dtype=torch.long, device=z.device)
        commit = z.new_zeros(())
        for q, layer in enumerate(self.layers[:active]):
            quantised, idx, loss = layer(residual)
            residual = residual - quantised.detach()
            total = total + quantised
            indices[:, q] = idx
            commit = commit + loss
        return total, indices, commit / active

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """indices [..., Q'] (Q' <= Q, -1 = padding/unused) -> summed codes [..., D]."""
        out = None
        for q in range(indices.shape[-1]):
            idx = indices[..., q]
            code = F.embedding(idx.clamp(min=0), self.layers[q].codebook) * (idx >= 0).unsqueeze(-1)
            out = code if out is None else out + code
        return out


class RVQVAE(nn.Module):
    """State_dict: encoder.*, quantizer.layers.{q}.codebook, decoder.*."""

    def __init__(self, cfg: RVQConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = MotionEncoder(cfg)
        self.quantizer = ResidualQuantizer(cfg)
        self.decoder = MotionDecoder(cfg)

    @property
    def downsample(self) -> int:
        return 2 ** self.cfg.down_t

    def forward(self, motion: torch.Tensor):
        """motion [B, T, 263] (T divisible by 2^down_t) -> (reconstruction, indices [B, T', Q], commit)."""
        z = self.encoder(motion.transpose(1, 2))  # [B, D, T']
        b, d, t = z.shape
        flat = z.transpose(1, 2).reshape(b * t, d)
        quantised, indices, commit = self.quantizer(flat)
        recon = self.decoder(quantised.reshape(b, t, d).transpose(1, 2)).transpose(1, 2)
        return recon, indices.reshape(b, t, -1), commit

    @torch.no_grad()
    def encode(self, motion: torch.Tensor) -> torch.Tensor:
        """motion [B, T, 263] -> all-layer codes [B, T / 2^down_t, Q] (no dropout)."""
        z = self.encoder(motion.transpose(1, 2))
        b, d, t = z.shape
        flat = z.transpose(1, 2).reshape(b * t, d)
        residual = flat
        codes = []
        for layer in self.quantizer.layers:
            idx = layer.nearest(residual)
            residual = residual - F.embedding(idx, layer.codebook)
            codes.append(idx)
        return torch.stack(codes, dim=1).reshape(b, t, -1)

    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """codes [B, N, Q'] (-1 = padding) -> normalised motion [B, N * 2^down_t, 263]."""
        z = self.quantizer.lookup(indices)  # [B, N, D]
        return self.decoder(z.transpose(1, 2)).transpose(1, 2)

    def loss(self, motion: torch.Tensor, recon: torch.Tensor, commit: torch.Tensor, root_weight: float = 0.0,
             velocity_weight: float = 0.0):
        """smooth-L1 on all features + joint_loss_weight * smooth-L1 on the root-relative joint positions
        (features 4 : 4 + 3 (J - 1)) + commit_weight * commitment; optionally + root_weight * smooth-L1 on the root
        channels (0 : 4, whose errors add up along the path) + velocity_weight * smooth-L1 on the joint velocities
        (the last 3 J + 4 features but the 4 foot contacts: what keeps large, fast motions large and fast).
        Returns (total, parts dict)."""
        rec = F.smooth_l1_loss(recon, motion)
        j = self.cfg.num_joints
        end = 4 + 3 * (j - 1)
        joint = F.smooth_l1_loss(recon[..., 4:end], motion[..., 4:end])
        total = rec + self.cfg.joint_loss_weight * joint + self.cfg.commit_weight * commit
        parts = {"rec": rec.detach(), "joint": joint.detach(), "commit": commit.detach()}
        if root_weight > 0:
            root = F.smooth_l1_loss(recon[..., :4], motion[..., :4])
            total = total + root_weight * root
            parts["root"] = root.detach()
        if velocity_weight > 0:
            start = motion.shape[-1] - 4 - 3 * j
            velocity = F.smooth_l1_loss(recon[..., start:-4], motion[..., start:-4])
            total = total + velocity_weight * velocity
            parts["velocity"] = velocity.detach()
        return total, parts
