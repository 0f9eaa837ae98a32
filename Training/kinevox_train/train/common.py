"""Shared training machinery: run folders, resumable checkpoints, logging, loss curves, LR schedule, DDP.

A run lives in Training/runs/<stage>/ (git-ignored): checkpoint.pt (resumed automatically), train.log,
loss.png, config.json. Multi-process training: launch with `torchrun --nproc_per_node N -m ...`; each
process then holds one DDP replica (NCCL on GPUs, gloo on CPU).
"""
from __future__ import annotations

import json
import logging
import math
import os
import pathlib
import time
from dataclasses import dataclass, field

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    """This process's place in a (possibly single-process) training job."""
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup_distributed(device: str = "auto") -> DistInfo:
    """Initialise torch.distributed from torchrun's environment (WORLD_SIZE > 1), else a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device == "auto" else device.startswith("cuda")
    if use_cuda:
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return DistInfo(rank=rank, world_size=world, local_rank=local, device=dev)


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def warmup_cosine_lr(step: int, total: int, warmup: int, base_lr: float, final_ratio: float = 0.1) -> float:
    """Linear warm-up from 0 to base_lr over `warmup` steps, then cosine decay to final_ratio * base_lr."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base_lr * (final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def default_warmup(total_steps: int, paper_warmup: int = 2000) -> int:
    """The paper's 2,000 warm-up steps, shortened to a tenth of the run when the run is short."""
    return max(1, min(paper_warmup, total_steps // 10))


class TimeBudget:
    """A run's `--max-minutes`: when it is spent the loop checkpoints and stops (resuming continues)."""

    def __init__(self, max_minutes: float | None):
        self.max_minutes = max_minutes
        self.started = time.time()

    def minutes(self) -> float:
        return (time.time() - self.started) / 60

    def exhausted(self) -> bool:
        return self.max_minutes is not None and self.minutes() > self.max_minutes

    def stop_message(self, step: int) -> str:
        return f"stopping at step {step} after {self.max_minutes} minutes (resume to continue)"


class RunDir:
    """A stage's run folder: logging to train.log (+ stderr), checkpoints, loss history and its PNG."""

    def __init__(self, path: str | pathlib.Path, is_main: bool = True):
        self.path = pathlib.Path(path)
        self.is_main = is_main
        self.history: list[dict] = []
        self.logger = logging.getLogger(f"kinevox.{self.path.name}.{id(self)}")
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False
        if is_main:
            self.path.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(self.path / "train.log")
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
            self.logger.addHandler(handler)

    @property
    def checkpoint_path(self) -> pathlib.Path:
        return self.path / "checkpoint.pt"

    def log(self, message: str) -> None:
        if self.is_main:
            self.logger.info(message)

    def write_config(self, config: dict) -> None:
        if self.is_main:
            (self.path / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))

    def record(self, step: int, **values: float) -> None:
        self.history.append({"step": step, **{k: float(v) for k, v in values.items()}})

    def save(self, state: dict) -> None:
        """Atomically write checkpoint.pt (state + loss history) and refresh loss.png."""
        if not self.is_main:
            return
        state = dict(state, history=self.history, saved_at=time.time())
        tmp = self.checkpoint_path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoint_path)
        self.plot()

    def load(self) -> dict | None:
        """The last checkpoint (and its loss history), or None when starting fresh."""
        if not self.checkpoint_path.exists():
            return None
        state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)
        self.history = list(state.get("history", []))
        return state

    def plot(self) -> None:
        if not self.history:
            return
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        keys = list(dict.fromkeys(k for h in self.history for k in h if k != "step"))
        fig, axes = plt.subplots(len(keys), 1, figsize=(7, 2.2 * len(keys)), squeeze=False)
        for ax, key in zip(axes[:, 0], keys):
            points = [(h["step"], h[key]) for h in self.history if key in h]
            values = [v for _, v in points]
            ax.plot([s for s, _ in points], values, lw=0.8, marker="." if len(points) < 40 else None)
            ax.set_ylabel(key)
            ax.grid(alpha=0.3)
            if key.startswith("loss") and min(values) > 0:
                ax.set_yscale("log")
        axes[-1, 0].set_xlabel("step")
        fig.suptitle(self.path.name)
        fig.tight_layout()
        fig.savefig(self.path / "loss.png", dpi=90)
        plt.close(fig)


def autocast_context(device: torch.device, bf16: bool):
    """bf16 autocast on the given device (CPU or CUDA) when requested, else a no-op context."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    return module.module if isinstance(module, torch.nn.parallel.DistributedDataParallel) else module
