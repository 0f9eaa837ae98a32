"""Stage 1: train the RVQ-VAE on HumanML3D-263 motion windows.

    python -m kinevox_train.train.rvq --data ../cache-or-HumanML3D-root --run-dir runs/rvq --steps 4000

Resumes from runs/<name>/checkpoint.pt when present. With torchrun the batch is per process.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import random

import numpy as np
import torch
from tqdm import tqdm

from ..models import KinevoxConfig, RVQVAE
from . import common
from .batches import action_balanced_weights, sample_motion_windows
from .sources import load_motion_split, model_config_from_args


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="HumanML3D-layout root (new_joint_vecs/, Mean.npy, Std.npy, splits)")
    p.add_argument("--run-dir", default="runs/rvq", help="run folder (checkpoint, log, loss.png)")
    p.add_argument("--config", default="bundled", help="bundled | paper | tiny | path to a config JSON")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--window", type=int, default=64, help="frames per training window (multiple of 4)")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--warmup", type=int, default=None, help="default: min(2000, steps / 10)")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--root-weight", type=float, default=0.0, help="extra loss weight on the root channels")
    p.add_argument("--velocity-weight", type=float, default=0.0, help="extra loss weight on the joint velocities")
    p.add_argument("--action-balance", type=float, default=0.0,
                   help="draw windows of an action with n clips in proportion to n ** (1 - this) instead of by the "
                        "index's sampling weights (needs index.json); 0 = the index's weights")
    p.add_argument("--init-from", default=None, metavar="RUN",
                   help="new run only: start from RUN's RVQ-VAE (e.g. a shipped model unpacked by export --unpack)")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--save-every", type=int, default=250)
    p.add_argument("--max-minutes", type=float, default=None, help="checkpoint and stop after this long")
    p.add_argument("--device", default="auto")
    return p.parse_args(argv)


def clip_labels(motion_root: str, names: list[str]) -> list[int]:
    """Action index of each clip (from the motion folder's index.json; each two-action pair is a group of its own)."""
    index = json.loads((pathlib.Path(motion_root) / "index.json").read_text())["clips"]
    action = {c["id"]: c["action"] for c in index}
    order = sorted(set(action.values()))
    return [order.index(action[n]) for n in names]


@torch.no_grad()
def validation_loss(model: RVQVAE, clips, window: int, device, rng) -> float:
    model.eval()
    x = sample_motion_windows(clips, 64, window, rng).to(device)
    recon, _, commit = model(x)
    model.train()
    return float(torch.nn.functional.smooth_l1_loss(recon, x))


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    info = common.setup_distributed(args.device)
    cfg: KinevoxConfig = model_config_from_args(args.config)
    run = common.RunDir(args.run_dir, info.is_main)
    train = load_motion_split(args.data, "train")
    val = load_motion_split(args.data, "val")
    torch.manual_seed(args.seed + info.rank)
    random.seed(args.seed)  # quantize dropout draws must agree across DDP ranks (collectives per layer)
    rng = np.random.default_rng(args.seed + 1000 * info.rank)
    model = RVQVAE(cfg.rvq).to(info.device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.99), weight_decay=args.weight_decay)
    step = 0
    weights = train.weights
    if args.action_balance > 0:
        labels = clip_labels(args.data, train.names)
        weights = action_balanced_weights(labels, args.action_balance)
    state = run.load()
    if state is None and args.init_from:
        model.load_state_dict(torch.load(f"{args.init_from}/checkpoint.pt", map_location="cpu",
                                         weights_only=False)["model"])
        for layer in model.quantizer.layers:
            layer.ema_from_codebook()
        run.log(f"initialised from {args.init_from}")
    if state is not None:
        model.load_state_dict(state["model"])
        for layer, ema in zip(model.quantizer.layers, state["ema"]):
            layer.load_ema_state(ema)
        opt.load_state_dict(state["optimizer"])
        step = state["step"]
        rng = np.random.default_rng(args.seed + 1000 * info.rank + step)
        random.seed(args.seed + step)
        run.log(f"resumed at step {step}")
    run.write_config({"model": cfg.to_dict(), "args": vars(args), "world_size": info.world_size})
    ddp = (torch.nn.parallel.DistributedDataParallel(model, device_ids=[info.local_rank] if info.device.type == "cuda"
                                                     else None) if info.distributed else model)
    warmup = args.warmup if args.warmup is not None else common.default_warmup(args.steps)
    run.log(f"rvq: {sum(p.numel() for p in model.parameters())} params, {len(train.clips)} train clips, "
            f"warmup {warmup}, bf16 {args.bf16}")
    budget = common.TimeBudget(args.max_minutes)
    bar = tqdm(total=args.steps, initial=step, disable=not info.is_main, desc="rvq")
    model.train()
    while step < args.steps:
        for group in opt.param_groups:
            group["lr"] = common.warmup_cosine_lr(step, args.steps, warmup, args.lr)
        x = sample_motion_windows(train.clips, args.batch, args.window, rng, weights).to(info.device)
        with common.autocast_context(info.device, args.bf16):
            recon, _, commit = ddp(x)
        loss, parts = model.loss(x, recon.float(), commit.float(), args.root_weight, args.velocity_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        bar.update(1)
        if step % args.log_every == 0 or step == args.steps:
            usage = [float((layer.code_count >= 1.0).float().mean()) for layer in model.quantizer.layers]
            values = {"loss": loss.item(), **{k: v.item() for k, v in parts.items()}}
            if step % args.save_every == 0 or step == args.steps:
                values["val_rec"] = validation_loss(model, val.clips, args.window, info.device, rng)
            run.record(step, **values)
            bar.set_postfix(loss=f"{values['loss']:.4f}")
            run.log(f"step {step} lr {opt.param_groups[0]['lr']:.2e} "
                    + " ".join(f"{k} {v:.4f}" for k, v in values.items())
                    + " usage " + ",".join(f"{u:.2f}" for u in usage))
        out_of_time = budget.exhausted()
        if step % args.save_every == 0 or step == args.steps or out_of_time:
            run.save({"model": model.state_dict(), "ema": [l.ema_state() for l in model.quantizer.layers],
                      "optimizer": opt.state_dict(), "step": step, "config": cfg.to_dict(),
                      "mean": train.mean, "std": train.std})
        if out_of_time:
            run.log(budget.stop_message(step))
            break
    bar.close()
    run.log(f"done at step {step} in {budget.minutes():.1f} min")
    common.cleanup_distributed()


if __name__ == "__main__":
    main()
