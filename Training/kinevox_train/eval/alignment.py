"""How well an audio encoder's condition carries the instruction, without running the generator.

    python -m kinevox_train.eval.alignment --run runs/align --motion cache/motion --speech cache/speech

`--run` is an alignment run (train.align: the encoder's token is a sentence vector) or a stage-2 run trained
with `--align-weight` (its training-only align_head maps the mean condition token to a sentence vector).
For each speech test set (single-action clips, the same evenly spaced subset as `eval.report actions`) it
prints the mean cosine between that vector and the MiniLM vector of the spoken caption, and the action
accuracy of the nearest canonical action caption (by cosine). The reference row does the same with the
spoken caption's own MiniLM vector: what a perfect audio encoder would reach on this metric.
"""
from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np
import torch
import torch.nn.functional as F

from ..models import AudioEncoder, KinevoxConfig
from ..train.batches import pad_features
from ..train.conditions import embed_sentences, load_conditions
from .report import spread_subset
from .texts import canonical_captions, clip_actions


def load_condition_encoder(run_dir: str | pathlib.Path):
    """(features, lengths) -> [B, 384] sentence-space vectors, from an align or stage-2 run's checkpoint."""
    state = torch.load(pathlib.Path(run_dir) / "checkpoint.pt", map_location="cpu", weights_only=False)
    cfg = KinevoxConfig.from_dict(state["config"])
    encoder = AudioEncoder(cfg.audio_encoder)
    encoder.load_state_dict(state["modules"]["audio_encoder"])
    encoder.eval()
    head = None
    if "align_head" in state.get("heads", {}):
        weights = state["heads"]["align_head"]
        head = torch.nn.Linear(weights["weight"].shape[1], weights["weight"].shape[0])
        head.load_state_dict(weights)
    elif "mask_transformer" in state["modules"]:
        raise SystemExit(f"{run_dir}: a stage-2 run without an align_head has no sentence-space output")

    def encode(feats, lengths) -> torch.Tensor:
        cond = encoder(feats, lengths)
        return head(cond.mean(1)) if head is not None else cond[:, 0]

    return encode, int(state["step"])


def score(vectors: torch.Tensor, truth: list[str], captions: torch.Tensor, canon: torch.Tensor,
          actions: list[str]) -> tuple[float, float]:
    """(mean cosine of `vectors` [N, D] to the unit caption vectors `captions` [N, D], share of rows whose nearest
    canonical caption vector (rows of unit `canon` [A, D], one per `actions` entry) is the true action)."""
    vectors = F.normalize(vectors.float(), dim=-1)
    nearest = (vectors @ canon.T).argmax(1).tolist()
    accuracy = float(np.mean([actions[i] == t for i, t in zip(nearest, truth)]))
    return float((vectors * captions).sum(-1).mean()), accuracy


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True)
    p.add_argument("--motion", required=True)
    p.add_argument("--speech", required=True)
    p.add_argument("--sets", default="test,test_festival,test_10db")
    p.add_argument("--limit", type=int, default=300, help="utterances per set (0 = all), as in eval.report actions")
    p.add_argument("--minilm-store", default="cache/minilm/store.npz")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--output", default=None, help="JSON path (default runs/eval/alignment_<run name>.json)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    encode, step = load_condition_encoder(args.run)
    labels = clip_actions(args.motion)
    canon = canonical_captions()
    actions = list(canon)
    canon_vectors = embed_sentences(list(canon.values()), args.minilm_store)
    canon_matrix = torch.from_numpy(np.stack([canon_vectors[canon[a]] for a in actions]).astype(np.float32))

    def single_action_subset(conditions):
        return spread_subset([c for c in conditions if "+" not in labels[c.motion_id]], args.limit)

    result = {"run": str(args.run), "step": step, "sets": {}}
    lines = ["| set | utterances | cosine to caption vector | nearest-action accuracy | same, caption's own vector |",
             "|---|---|---|---|---|"]
    for speech_set in args.sets.split(","):
        conditions = load_conditions(f"speech:{args.speech}", speech_set, select=single_action_subset)
        truth = [labels[c.motion_id] for c in conditions]
        sentence = embed_sentences([c.caption for c in conditions], args.minilm_store)
        captions = torch.from_numpy(np.stack([sentence[c.caption] for c in conditions]).astype(np.float32))
        with torch.no_grad():
            vectors = torch.cat([encode(*pad_features([c.features for c in conditions[i:i + 64]]))
                                 for i in range(0, len(conditions), 64)])
        cosine, accuracy = score(vectors, truth, captions, canon_matrix, actions)
        _, reference = score(captions, truth, captions, canon_matrix, actions)
        result["sets"][speech_set] = {"utterances": len(conditions), "cosine": cosine, "accuracy": accuracy,
                                      "caption_vector_accuracy": reference}
        lines.append(f"| {speech_set} | {len(conditions)} | {cosine:.3f} | {accuracy * 100:.1f} % | "
                     f"{reference * 100:.1f} % |")
    result["markdown"] = "\n".join(lines)
    out = pathlib.Path(args.output or f"runs/eval/alignment_{pathlib.Path(args.run).name}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"{args.run} (step {step})")
    print(result["markdown"])


if __name__ == "__main__":
    main()
