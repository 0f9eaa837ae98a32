"""Contrastive motion/text evaluator (T2M style) and its training command.

    python -m kinevox_train.eval.evaluator --motion ../cache/motion --captions ../cache/captions/captions.json \
        [--speech ../cache/speech] --run-dir runs/evaluator --steps 1500

Motion side: normalised HumanML3D-263 [B, T, 263] -> two strided convs (width 128, x4 down) -> positions -> 2 pre-norm
transformer layers -> masked mean -> LayerNorm -> Linear -> unit vector (256-d). Text side: frozen MiniLM
sentence embedding (384-d) -> MLP -> unit vector. Trained with a symmetric InfoNCE loss; in-batch pairs with
the same (action, style) label are not counted as negatives. Metrics use Euclidean distances between these
unit vectors (so distances lie in [0, 2], unlike the original T2M evaluator's scale).
"""
from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from ..models.layers import SinusoidalPositions, lengths_to_padding_mask, transformer_stack
from ..train import common
from ..train.batches import pad_features
from ..train.conditions import MINILM_DIM, embed_sentences
from ..train.sources import load_motion_split


class MotionEncoder(nn.Module):
    """Normalised motion [B, T, 263] + frame lengths -> unit embeddings [B, dim]."""

    def __init__(self, input_dim: int = 263, width: int = 128, dim: int = 256, layers: int = 2):
        super().__init__()
        self.conv1 = nn.Conv1d(input_dim, width, 4, stride=2, padding=1)
        self.conv2 = nn.Conv1d(width, width, 4, stride=2, padding=1)
        self.positions = SinusoidalPositions(width, 256)
        self.encoder = transformer_stack(width, 4, 2 * width, layers, 0.1, final_norm=True)
        self.out = nn.Linear(width, dim)

    def forward(self, motion: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.conv1(motion.transpose(1, 2)), 0.2)
        h = F.leaky_relu(self.conv2(h), 0.2).transpose(1, 2)
        tokens = torch.clamp(torch.div(lengths, 4, rounding_mode="floor"), min=1)
        pad = lengths_to_padding_mask(tokens, h.shape[1])
        h = self.encoder(self.positions(h), src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).type(h.dtype)
        pooled = (h * keep).sum(1) / keep.sum(1)
        return F.normalize(self.out(pooled), dim=-1)


class TextEncoder(nn.Module):
    """MiniLM sentence embedding [B, 384] -> unit embeddings [B, dim]."""

    def __init__(self, input_dim: int = MINILM_DIM, dim: int = 256):
        super().__init__()
        self.hidden = nn.Linear(input_dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.out(F.gelu(self.hidden(text))), dim=-1)


class Evaluator(nn.Module):
    """Both encoders plus the learnable InfoNCE temperature; `mean`/`std` normalise raw HumanML3D-263."""

    def __init__(self):
        super().__init__()
        self.motion_encoder = MotionEncoder()
        self.text_encoder = TextEncoder()
        self.logit_scale = nn.Parameter(torch.tensor(np.log(1 / 0.07), dtype=torch.float32))
        self.register_buffer("mean", torch.zeros(263))
        self.register_buffer("std", torch.ones(263))

    @torch.no_grad()
    def embed_motions(self, motions: list[np.ndarray], batch: int = 128) -> np.ndarray:
        """Raw (un-normalised) HumanML3D-263 clips -> [N, 256] embeddings (eval mode)."""
        self.eval()
        out = []
        for start in range(0, len(motions), batch):
            chunk = [(torch.from_numpy(np.asarray(m, np.float32)) - self.mean) / self.std
                     for m in motions[start:start + batch]]
            x, lengths = pad_features([c.numpy() for c in chunk])
            out.append(self.motion_encoder(x, lengths).numpy())
        return np.concatenate(out).astype(np.float64)

    @torch.no_grad()
    def embed_texts(self, sentences: list[str]) -> np.ndarray:
        self.eval()
        vectors = embed_sentences(sentences)
        x = torch.from_numpy(np.stack([vectors[s] for s in sentences]).astype(np.float32))
        return self.text_encoder(x).numpy().astype(np.float64)


