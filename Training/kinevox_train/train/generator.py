"""Stages 2 and 3: the condition-to-code generators.

    # stage 2: audio encoder + masked transformer + length estimator
    python -m kinevox_train.train.generator --stage mask --data MOTION_ROOT --conditions speech:FEATURE_ROOT \
        --rvq runs/rvq --run-dir runs/generator --steps 3000
    # stage 3: residual transformer (audio encoder frozen, taken from the stage-2 run)
    python -m kinevox_train.train.generator --stage residual --data MOTION_ROOT --conditions speech:FEATURE_ROOT \
        --rvq runs/rvq --encoder-run runs/generator --run-dir runs/residual --steps 1500

Motion clips are encoded once with the trained RVQ-VAE (cached in the run folder). Each step samples
(condition, clip) pairs; clips longer than the length estimator's range are randomly cropped.
`--encoder-kind` swaps the audio encoder (Table 6 ablation); `--conditions text:...` trains the
text-conditioned baseline (MiniLM sentence embedding as one condition token, encoder kind "identity").
"""
from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..models import KinevoxConfig, KinevoxModel, RVQVAE
from . import common
from .batches import PairedExample, action_balanced_weights, sample_pairs
from .conditions import MINILM_DIM, describe_conditions, embed_sentences, load_conditions
from .sources import load_motion_split, model_config_from_args


class MaskStage(torch.nn.Module):
    """Stage 2 as one module (so DDP sees one forward): masked-token CE + length CE (on detached condition)
    + optionally the semantic alignment loss: 1 - cos(align_head(mean of the condition tokens), MiniLM
    embedding of the spoken caption), which teaches the audio encoder what the words mean, + optionally the action
    term: CE of action_head(the masked transformer's projected condition) against the clip's action, which makes
    that projection keep actions apart that the sentence vectors place close together ("run" and "walk").
    align_head and action_head are for training only (not exported)."""

    def __init__(self, model: KinevoxModel, length_weight: float, align_weight: float = 0.0,
                 align_dim: int = MINILM_DIM, action_weight: float = 0.0, num_actions: int = 0):
        super().__init__()
        self.audio_encoder = model.audio_encoder
        self.mask_transformer = model.mask_transformer
        self.length_estimator = model.length_estimator
        self.length_weight = length_weight
        self.align_weight = align_weight
        self.action_weight = action_weight
        self.action_head = (torch.nn.Linear(model.cfg.mask_transformer.latent_dim, num_actions)
                            if action_weight > 0 else None)
        self.align_head = None
        if align_weight > 0:
            self.align_head = torch.nn.Linear(model.cfg.audio_encoder.dim, align_dim)
            if model.cfg.audio_encoder.dim == align_dim:  # an encoder distilled onto the vectors (train.align)
                torch.nn.init.eye_(self.align_head.weight)  # starts as the identity: keeps that distillation
                torch.nn.init.zeros_(self.align_head.bias)

    def trained(self) -> dict:
        modules = {"audio_encoder": self.audio_encoder, "mask_transformer": self.mask_transformer,
                   "length_estimator": self.length_estimator}
        heads = {"align_head": self.align_head, "action_head": self.action_head}
        return modules | {name: head for name, head in heads.items() if head is not None}

    def forward(self, feats, flens, codes, tlens, targets, labels):
        cond = self.audio_encoder(feats, flens)
        ce, acc = self.mask_transformer.training_loss(codes[..., 0].long(), tlens, cond)
        length_logits = self.length_estimator(cond.detach()).float()
        length_ce = F.cross_entropy(length_logits, tlens)
        length_acc = (length_logits.argmax(-1) == tlens).float().mean()
        total = ce.float() + self.length_weight * length_ce
        parts = {"ce": ce.detach(), "acc": acc, "len_ce": length_ce.detach(), "len_acc": length_acc}
        if self.align_head is not None:
            if targets.shape[1] == 0:
                raise ValueError("the alignment loss needs caption embeddings (examples without a target)")
            cos = F.cosine_similarity(self.align_head(cond.mean(1)).float(), targets, dim=-1)
            align = (1 - cos).mean()
            total = total + self.align_weight * align
            parts["align"] = align.detach()
        if self.action_head is not None:
            logits = self.action_head(self.mask_transformer.cond_emb(cond).mean(1)).float()
            action = F.cross_entropy(logits, labels, ignore_index=-1)
            if bool((labels >= 0).any()):
                total = total + self.action_weight * action
                parts["action"] = action.detach()
        return total, parts


