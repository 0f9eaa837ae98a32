"""Motion fidelity: given the exact words, does the generator make the motion they ask for?

    python -m kinevox_train.eval.report fidelity --model ../Models/kinevox-default.safetensors \
        --motion cache/motion --captions cache/captions/captions.json [--evaluator runs/evaluator] [--audio]

Per supported action (the physical predicates of eval/predicates.py): the pass rate of the real clips (the ceiling),
of the RVQ-VAE's reconstruction of the same clips (and how often it keeps the real clip's verdict), and of motions
generated from the grammar's captions of the action — original and oral — fed to the generator as the MiniLM
sentence vector the audio encoder was distilled onto (the text condition), over several seeds. `--audio` adds the
same oral captions spoken by training voices through the model's own audio path. These are in-grammar numbers: the
captions come from the grammar the model was trained on.
"""
from __future__ import annotations

import random
import time

import numpy as np
import torch
from tqdm import tqdm

from ..data.humanml3d import features_to_joints
from ..models.generation import generate_from_condition, seeded_uniform
from ..train.conditions import embed_sentences
from .predicates import PREDICATES, Measures, measure

KEY_QUANTITIES = {  # action -> (label, how to read it off the measures) for the second table
    "run": ("median speed, m/s", lambda m: m.speed),
    "dash": ("median speed, m/s", lambda m: m.speed),
    "walk": ("heading change, degrees", lambda m: m.heading),
    "kick": ("ankle height, m", lambda m: max(m.kick_left, m.kick_right)),
    "punch": ("wrist reach, m", lambda m: max(m.reach_left, m.reach_right)),
    "walk-left": ("sideways, m (+ = left)", lambda m: m.lateral),
    "walk-right": ("sideways, m (+ = left)", lambda m: m.lateral),
    "walk-back": ("forward, m", lambda m: m.forward),
    "bow": ("head drop, m", lambda m: m.head_drop),
}


def caption_sets(captions: dict, actions_of: dict[str, str], per_action: int, seed: int = 0) -> dict[str, dict]:
    """action -> {"original": [...], "oral": [...]}: up to `per_action` distinct captions of each kind, drawn with a
    fixed seed from the captions of every clip of the action."""
    pools: dict[str, dict[str, set]] = {}
    for clip_id, entry in captions.items():
        action = actions_of.get(clip_id)
        if action not in PREDICATES:
            continue
        pool = pools.setdefault(action, {"original": set(), "oral": set()})
        pool["original"].update(entry["original"])
        pool["oral"].update(c for rewrites in entry["oral"] for c in rewrites)
    rng = random.Random(seed)
    return {a: {kind: rng.sample(sorted(texts), min(per_action, len(texts))) for kind, texts in pool.items()}
            for a, pool in sorted(pools.items())}


def generate_from_conditions(model, cond: np.ndarray, seeds: list[int], batch: int = 128,
                             desc: str = "generate") -> list[list[np.ndarray]]:
    """Condition tokens [N, K, dim] -> un-normalised motion features [T, 263] per condition per seed."""
    out: list[list[np.ndarray]] = [[] for _ in range(len(cond))]
    with tqdm(total=len(cond) * len(seeds), desc=desc, leave=False) as bar:
        for seed in seeds:
            for start in range(0, len(cond), batch):
                c = torch.from_numpy(np.asarray(cond[start:start + batch], dtype=np.float32))
                motion, _, lengths = generate_from_condition(model, c, model.cfg.sampling,
                                                             seeded_uniform(seed * 1_000_003 + start))
                for i in range(len(c)):
                    out[start + i].append(motion[i, : int(lengths[i]) * model.rvq.downsample].numpy())
                bar.update(len(c))
    return out


def spoken_conditions(model, frontend, texts: list[str], seed: int) -> np.ndarray:
    """The model's audio-path condition [N, K, dim] for each text spoken by a random training voice."""
    from ..data.voices import sample_training_voice, synthesize, training_voice_pool
    from ..train.batches import pad_features

    pool, rng = training_voice_pool(), random.Random(seed)
    feats = [frontend(synthesize(sample_training_voice(pool, rng), t)) for t in tqdm(texts, desc="speak", leave=False)]
    out = []
    with torch.no_grad():
        for start in range(0, len(feats), 64):
            x, lengths = pad_features(feats[start:start + 64])
            out.append(model.audio_encoder(x, lengths).numpy())
    return np.concatenate(out)


def rvq_round_trip(model, clips: list[np.ndarray]) -> list[np.ndarray]:
    """Real clips (un-normalised features) -> joints of the RVQ-VAE's reconstruction with every quantizer."""
    out = []
    down = model.rvq.downsample
    with torch.no_grad():
        for clip in clips:
            n = clip.shape[0] // down * down
            x = torch.from_numpy((clip[:n] - model.motion_mean.numpy()) / model.motion_std.numpy()).float()[None]
            recon = model.rvq.decode(model.rvq.encode(x))[0] * model.motion_std + model.motion_mean
            out.append(features_to_joints(recon.numpy()))
    return out


def pass_rate(action: str, measures: list[Measures]) -> float:
    return float(np.mean([PREDICATES[action](m) for m in measures])) if measures else float("nan")