def load_evaluator(run_dir: str | pathlib.Path) -> Evaluator:
    state = torch.load(pathlib.Path(run_dir) / "checkpoint.pt", map_location="cpu", weights_only=False)
    model = Evaluator()
    model.load_state_dict(state["model"])
    return model.eval()


def contrastive_loss(model: Evaluator, motion_emb, text_emb, labels: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE; off-diagonal pairs sharing a label are masked out of the softmax."""
    logits = model.logit_scale.exp().clamp(max=100) * motion_emb @ text_emb.t()
    same = (labels[:, None] == labels[None, :]) & ~torch.eye(len(labels), dtype=torch.bool)
    logits = logits.masked_fill(same, float("-inf"))
    target = torch.arange(len(labels))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


def training_pairs(motion_root: str, captions_json: str, speech_root: str | None, split: str):
    """(clip index -> list of captions, clip labels) for clips of `split`: originals (+ spoken oral texts)."""
    table = json.loads(pathlib.Path(captions_json).read_text())
    index = {c["id"]: c for c in json.loads((pathlib.Path(motion_root) / "index.json").read_text())["clips"]}
    captions: dict[str, list[str]] = {k: list(v["original"]) for k, v in table.items()}
    if speech_root:
        for u in json.loads((pathlib.Path(speech_root) / "index.json").read_text())["utterances"]:
            if u["set"] == split:
                captions.setdefault(u["clip_id"], []).append(u["text"])
    labels = {k: f"{v['action']}/{v['style']}" for k, v in index.items()}
    return captions, labels


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--motion", required=True)
    p.add_argument("--captions", required=True)
    p.add_argument("--speech", default=None)
    p.add_argument("--run-dir", default="runs/evaluator")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-minutes", type=float, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    run = common.RunDir(args.run_dir)
    train = load_motion_split(args.motion, "train")
    captions, labels = training_pairs(args.motion, args.captions, args.speech, "train")
    keep = [i for i, n in enumerate(train.names) if captions.get(n)]
    names = [train.names[i] for i in keep]
    clips = [train.clips[i] for i in keep]
    weights = train.weights[keep] / train.weights[keep].sum()
    vectors = embed_sentences([c for n in names for c in captions[n]])
    label_ids = {l: i for i, l in enumerate(sorted(set(labels[n] for n in names)))}
    model = Evaluator()
    model.mean.copy_(torch.from_numpy(train.mean))
    model.std.copy_(torch.from_numpy(train.std))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    step = 0
    state = run.load()
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step = state["step"]
    run.write_config({"args": vars(args)})
    run.log(f"evaluator: {len(names)} clips, {len(vectors)} captions, {len(label_ids)} labels")
    warmup = common.default_warmup(args.steps, 200)
    budget = common.TimeBudget(args.max_minutes)
    bar = tqdm(total=args.steps, initial=step, desc="evaluator")
    model.train()
    while step < args.steps:
        for group in opt.param_groups:
            group["lr"] = common.warmup_cosine_lr(step, args.steps, warmup, args.lr)
        picks = rng.choice(len(names), args.batch, p=weights)
        motion, lengths = pad_features([clips[i] for i in picks])
        text = torch.from_numpy(np.stack([vectors[captions[names[i]][rng.integers(len(captions[names[i]]))]]
                                          for i in picks]).astype(np.float32))
        label = torch.tensor([label_ids[labels[names[i]]] for i in picks])
        loss = contrastive_loss(model, model.motion_encoder(motion, lengths), model.text_encoder(text), label)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        bar.update(1)
        out_of_time = budget.exhausted()
        if step % 25 == 0 or step == args.steps:
            run.record(step, loss=loss.item())
            run.log(f"step {step} loss {loss.item():.4f} scale {model.logit_scale.exp().item():.1f}")
        if step % 250 == 0 or step == args.steps or out_of_time:
            run.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step})
        if out_of_time:
            break
    bar.close()
    run.log(f"done at step {step}")


if __name__ == "__main__":
    main()
