"""Scores Kinevox's VAD against webrtcvad and Silero VAD v6 on the labelled corpus and prints (or
writes) a Markdown table.

    swift build -c release --product kinevox
    cd Training && ../.venv/bin/python -m kinevox_train.vadbench --kinevox ../.build/release/kinevox \
        --rebuild --markdown ../docs/vad.md
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from scipy.io import wavfile
from tqdm import tqdm

from . import corpus
from .scoring import Score, score_file, merge_frames_to_spans

WEBRTC_FRAME_S = 0.03
HANGOVER_S = 0.4
MIN_UTTERANCE_S = 0.3


def kinevox_spans(binary: str, wav: Path, vad_config: str | None) -> list[tuple[float, float]]:
    command = [binary, "vad", "--audio", str(wav), "--json"]
    if vad_config:
        command += ["--vad-config", vad_config]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return [(u["start_ms"] / 1000, u["end_ms"] / 1000) for u in json.loads(out)]


def webrtc_spans(pcm: np.ndarray, mode: int) -> list[tuple[float, float]]:
    import webrtcvad
    vad = webrtcvad.Vad(mode)
    n = int(WEBRTC_FRAME_S * corpus.RATE)
    flags = [vad.is_speech(pcm[i:i + n].tobytes(), corpus.RATE) for i in range(0, len(pcm) - n + 1, n)]
    return merge_frames_to_spans(flags, WEBRTC_FRAME_S, HANGOVER_S, MIN_UTTERANCE_S)


class SileroV6:
    """Silero VAD v6, the ONNX graph faster-whisper ships (faster_whisper/assets/silero_vad_v6.onnx), run with
    onnxruntime: 512-sample chunks at 16 kHz, each with the 64 samples before it as context, one LSTM state
    carried through the file; a chunk is speech when its probability is at least `THRESHOLD`, and the flags
    are merged into spans with the same hangover and minimum length as the others. A baseline only."""
    CHUNK, CONTEXT, THRESHOLD = 512, 64, 0.5

    def __init__(self) -> None:
        import faster_whisper
        import onnxruntime
        path = Path(faster_whisper.__file__).parent / "assets" / "silero_vad_v6.onnx"
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])

    def probabilities(self, pcm: np.ndarray) -> np.ndarray:
        audio = pcm.astype(np.float32) / 32768
        audio = np.pad(audio, (0, -len(audio) % self.CHUNK))
        chunks = audio.reshape(-1, self.CHUNK)
        context = np.zeros((len(chunks), self.CONTEXT), dtype=np.float32)
        context[1:] = chunks[:-1, -self.CONTEXT:]
        state = np.zeros((1, 1, 128), dtype=np.float32)
        probs, _, _ = self.session.run(None, {"input": np.concatenate([context, chunks], 1), "h": state, "c": state})
        return probs.reshape(-1)

    def spans(self, pcm: np.ndarray) -> list[tuple[float, float]]:
        flags = list(self.probabilities(pcm) >= self.THRESHOLD)
        return merge_frames_to_spans(flags, self.CHUNK / corpus.RATE, HANGOVER_S, MIN_UTTERANCE_S)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinevox", required=True, help="path to the release `kinevox` binary")
    parser.add_argument("--corpus", type=Path, default=corpus.CorpusConfig.out_dir)
    parser.add_argument("--rebuild", action="store_true", help="regenerate the corpus")
    parser.add_argument("--seed", type=int, default=corpus.CorpusConfig.seed,
                        help="corpus seed (the defaults were tuned on seed 99, reported on 1234)")
    parser.add_argument("--vad-config", help="JSON [vad] overrides passed to `kinevox vad`")
    parser.add_argument("--no-silero", action="store_true", help="skip silero (faster tuning runs)")
    parser.add_argument("--markdown", type=Path,
                        help="put the result table between the vadbench markers of this file (e.g. ../docs/vad.md)")
    args = parser.parse_args()

    manifest = args.corpus / "manifest.json"
    if args.rebuild or not manifest.exists():
        print(f"building corpus in {args.corpus} …", file=sys.stderr)
        entries = corpus.build(corpus.CorpusConfig(out_dir=args.corpus, seed=args.seed))
    else:
        entries = json.loads(manifest.read_text())

    systems = ["kinevox"] + [f"webrtcvad-{m}" for m in range(4)] + ([] if args.no_silero else ["silero-v6"])
    silero = None if args.no_silero else SileroV6()
    scores: dict[tuple[str, str], dict[str, Score]] = {}
    for entry in tqdm(entries, desc="files", file=sys.stderr):
        path = args.corpus / entry["name"]
        _, pcm = wavfile.read(path.with_suffix(".wav"))
        truth = [tuple(s) for s in entry["truth_s"]]
        predictions = {"kinevox": kinevox_spans(args.kinevox, path.with_suffix(".wav"), args.vad_config)}
        for mode in range(4):
            predictions[f"webrtcvad-{mode}"] = webrtc_spans(pcm, mode)
        if silero:
            predictions["silero-v6"] = silero.spans(pcm)
        condition = (entry["noise"], "∞" if entry["snr_db"] is None else str(entry["snr_db"]))
        row = scores.setdefault(condition, {name: Score() for name in systems})
        for name in systems:
            row[name].add(score_file(truth, predictions[name], entry["seconds"]))

    # The webrtcvad mode shown is the one with the best mean utterance F1 at >= 10 dB SNR.
    def mean_f1(name: str) -> float:
        rows = [r for (noise, snr), r in scores.items() if snr == "∞" or int(snr) >= 10]
        return float(np.mean([r[name].utterance_f1 for r in rows]))
    best_webrtc = max((f"webrtcvad-{m}" for m in range(4)), key=mean_f1)
    shown = ["kinevox", best_webrtc] + ([] if args.no_silero else ["silero-v6"])
    print(render(scores, shown, systems, mean_f1, args))
    if args.markdown:
        write_table(args.markdown, render(scores, shown, systems, mean_f1, args))


BEGIN, END = "<!-- vadbench:begin -->", "<!-- vadbench:end -->"


def write_table(path: Path, table: str, begin: str = BEGIN, end: str = END) -> None:
    """Replaces the text between the `begin` and `end` markers in `path` (or writes a new file with them)."""
    text = path.read_text() if path.exists() else f"{begin}\n{end}\n"
    if begin not in text or end not in text:
        raise SystemExit(f"{path} has no {begin} … {end} markers to put the table between")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{head}{begin}\n{table}{end}{tail}")


def render(scores, shown, systems, mean_f1, args) -> str:
    lines = ["| noise | SNR dB | " + " | ".join(f"{n} utt P / R / F1 | {n} frame F1" for n in shown) + " |",
             "|---|---|" + "---|---|" * len(shown)]
    for (noise, snr), row in scores.items():
        cells = []
        for name in shown:
            s = row[name]
            cells.append(f"{s.precision:.3f} / {s.recall:.3f} / **{s.utterance_f1:.3f}** | {s.frame_f1:.3f}")
        lines.append(f"| {noise} | {snr} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Mean utterance F1 over the conditions at ≥ 10 dB SNR (clean included): "
                 + ", ".join(f"{n} {mean_f1(n):.3f}" for n in systems) + ".")
    if args.vad_config:
        lines.append(f"Kinevox [vad] overrides: `{args.vad_config}`.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
