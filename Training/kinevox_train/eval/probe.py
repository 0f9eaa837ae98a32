"""Linear probe: how much action information the frozen front-end features carry, independent of the generator.

    python -m kinevox_train.eval.probe --motion cache/motion --speech cache/speech

Each utterance's features are pooled (mean and max over frames, standardised with the training statistics);
a softmax-regression classifier is fitted on the training set's action labels (single-action clips) and
scored on each test set. This is an upper-bound-style check for the audio path, not part of the model.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from ..train.conditions import load_conditions
from .texts import clip_actions


def pooled(speech_root: str, speech_set: str, labels: dict[str, str]) -> tuple[np.ndarray, list[str]]:
    conditions = [c for c in load_conditions(f"speech:{speech_root}", speech_set) if "+" not in labels[c.motion_id]]
    feats = [c.features.astype(np.float32) for c in conditions]
    x = np.stack([np.concatenate([f.mean(0), f.max(0)]) for f in feats])
    return x, [labels[c.motion_id] for c in conditions]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--motion", required=True)
    p.add_argument("--speech", required=True)
    p.add_argument("--sets", default="test,test_festival,test_10db")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)
    labels = clip_actions(args.motion)
    x, y = pooled(args.speech, "train", labels)
    actions = sorted(set(y))
    index = {a: i for i, a in enumerate(actions)}
    mean, std = x.mean(0), x.std(0) + 1e-6
    inputs = torch.from_numpy((x - mean) / std)
    targets = torch.tensor([index[a] for a in y])
    probe = torch.nn.Linear(inputs.shape[1], len(actions))
    opt = torch.optim.Adam(probe.parameters(), lr=1e-2, weight_decay=1e-4)
    for _ in range(args.steps):
        loss = F.cross_entropy(probe(inputs), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
    print("| set | utterances | linear-probe action accuracy |")
    print("|---|---|---|")
    with torch.no_grad():
        for speech_set in args.sets.split(","):
            xs, ys = pooled(args.speech, speech_set, labels)
            pred = probe(torch.from_numpy((xs - mean) / std)).argmax(1).numpy()
            acc = np.mean([actions[i] == t for i, t in zip(pred, ys)])
            print(f"| {speech_set} | {len(ys)} | {acc * 100:.1f} % |")


if __name__ == "__main__":
    main()
