"""Texts the evaluator needs: canonical action captions and the MiniLM embedding of every caption used.

    python -m kinevox_train.eval.texts --captions ../cache/captions/captions.json [--speech ../cache/speech]

pre-computes (and stores in cache/minilm/store.npz) the MiniLM embeddings of the original captions, the spoken
oral captions of the speech cache and the canonical action captions.
"""
from __future__ import annotations

import argparse
import json
import pathlib

import torch

from ..data.captions import ACTIONS
from ..train.conditions import embed_sentences


def clip_actions(motion_root: str | pathlib.Path) -> dict[str, str]:
    """clip id -> action label (mirrored clips carry the mirrored label), from the motion folder's index.json."""
    index = json.loads((pathlib.Path(motion_root) / "index.json").read_text())
    return {c["id"]: c["action"] for c in index["clips"]}


def canonical_captions() -> dict[str, str]:
    """action -> one neutral descriptive caption ("a person walks forward."), distinct for all 25 actions."""
    out: dict[str, str] = {}
    for action, phrases in ACTIONS.items():
        texts = [f"a person {third}." for third, _ in phrases]
        out[action] = next((t for t in texts if t not in out.values()), texts[-1])
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--captions", required=True)
    p.add_argument("--speech", default=None)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    sentences = list(canonical_captions().values())
    table = json.loads(pathlib.Path(args.captions).read_text())
    sentences += [c for entry in table.values() for c in entry["original"]]
    if args.speech:
        index = json.loads((pathlib.Path(args.speech) / "index.json").read_text())
        sentences += [u["text"] for u in index["utterances"]]
    print(f"{len(set(sentences))} unique sentences")
    embed_sentences(sentences)
    print("done")


if __name__ == "__main__":
    main()