class ResidualStage(torch.nn.Module):
    """Stage 3 as one module: residual-layer CE with the (frozen) stage-2 audio encoder."""

    def __init__(self, model: KinevoxModel):
        super().__init__()
        self.audio_encoder = model.audio_encoder.requires_grad_(False)
        self.res_transformer = model.res_transformer

    def trained(self) -> dict:
        return {"res_transformer": self.res_transformer}

    def train(self, mode: bool = True):
        super().train(mode)
        self.audio_encoder.eval()
        return self

    def forward(self, feats, flens, codes, tlens, targets, labels):
        with torch.no_grad():
            cond = self.audio_encoder(feats, flens)
        ce, acc = self.res_transformer.training_loss(codes.long(), tlens, cond)
        return ce.float(), {"ce": ce.detach(), "acc": acc}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stage", choices=["mask", "residual"], required=True)
    p.add_argument("--data", required=True, help="HumanML3D-layout motion root")
    p.add_argument("--conditions", required=True, help="speech:FEATURE_ROOT or text:CAPTION_SPEC (see conditions.py)")
    p.add_argument("--rvq", default="runs/rvq", help="RVQ-VAE run folder")
    p.add_argument("--encoder-run", default=None, help="stage-2 run whose audio encoder the residual stage uses")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--config", default=None, help="bundled | paper | tiny | JSON path (default: the RVQ run's)")
    p.add_argument("--follow-encoder", action="store_true",
                   help="residual stage: reload the audio encoder whenever the stage-2 checkpoint changes "
                        "(lets both stages train concurrently; finish with a few steps on the final encoder)")
    p.add_argument("--warm-start", default=None, metavar="RUN",
                   help="new run only: start the generator (stage mask: masked transformer and length estimator; "
                        "stage residual: residual transformer) from RUN's checkpoint, tensors of another shape "
                        "(e.g. cond_emb for another condition width) left fresh")
    p.add_argument("--encoder-init", default=None, metavar="RUN",
                   help="stage mask, new run only: the audio encoder's shape and weights from RUN (an align run, "
                        "see kinevox_train.train.align)")
    p.add_argument("--encoder-kind", default=None, help="override audio_encoder.kind (memory, transformer, ...)")
    p.add_argument("--cond-tokens", type=int, default=None, help="override audio_encoder.num_cond_tokens")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--warmup", type=int, default=None, help="default: min(2000, steps / 10)")
    p.add_argument("--weight-decay", type=float, default=1e-5)
    p.add_argument("--length-weight", type=float, default=1.0)
    p.add_argument("--align-weight", type=float, default=0.0,
                   help="stage mask, speech: weight of the semantic alignment loss (condition -> MiniLM embedding "
                        "of the spoken caption); 0 = off (the paper's objective)")
    p.add_argument("--action-weight", type=float, default=0.0,
                   help="stage mask: weight of the action term on the projected condition (0 = off)")
    p.add_argument("--action-balance", type=float, default=0.0,
                   help="draw an action with n training pairs in proportion to n ** (1 - this): 0 = every pair "
                        "alike (the default), 1 = every action alike")
    p.add_argument("--minilm-store", default="cache/minilm/store.npz", help="MiniLM sentence-vector cache")
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--save-every", type=int, default=250)
    p.add_argument("--max-minutes", type=float, default=None)
    p.add_argument("--device", default="auto")
    return p.parse_args(argv)


@torch.no_grad()
def encode_clips(rvq: RVQVAE, clips: list[np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
    """name -> codes [T // 2^down_t, Q] (int16) for every clip at least one token long."""
    out = {}
    rvq.eval()
    down = rvq.downsample
    for name, clip in zip(names, clips):
        n = clip.shape[0] // down * down
        if n == 0:
            continue
        out[name] = rvq.encode(torch.from_numpy(clip[:n]).unsqueeze(0))[0].numpy().astype(np.int16)
    return out


def build_examples(codes: dict[str, np.ndarray], conditions, captions: dict[str, np.ndarray] | None = None,
                   labels: dict[str, int] | None = None) -> list[PairedExample]:
    """Pairs of the conditions whose clip has codes; `captions` (caption -> MiniLM vector) adds alignment targets,
    `labels` (clip id -> action index) the action labels."""
    return [PairedExample(features=c.features, codes=codes[c.motion_id],
                          target=captions[c.caption] if captions is not None else None,
                          label=(labels or {}).get(c.motion_id, -1))
            for c in conditions if c.motion_id in codes]


def action_labels(motion_root: str) -> tuple[dict[str, int], list[str]]:
    """clip id -> index of its action in the sorted action list of the motion folder's index.json (two-action clips
    get none), and that list; empty without an index.json."""
    index = pathlib.Path(motion_root) / "index.json"
    if not index.exists():
        return {}, []
    clips = json.loads(index.read_text())["clips"]
    actions = sorted({c["action"] for c in clips if "+" not in c["action"]})
    return {c["id"]: actions.index(c["action"]) for c in clips if "+" not in c["action"]}, actions


def warm_start(trained: dict, names: list[str], run_dir: str, run: common.RunDir) -> None:
    """Copy the modules `names` from another run's checkpoint; tensors absent there or of another shape stay
    fresh (logged)."""
    source = torch.load(pathlib.Path(run_dir) / "checkpoint.pt", map_location="cpu", weights_only=False)
    for name in names:
        own = trained[name].state_dict()
        theirs = source["modules"].get(name, {})
        taken = {k: v for k, v in theirs.items() if k in own and own[k].shape == v.shape}
        trained[name].load_state_dict(taken, strict=False)
        fresh = sorted(set(own) - set(taken))
        run.log(f"{name} warm-started from {run_dir} (step {source['step']}); "
                f"fresh (absent or another shape): {', '.join(fresh) or 'none'}")


@torch.no_grad()
def validation_losses(stage: torch.nn.Module, batch: list[torch.Tensor], seed: int) -> tuple[dict, float]:
    """Validation losses, and the CE with the conditions rotated by one within the batch (same masks):
    val_ce_shuffled - val_ce is how much the generator uses its condition."""
    feats, flens, codes, tlens, targets, labels = batch
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        _, parts = stage(feats, flens, codes, tlens, targets, labels)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        _, rotated = stage(feats.roll(1, 0), flens.roll(1, 0), codes, tlens, targets.roll(1, 0), labels.roll(1, 0))
    return parts, float(rotated["ce"])


def stage_config(args, rvq_state: dict) -> KinevoxConfig:
    cfg = model_config_from_args(args.config) if args.config else KinevoxConfig.from_dict(rvq_state["config"])
    cfg.rvq = KinevoxConfig.from_dict(rvq_state["config"]).rvq
    if args.encoder_kind:
        cfg.audio_encoder.kind = args.encoder_kind
    if args.cond_tokens:
        cfg.audio_encoder.num_cond_tokens = args.cond_tokens
    return cfg


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    info = common.setup_distributed(args.device)
    run = common.RunDir(args.run_dir, info.is_main)
    rvq_state = torch.load(pathlib.Path(args.rvq) / "checkpoint.pt", map_location="cpu", weights_only=False)
    encoder_state = None
    if args.stage == "residual":
        if not args.encoder_run:
            raise SystemExit("--stage residual needs --encoder-run (the stage-2 run folder)")
        encoder_path = pathlib.Path(args.encoder_run) / "checkpoint.pt"
        encoder_mtime = encoder_path.stat().st_mtime
        encoder_state = torch.load(encoder_path, map_location="cpu", weights_only=False)
        cfg = KinevoxConfig.from_dict(encoder_state["config"])
    else:
        cfg = stage_config(args, rvq_state)
        if args.encoder_init:
            init = torch.load(pathlib.Path(args.encoder_init) / "checkpoint.pt", map_location="cpu", weights_only=False)
            cfg.audio_encoder = KinevoxConfig.from_dict(init["config"]).audio_encoder
    kind, input_dim = describe_conditions(args.conditions)
    if kind == "text":
        cfg.audio_encoder.kind = "identity"
        cfg.audio_encoder.num_cond_tokens = 1
        cfg.audio_encoder.dim = input_dim
    cfg.audio_encoder.input_dim = input_dim
    if kind == "speech":
        cfg.frontend["feature_dim"] = input_dim
    for section in (cfg.length_estimator, cfg.mask_transformer, cfg.res_transformer):
        section.cond_dim = cfg.audio_encoder.dim
    cfg.validate()

    model = KinevoxModel(cfg)
    model.rvq.load_state_dict(rvq_state["model"])
    if encoder_state is not None:
        model.audio_encoder.load_state_dict(encoder_state["modules"]["audio_encoder"])
    model.to(info.device)

    codes_cache = run.path / "codes.pt"
    if codes_cache.exists():
        codes = torch.load(codes_cache, weights_only=False)
    else:
        codes = {}
        for split in ("train", "val"):
            motion = load_motion_split(args.data, split, normalisation=(rvq_state["mean"], rvq_state["std"]))
            codes[split] = encode_clips(model.rvq.cpu(), motion.clips, motion.names)
        if info.is_main:
            run.path.mkdir(parents=True, exist_ok=True)
            torch.save(codes, codes_cache)
        model.rvq.to(info.device)
    train_conditions = load_conditions(args.conditions, "train")
    val_conditions = load_conditions(args.conditions, "val")
    captions = None
    if args.align_weight > 0:
        if args.stage != "mask" or kind != "speech":
            raise SystemExit("--align-weight applies to stage mask with speech conditions")
        captions = embed_sentences([c.caption for c in train_conditions + val_conditions], args.minilm_store)
    labels, actions = action_labels(args.data)
    train = build_examples(codes["train"], train_conditions, captions, labels)
    val = build_examples(codes["val"], val_conditions, captions, labels)
    if args.action_weight > 0 and not actions:
        raise SystemExit("--action-weight needs the motion folder's index.json (the dataset build writes it)")
    draw = action_balanced_weights([e.label for e in train], args.action_balance)
    if not train:
        raise SystemExit("no (condition, motion) pairs matched: check --data and --conditions")
    max_tokens = cfg.length_estimator.num_lengths - 1

    stage = (MaskStage(model, args.length_weight, args.align_weight, action_weight=args.action_weight,
                       num_actions=len(actions)).to(info.device) if args.stage == "mask" else ResidualStage(model))
    trained = stage.trained()
    params = [p for m in trained.values() for p in m.parameters()]
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.99), weight_decay=args.weight_decay)
    step = 0
    state = run.load()
    if state is not None:
        for name, module in trained.items():
            module.load_state_dict(state["modules"][name] if name in state["modules"] else state["heads"][name])
        opt.load_state_dict(state["optimizer"])
        step = state["step"]
        run.log(f"resumed at step {step}")
    else:
        if args.warm_start:
            parts = ["mask_transformer", "length_estimator"] if args.stage == "mask" else ["res_transformer"]
            warm_start(trained, parts, args.warm_start, run)
        if args.encoder_init:
            warm_start(trained, ["audio_encoder"], args.encoder_init, run)
    torch.manual_seed(args.seed + info.rank + step)
    rng = np.random.default_rng(args.seed + 1000 * info.rank + step)
    vrng = np.random.default_rng(12345)
    run.write_config({"model": cfg.to_dict(), "args": vars(args), "world_size": info.world_size})
    ddp = (torch.nn.parallel.DistributedDataParallel(
        stage, device_ids=[info.local_rank] if info.device.type == "cuda" else None,
        find_unused_parameters=args.stage == "residual") if info.distributed else stage)
    warmup = args.warmup if args.warmup is not None else common.default_warmup(args.steps)
    run.log(f"{args.stage}: {sum(p.numel() for p in params)} trained params, {len(train)} train pairs, "
            f"{len(val)} val pairs, warmup {warmup}, bf16 {args.bf16}, encoder {cfg.audio_encoder.kind}")

    def losses(batch):
        with common.autocast_context(info.device, args.bf16):
            total, parts = ddp(*(t.to(info.device) for t in batch))
        return total.float(), {k: float(v) for k, v in parts.items()}

    budget = common.TimeBudget(args.max_minutes)
    bar = tqdm(total=args.steps, initial=step, disable=not info.is_main, desc=args.stage)
    stage.train()
    while step < args.steps:
        for group in opt.param_groups:
            group["lr"] = common.warmup_cosine_lr(step, args.steps, warmup, args.lr)
        batch = sample_pairs(train, args.batch, max_tokens, rng, draw)
        total, parts = losses(batch)
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        bar.update(1)
        out_of_time = budget.exhausted()
        if step % args.log_every == 0 or step == args.steps:
            values = {"loss": total.item(), **parts}
            if val and (step % args.save_every == 0 or step == args.steps or out_of_time):
                stage.eval()
                vbatch = [t.to(info.device) for t in sample_pairs(val, min(256, 4 * args.batch), max_tokens, vrng)]
                vparts, shuffled = validation_losses(stage, vbatch, seed=step)
                values.update({f"val_{k}": float(v) for k, v in vparts.items()})
                values["val_ce_shuffled"] = shuffled
                stage.train()
            run.record(step, **values)
            bar.set_postfix(loss=f"{values['loss']:.3f}", acc=f"{parts['acc']:.3f}")
            run.log(f"step {step} lr {opt.param_groups[0]['lr']:.2e} "
                    + " ".join(f"{k} {v:.4f}" for k, v in values.items()))
        if args.follow_encoder and step % args.log_every == 0:
            mtime = encoder_path.stat().st_mtime
            if mtime != encoder_mtime:
                fresh = torch.load(encoder_path, map_location="cpu", weights_only=False)
                model.audio_encoder.load_state_dict(fresh["modules"]["audio_encoder"])
                encoder_mtime = mtime
                encoder_state = {"step": fresh["step"]}
                run.log(f"reloaded the audio encoder (stage-2 step {fresh['step']})")
        if step % args.save_every == 0 or step == args.steps or out_of_time:
            run.save({"modules": {n: m.state_dict() for n, m in trained.items() if not n.endswith("_head")},
                      "heads": {n: m.state_dict() for n, m in trained.items() if n.endswith("_head")},
                      "optimizer": opt.state_dict(),
                      "step": step, "config": cfg.to_dict(),
                      **({"encoder_step": encoder_state["step"]} if encoder_state else {})})
        if out_of_time:
            run.log(budget.stop_message(step))
            break
    bar.close()
    run.log(f"done at step {step} in {budget.minutes():.1f} min")
    common.cleanup_distributed()


if __name__ == "__main__":
    main()
