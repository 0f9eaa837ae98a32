"""The whole dataset build: motion -> multi-stage samples -> captions -> speech, then a summary.

Run from Training/: ``python -m kinevox_train.data.build --cache DIR`` (2 worker processes; build
times in docs/dataset.md). ``--summary-only`` prints the summary of an existing cache.
Writes ``DIR/summary.json`` with the numbers it prints.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .captions import build_captions
from .motion import DEFAULT_CACHE, MotionConfig, build_motion, summary_lines
from .multistage import build_multistage
from .speech import SpeechConfig, build_speech


def summarize(cache: Path) -> dict:
    """Headline numbers of a built cache (motion, captions, speech)."""
    motion = json.loads((cache / "motion" / "index.json").read_text())
    captions = json.loads((cache / "captions" / "stats.json").read_text())
    speech = json.loads((cache / "speech" / "index.json").read_text())["counts"]
    clips = motion["clips"]
    return {
        "clips": len(clips),
        "clips_per_split": {s: sum(c["split"] == s for c in clips) for s in ("train", "val", "test")},
        "multistage_clips": sum("parts" in c for c in clips),
        "frames": sum(c["n_frames"] for c in clips),
        "motion_hours": round(sum(c["n_frames"] for c in clips) / 20 / 3600, 2),
        "captions": captions,
        "utterances": speech["utterances"],
        "audio_hours": speech["hours"],
        "voices": {k: speech[k] for k in ("voice_identities", "train_voice_identities", "espeak_base_voices",
                                          "flite_voices", "festival_voices")},
    }


def print_summary(summary: dict) -> None:
    """Print the headline numbers, one line per topic."""
    c = summary["captions"]
    print(f"clips {summary['clips']} ({', '.join(f'{k} {v}' for k, v in summary['clips_per_split'].items())}; "
          f"multi-stage {summary['multistage_clips']})")
    print(f"frames {summary['frames']} ({summary['motion_hours']} h at 20 fps)")
    print(f"captions: original {c['original_captions']} ({c['unique_original']} unique), oral {c['oral_captions']} "
          f"({c['unique_oral']} unique), vocabulary {c['vocabulary_all']} words")
    print("utterances " + ", ".join(f"{k} {v}" for k, v in summary["utterances"].items())
          + f" (total {sum(summary['utterances'].values())})")
    print(f"audio hours {sum(summary['audio_hours'].values()):.2f} (" + ", ".join(f"{k} {v}" for k, v in summary["audio_hours"].items()) + ")")
    v = summary["voices"]
    print(f"voices: {v['voice_identities']} identities ({v['train_voice_identities']} in train/val; "
          f"{v['espeak_base_voices']} espeak-ng accent+variant voices, flite {', '.join(v['flite_voices'])}); "
          f"unseen test voices {', '.join(v['festival_voices'])}")


def main(argv: list[str] | None = None) -> None:
    """Command line: build every step (or only summarise) and print the summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="quick check: N takes (motion) and N clips per split (speech)")
    parser.add_argument("--summary-only", action="store_true")
    args = parser.parse_args(argv)
    if not args.summary_only:
        index = build_motion(MotionConfig(cache=args.cache, seed=args.seed, workers=args.workers, limit=args.limit))
        print("\n".join(summary_lines(index)))
        counts = {"train": 600, "val": 60, "test": 60} if not args.limit else {"train": 4, "val": 2, "test": 2}
        build_multistage(args.cache, args.seed, counts)
        build_captions(args.cache, args.seed)
        build_speech(SpeechConfig(cache=args.cache, seed=args.seed, workers=args.workers, limit=args.limit))
    summary = summarize(args.cache)
    (args.cache / "summary.json").write_text(json.dumps(summary, indent=1))
    print_summary(summary)


if __name__ == "__main__":
    main()