def fidelity_report(model, motion_root: str, captions: dict, index: list[dict], per_action: int, seeds: list[int],
                    real_per_action: int, evaluator=None, frontend=None) -> dict:
    """The fidelity table (see the module doc) as a dict with its markdown."""
    started = time.time()
    actions_of = {c["id"]: c["action"] for c in index}
    sets = caption_sets(captions, actions_of, per_action)
    rows: dict[str, dict] = {}
    generated = {a: {} for a in sets}
    for kind in ("original", "oral") if per_action else ():
        texts = [t for a in sets for t in sets[a][kind]]
        vectors = embed_sentences(texts)
        cond = np.stack([vectors[t] for t in texts])[:, None, :]
        motions = generate_from_conditions(model, cond, seeds, desc=f"text ({kind})")
        owners = [a for a in sets for _ in sets[a][kind]]
        for action, per_seed in zip(owners, motions):
            generated[action].setdefault(kind, []).extend(measure(features_to_joints(f))
                                                                          for f in per_seed)
            if kind == "oral" and evaluator is not None:
                generated[action].setdefault("features_oral", []).extend(per_seed)
    if frontend is not None and per_action:
        texts = [t for a in sets for t in sets[a]["oral"]]
        cond = spoken_conditions(model, frontend, texts, seed=11)
        motions = generate_from_conditions(model, cond, seeds, desc="audio (training voices)")
        owners = [a for a in sets for _ in sets[a]["oral"]]
        for action, per_seed in zip(owners, motions):
            generated[action].setdefault("audio", []).extend(measure(features_to_joints(f)) for f in per_seed)
    rng = random.Random(1)
    for action in sets:
        clips = [c for c in index if c["action"] == action and c.get("speed", 1.0) == 1.0]
        clips = rng.sample(clips, min(real_per_action, len(clips)))
        feats = [np.load(f"{motion_root}/new_joint_vecs/{c['id']}.npy") for c in clips]
        real = [measure(features_to_joints(f)) for f in feats]
        recon = [measure(j) for j in rvq_round_trip(model, feats)]
        verdicts = [(PREDICATES[action](r), PREDICATES[action](q)) for r, q in zip(real, recon)]
        row = {"real_clips": len(real), "real": pass_rate(action, real), "rvq": pass_rate(action, recon),
               "rvq_agreement": float(np.mean([a == b for a, b in verdicts])) if verdicts else float("nan"),
               "captions": {k: len(v) for k, v in sets[action].items()}}
        for kind, ms in generated[action].items():
            if kind != "features_oral":
                row[kind] = pass_rate(action, ms)
        if action in KEY_QUANTITIES:
            read = KEY_QUANTITIES[action][1]
            texts = generated[action].get("original", []) + generated[action].get("oral", [])
            row["key"] = {"label": KEY_QUANTITIES[action][0], "real": float(np.median([read(m) for m in real])),
                          "rvq": float(np.median([read(m) for m in recon])),
                          "text": float(np.median([read(m) for m in texts])) if texts else float("nan")}
            if action == "walk" and texts:
                row["key"]["text_mean_abs"] = float(np.mean([abs(m.heading) for m in texts]))
        rows[action] = row
    if evaluator is not None and per_action:
        from .texts import canonical_captions

        canon = canonical_captions()
        names = list(canon)
        canon_emb = evaluator.embed_texts([canon[a] for a in names])
        for action in sets:
            emb = evaluator.embed_motions(generated[action]["features_oral"])
            nearest = ((emb[:, None, :] - canon_emb[None]) ** 2).sum(-1).argmin(1)
            rows[action]["evaluator_oral"] = float(np.mean([names[i] == action for i in nearest]))
    return {"rows": rows, "seeds": seeds, "captions_per_action": per_action, "seconds": time.time() - started,
            "markdown": fidelity_markdown(rows)}


def _cell(value) -> str:
    return "–" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value * 100:.0f} %"


def fidelity_markdown(rows: dict[str, dict]) -> str:
    columns = [("real", "real clips (ceiling)"), ("rvq", "RVQ-VAE reconstruction"),
               ("rvq_agreement", "RVQ keeps the verdict"), ("original", "text: original captions"),
               ("oral", "text: oral captions")]
    if any("audio" in r for r in rows.values()):
        columns.append(("audio", "audio: oral captions, training voices"))
    if any("evaluator_oral" in r for r in rows.values()):
        columns.append(("evaluator_oral", "evaluator: text, oral"))
    lines = ["| action | " + " | ".join(name for _, name in columns) + " |", "|---|" + "---|" * len(columns)]
    for action, r in rows.items():
        lines.append(f"| {action} | " + " | ".join(_cell(r.get(k)) for k, _ in columns) + " |")
    overall = {k: np.mean([r[k] for r in rows.values() if k in r and not np.isnan(r[k])]) for k, _ in columns}
    lines.append("| **mean over actions** | " + " | ".join(f"**{_cell(overall[k])}**" for k, _ in columns) + " |")
    lines += ["", "| action | quantity | real clips (median) | RVQ-VAE | generated from text (median) |", "|---|---|---|---|---|"]
    for action, r in rows.items():
        if "key" in r:
            k = r["key"]
            extra = f" (mean abs {k['text_mean_abs']:.1f})" if "text_mean_abs" in k else ""
            lines.append(f"| {action} | {k['label']} | {k['real']:.2f} | {k['rvq']:.2f} | {k['text']:.2f}{extra} |")
    return "\n".join(lines)
