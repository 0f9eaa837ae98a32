"""Train the "understood?" head of a model file on its own audio encoder's conditions, and write the model with it.

    python -m kinevox_train.train.understanding --model ../Models/kinevox-default.safetensors \
        --data cache/understanding --output runs/understanding/kinevox-understanding.safetensors

Data: data/understanding.py (spoken commands with their action, non-commands, silence and noise; training voices).
The model's audio encoder turns every utterance into its condition token; the head (models/understanding.py) is
fitted on them with class-balanced cross-entropy, its validation part being utterances whose words it never saw.
The threshold is set so that `--reject-commands` of the validation commands would be rejected, and the validation
rejection rates are printed. The output is the input file with the head's tensors (float32) and the
`kinevox.understanding` metadata added; every other tensor and metadata entry is copied unchanged.
"""
from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.numpy import save_file
from tqdm import tqdm

from ..data.understanding import NOT_UNDERSTOOD, load
from ..export import load_model, sort_metadata
from ..models.understanding import PREFIX, UNDERSTANDING_KEY, UnderstandingHead


def conditions(model, utterances: list[dict], features: np.ndarray) -> torch.Tensor:
    """The audio encoder's condition token [N, dim] of every utterance."""
    out = []
    with torch.no_grad():
        for u in tqdm(utterances, desc="conditions", unit="utt"):
            f = torch.from_numpy(np.asarray(features[u["offset"]:u["offset"] + u["n_frames"]], np.float32))[None]
            out.append(model.audio_encoder(f, torch.tensor([f.shape[1]]))[0].reshape(-1))
    return torch.stack(out)


def split_by_text(utterances: list[dict], val_share: float, seed: int) -> np.ndarray:
    """A boolean validation mask: whole texts (and generated clips by kind) go to validation together."""
    keys = sorted({u["text"] or u.get("audio", "") for u in utterances})
    rng = np.random.default_rng(seed)
    val_keys = set(rng.choice(keys, size=max(1, int(len(keys) * val_share)), replace=False))
    return np.array([(u["text"] or u.get("audio", "")) in val_keys for u in utterances])


def fit(head: UnderstandingHead, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float, weight_decay: float) -> list[float]:
    """Full-batch AdamW on class-balanced cross-entropy; returns the loss per step."""
    counts = torch.bincount(y, minlength=len(head.actions) + 1).float()
    weights = counts.sum() / (counts.clamp(min=1) * len(counts))
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    losses = []
    for _ in tqdm(range(steps), desc="head", unit="step"):
        loss = F.cross_entropy(head(x), y, weight=weights)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def write_with_head(src: pathlib.Path, dst: pathlib.Path, head: UnderstandingHead) -> None:
    """Copy the model file `src` to `dst` with the head's tensors and metadata added (an old head replaced)."""
    with safe_open(str(src), framework="np") as f:
        metadata = dict(f.metadata() or {})
        tensors = {k: f.get_tensor(k) for k in f.keys() if not k.startswith(PREFIX)}
    for name, value in head.state_dict().items():
        tensors[PREFIX + name] = value.detach().numpy().astype(np.float32)
    metadata[UNDERSTANDING_KEY] = head.metadata()
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(dst), metadata=metadata)
    sort_metadata(dst)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--data", default="cache/understanding")
    p.add_argument("--output", required=True)
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=1e-2)
    p.add_argument("--val-share", type=float, default=0.15)
    p.add_argument("--reject-commands", type=float, default=0.05,
                   help="share of validation commands the threshold may reject")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    model, _ = load_model(args.model)
    utterances, features = load(pathlib.Path(args.data))
    actions = sorted({u["action"] for u in utterances} - {NOT_UNDERSTOOD})
    labels = torch.tensor([len(actions) if u["action"] == NOT_UNDERSTOOD else actions.index(u["action"])
                           for u in utterances])
    x = conditions(model, utterances, features)
    val = split_by_text(utterances, args.val_share, args.seed)
    head = UnderstandingHead(x.shape[1], actions)
    losses = fit(head, x[~val], labels[~val], args.steps, args.lr, args.weight_decay)

    verdicts = head.understand(x)
    conf = np.array([v.confidence for v in verdicts])
    predicted = np.array([actions.index(v.action) for v in verdicts])
    is_cmd = labels.numpy() != len(actions)
    threshold = float(np.quantile(conf[val & is_cmd], args.reject_commands))
    head.threshold = threshold
    report = {"threshold": threshold, "final_loss": losses[-1], "utterances": len(utterances),
              "val": {"commands": int((val & is_cmd).sum()), "non_commands": int((val & ~is_cmd).sum()),
                      "commands_rejected": float(np.mean(conf[val & is_cmd] < threshold)),
                      "non_commands_rejected": float(np.mean(conf[val & ~is_cmd] < threshold)),
                      "action_accuracy": float(np.mean(predicted[val & is_cmd] == labels.numpy()[val & is_cmd]))},
              "train": {"commands_rejected": float(np.mean(conf[~val & is_cmd] < threshold)),
                        "non_commands_rejected": float(np.mean(conf[~val & ~is_cmd] < threshold))}}
    out = pathlib.Path(args.output)
    write_with_head(pathlib.Path(args.model), out, head)
    (out.parent / (out.stem + ".understanding.json")).write_text(json.dumps(report, indent=1) + "\n")
    v = report["val"]
    print(f"threshold {threshold:.3f}; validation (unseen texts, training voices): commands rejected "
          f"{v['commands_rejected'] * 100:.1f} % of {v['commands']}, non-commands rejected "
          f"{v['non_commands_rejected'] * 100:.1f} % of {v['non_commands']}, action {v['action_accuracy'] * 100:.1f} %")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
