"""Stage 2a (optional): teach the audio encoder what the words mean before it meets the generator.

    python -m kinevox_train.train.align --conditions speech:FEATURE_ROOT --config bundled --dim 384 \
        --run-dir runs/align --steps 3000

The encoder (one condition token of width `--dim`, equal to the MiniLM width 384) is trained to output the
MiniLM sentence embedding of the caption it hears: loss = ||token - minilm(caption)||^2 (direction and unit
norm). Its output can then stand in for the text condition, so stage 2 starts from the text-conditioned
generator (`generator --warm-start runs/gen_text --encoder-init runs/align`) instead of learning the
audio path and the token prior at once. The checkpoint holds `modules.audio_encoder` and the model config.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..models import AudioEncoder
from ..models.config import ENCODER_KINDS
from . import common
from .batches import pad_features
from .conditions import MINILM_DIM, describe_conditions, embed_sentences, load_conditions
from .sources import model_config_from_args


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--conditions", required=True, help="speech:FEATURE_ROOT (the dataset build's speech cache)")
    p.add_argument("--config", default="bundled", help="bundled | paper | tiny | JSON path: the audio encoder's shape")
    p.add_argument("--dim", type=int, default=MINILM_DIM, help="encoder width = the sentence-vector width")
    p.add_argument("--kind", default=None, choices=[k for k in ENCODER_KINDS if k != "identity"],
                   help="audio encoder kind (default: the config's); the others are the paper's Table 6 baselines")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--minilm-store", default="cache/minilm/store.npz", help="MiniLM sentence-vector cache")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--warmup", type=int, default=None, help="default: min(2000, steps / 10)")
    p.add_argument("--weight-decay", type=float, default=1e-5)
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (CPU with AVX512-BF16 or GPU)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--save-every", type=int, default=250)
    p.add_argument("--max-minutes", type=float, default=None)
    p.add_argument("--contrastive-weight", type=float, default=0.0,
                   help="add this times an InfoNCE loss that tells each caption's vector from the batch's others")
    p.add_argument("--temperature", type=float, default=0.05, help="InfoNCE temperature (cosine logits / T)")
    p.add_argument("--frame-dropout", type=float, default=0.0,
                   help="augmentation: zero each feature frame of a training utterance with this probability")
    return p.parse_args(argv)


def batch_of(conditions, vectors: dict[str, np.ndarray], picks: np.ndarray):
    """(features [B, S, F], lengths [B], targets [B, D]) for the chosen conditions."""
    chosen = [conditions[i] for i in picks]
    feats, lengths = pad_features([c.features for c in chosen])
    targets = torch.from_numpy(np.stack([vectors[c.caption] for c in chosen]).astype(np.float32))
    return feats, lengths, targets


def drop_frames(feats: torch.Tensor, probability: float, generator: torch.Generator) -> torch.Tensor:
    """Training augmentation: each frame of [B, S, F] set to zero with `probability` (padding stays zero)."""
    if probability <= 0:
        return feats
    keep = torch.rand(feats.shape[:2], generator=generator) >= probability
    return feats * keep.unsqueeze(-1).to(feats.dtype)


def alignment_loss(encoder: AudioEncoder, feats, lengths, targets, contrastive_weight: float = 0.0,
                   temperature: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, mean cosine similarity) of the encoder's first condition token against the targets. The loss is the
    mean squared distance plus, with `contrastive_weight`, an InfoNCE term: the token's cosine to its own
    caption vector must beat its cosine to the other captions of the batch (a copy of the same caption is
    not counted as a negative)."""
    out = encoder(feats, lengths)[:, 0].float()
    loss = ((out - targets) ** 2).sum(-1).mean()
    cos = F.cosine_similarity(out, targets, dim=-1).mean()
    if contrastive_weight > 0:
        logits = F.normalize(out, dim=-1) @ targets.T / temperature
        same_caption = (targets @ targets.T > 0.9999) & ~torch.eye(len(targets), dtype=torch.bool)
        logits = logits.masked_fill(same_caption, float("-inf"))
        loss = loss + contrastive_weight * F.cross_entropy(logits, torch.arange(len(targets)))
    return loss, cos.detach()


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    kind, input_dim = describe_conditions(args.conditions)
    if kind != "speech":
        raise SystemExit("align trains the audio encoder: --conditions must be speech:FEATURE_ROOT")
    cfg = model_config_from_args(args.config)
    cfg.audio_encoder.input_dim = input_dim
    cfg.frontend["feature_dim"] = input_dim
    cfg.audio_encoder.dim = args.dim
    cfg.audio_encoder.num_cond_tokens = 1
    cfg.audio_encoder.kind = args.kind or cfg.audio_encoder.kind
    for section in (cfg.length_estimator, cfg.mask_transformer, cfg.res_transformer):
        section.cond_dim = args.dim
    cfg.validate()
    run = common.RunDir(args.run_dir)
    train = load_conditions(args.conditions, "train")
    val = load_conditions(args.conditions, "val")
    vectors = embed_sentences([c.caption for c in train + val], args.minilm_store)
    if next(iter(vectors.values())).shape[0] != args.dim:
        raise SystemExit(f"--dim {args.dim} differs from the sentence vectors' width")
    device = torch.device("cpu")
    encoder = AudioEncoder(cfg.audio_encoder)
    with torch.no_grad():  # start at the targets' scale: unit-norm vectors, ~dim^-1/2 per entry
        encoder.out_norm.weight.fill_(args.dim ** -0.5)
    opt = torch.optim.AdamW(encoder.parameters(), lr=args.lr, betas=(0.9, 0.99), weight_decay=args.weight_decay)
    step = 0
    state = run.load()
    if state is not None:
        encoder.load_state_dict(state["modules"]["audio_encoder"])
        opt.load_state_dict(state["optimizer"])
        step = state["step"]
        run.log(f"resumed at step {step}")
    rng = np.random.default_rng(args.seed + step)
    augment = torch.Generator().manual_seed(args.seed + step)
    val_batch = batch_of(val, vectors, np.random.default_rng(12345).choice(len(val), min(512, len(val)), replace=False))
    run.write_config({"model": cfg.to_dict(), "args": vars(args)})
    warmup = args.warmup if args.warmup is not None else common.default_warmup(args.steps)
    run.log(f"align: {sum(p.numel() for p in encoder.parameters())} params, {len(train)} train / {len(val)} val "
            f"utterances, encoder {cfg.audio_encoder.kind} d{args.dim}, warmup {warmup}")
    budget = common.TimeBudget(args.max_minutes)
    bar = tqdm(total=args.steps, initial=step, desc="align")
    encoder.train()
    while step < args.steps:
        for group in opt.param_groups:
            group["lr"] = common.warmup_cosine_lr(step, args.steps, warmup, args.lr)
        with common.autocast_context(device, args.bf16):
            feats, lengths, targets = batch_of(train, vectors, rng.integers(len(train), size=args.batch))
            feats = drop_frames(feats, args.frame_dropout, augment)
            loss, cos = alignment_loss(encoder, feats, lengths, targets, args.contrastive_weight, args.temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(encoder.parameters(), 1.0)
        opt.step()
        step += 1
        bar.update(1)
        out_of_time = budget.exhausted()
        if step % args.log_every == 0 or step == args.steps or out_of_time:
            encoder.eval()
            with torch.no_grad():
                val_loss, val_cos = alignment_loss(encoder, *val_batch, args.contrastive_weight, args.temperature)
            encoder.train()
            run.record(step, loss=loss.item(), cos=float(cos), val_loss=float(val_loss), val_cos=float(val_cos))
            bar.set_postfix(loss=f"{loss.item():.3f}", val_cos=f"{float(val_cos):.3f}")
            run.log(f"step {step} lr {opt.param_groups[0]['lr']:.2e} loss {loss.item():.4f} cos {float(cos):.4f} "
                    f"val_loss {float(val_loss):.4f} val_cos {float(val_cos):.4f}")
        if step % args.save_every == 0 or step == args.steps or out_of_time:
            run.save({"modules": {"audio_encoder": encoder.state_dict()}, "optimizer": opt.state_dict(),
                      "step": step, "config": cfg.to_dict()})
        if out_of_time:
            run.log(budget.stop_message(step))
            break
    bar.close()
    run.log(f"done at step {step} in {budget.minutes():.1f} min")


if __name__ == "__main__":
    main()
