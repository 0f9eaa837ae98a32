"""Export trained stages into one Kinevox model file (safetensors, config JSON under `kinevox.config`).

    python -m kinevox_train.export --rvq runs/rvq --generator runs/generator --residual runs/residual \
        --output ../Models/kinevox-default.safetensors [--dtype fp16]

Tensor names: `KinevoxModel.state_dict()` keys (audio_encoder., length_estimator., rvq., mask_transformer.,
res_transformer., motion_mean, motion_std) plus `frontend.*` from the converter of the model's front-end kind
(`frontends.EMBEDDED_CONVERTERS`: speech_embedding's) when it is in the checkout; its config then becomes the
`frontend` section. Other kinds keep the run's `frontend` section (a Whisper model names its front-end file). `load_model` reads a file back into a `KinevoxModel` (refusing missing, extra or mis-shaped tensors).

The file also carries `kinevox.commands`: what the model can be asked to do (the caption grammar's actions and
manners), shown by the viewer's "try saying…" panel. `--stamp-commands FILE` rewrites only that metadata of an
existing model file (tensors and config untouched), for a model exported before the key existed.
"""
from __future__ import annotations

import argparse
import importlib
import json
import pathlib
import sys

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .frontends import EMBEDDED_CONVERTERS, FRONTEND_KINDS
from .models import KinevoxConfig, KinevoxModel
from .models.understanding import UNDERSTANDING_KEY, UnderstandingHead

CONFIG_KEY = "kinevox.config"
COMMANDS_KEY = "kinevox.commands"

# The viewer's first suggestions: one per kind of motion the training data holds, as a user would say them.
EXAMPLE_COMMANDS = ["wave your right hand", "walk forward sadly, with the head down", "take a bow",
                    "raise both hands up", "kick forward with one leg", "walk backward like an old person, bent over"]


def commands_metadata() -> str:
    """The `kinevox.commands` JSON: example commands, every action with the phrases the captions use for it, and
    the manners ("styles") it can be done in. From the caption grammar the training captions came from."""
    from .data.captions import ACTIONS, STYLES
    manners = sorted({phrase for _, phrases in STYLES.values() for phrase in phrases if phrase})
    actions = [{"action": name, "say": [base for _, base in phrases]} for name, phrases in ACTIONS.items()]
    return json.dumps({"examples": EXAMPLE_COMMANDS, "actions": actions, "styles": manners}, separators=(",", ":"))


def sort_metadata(path: str | pathlib.Path) -> None:
    """Rewrite a safetensors file's header with its `__metadata__` keys in sorted order. The writer keeps metadata in
    a hash map, so with two keys their order (and the file's bytes) would change from one write to the next."""
    with open(path, "r+b") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
        header["__metadata__"] = dict(sorted(header.get("__metadata__", {}).items()))
        text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
        if len(text) > size:
            raise ValueError(f"{path}: the re-sorted header is longer than the written one")
        f.seek(8)
        f.write(text.ljust(size, b" "))


def stamp_commands(path: str | pathlib.Path) -> None:
    """Rewrite the `kinevox.commands` metadata of the model file at `path`, keeping its tensors and other metadata."""
    with safe_open(str(path), framework="pt") as f:
        metadata = dict(f.metadata() or {})
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    metadata[COMMANDS_KEY] = commands_metadata()
    save_file(tensors, str(path), metadata=metadata)
    sort_metadata(path)


def model_from_runs(rvq_run: str, generator_run: str, residual_run: str | None,
                    encoder_run: str | None = None) -> KinevoxModel:
    """Assemble a KinevoxModel from the stages' final checkpoints. Without a residual run the residual
    transformer keeps its initial weights: only base-layer decoding is meaningful then (evaluation only).
    `encoder_run` (an alignment run, train.align) replaces the generator run's audio encoder: its output is a
    sentence vector, which a generator trained on MiniLM conditions reads directly."""
    rvq = torch.load(pathlib.Path(rvq_run) / "checkpoint.pt", map_location="cpu", weights_only=False)
    gen = torch.load(pathlib.Path(generator_run) / "checkpoint.pt", map_location="cpu", weights_only=False)
    res = (torch.load(pathlib.Path(residual_run) / "checkpoint.pt", map_location="cpu", weights_only=False)
           if residual_run else {"config": gen["config"], "encoder_step": gen["step"]})
    cfg = KinevoxConfig.from_dict(res["config"])
    if cfg.rvq != KinevoxConfig.from_dict(rvq["config"]).rvq:
        raise ValueError("the residual run's rvq config differs from the RVQ run's: retrain the residual stage")
    if res.get("encoder_step") != gen["step"]:
        print(f"warning: the residual stage last saw the stage-2 encoder of step {res.get('encoder_step')}, "
              f"the exported encoder is from step {gen['step']}", file=sys.stderr)
    generator_cfg = KinevoxConfig.from_dict(gen["config"])
    if encoder_run:
        encoder = torch.load(pathlib.Path(encoder_run) / "checkpoint.pt", map_location="cpu", weights_only=False)
        generator_cfg.audio_encoder = KinevoxConfig.from_dict(encoder["config"]).audio_encoder
        generator_cfg.frontend = KinevoxConfig.from_dict(encoder["config"]).frontend
        gen["modules"]["audio_encoder"] = encoder["modules"]["audio_encoder"]
    if generator_cfg.audio_encoder != cfg.audio_encoder:
        # e.g. a residual transformer trained on MiniLM sentence vectors serving an audio encoder distilled to
        # produce them (train.align): the encoder and front end are the generator run's
        print(f"note: the residual run used the {cfg.audio_encoder.kind} encoder, the generator run the "
              f"{generator_cfg.audio_encoder.kind} encoder; exporting the generator run's", file=sys.stderr)
        cfg.audio_encoder, cfg.frontend = generator_cfg.audio_encoder, generator_cfg.frontend
        cfg.validate()
    model = KinevoxModel(cfg)
    model.rvq.load_state_dict(rvq["model"])
    for name, state in gen["modules"].items():
        getattr(model, name).load_state_dict(state)
    if residual_run:
        model.res_transformer.load_state_dict(res["modules"]["res_transformer"])
    model.motion_mean.copy_(torch.as_tensor(rvq["mean"]))
    model.motion_std.copy_(torch.as_tensor(rvq["std"]))
    return model


def frontend_tensors(kind: str) -> tuple[dict[str, torch.Tensor], dict | None]:
    """(`frontend.*` tensors, frontend config section) from the converter of front-end `kind`
    (`frontends.EMBEDDED_CONVERTERS`), or ({}, None) when that kind is not embedded in model files or its converter
    is not in this checkout."""
    if kind not in FRONTEND_KINDS:
        raise ValueError(f"frontend kind {kind!r} is not one of {', '.join(repr(k) for k in FRONTEND_KINDS)}")
    if kind not in EMBEDDED_CONVERTERS:
        return {}, None
    module, function = EMBEDDED_CONVERTERS[kind]
    try:
        converter = importlib.import_module(module)
    except ImportError:
        return {}, None
    tensors, config = getattr(converter, function)()
    return {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in tensors.items()}, config


def save_model(model: KinevoxModel, path: str | pathlib.Path, dtype: torch.dtype = torch.float16,
               extra: dict[str, torch.Tensor] | None = None) -> None:
    """Write the model (floating tensors cast to `dtype`) with its config under __metadata__."""
    tensors = {}
    for key, value in list(model.state_dict().items()) + list((extra or {}).items()):
        value = value.detach().cpu()
        tensors[key] = (value.to(dtype) if value.is_floating_point() else value).contiguous()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {CONFIG_KEY: model.cfg.to_json(), COMMANDS_KEY: commands_metadata()}
    head = getattr(model, "understanding_head", None)
    if head is not None:
        metadata[UNDERSTANDING_KEY] = head.metadata()
    save_file(tensors, str(path), metadata=metadata)
    sort_metadata(path)


def load_model(path: str | pathlib.Path) -> tuple[KinevoxModel, dict[str, torch.Tensor]]:
    """Read a model file into a float32 KinevoxModel (with its `understanding_head` when the file has one); returns
    (model, frontend tensors)."""
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
        if CONFIG_KEY not in metadata:
            raise ValueError(f"{path}: no '{CONFIG_KEY}' in the safetensors metadata")
        cfg = KinevoxConfig.from_json(metadata[CONFIG_KEY])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    model = KinevoxModel(cfg)
    if UNDERSTANDING_KEY in metadata:  # the optional "understood?" head (models/understanding.py)
        model.understanding_head = UnderstandingHead.from_metadata(
            metadata[UNDERSTANDING_KEY], cfg.audio_encoder.dim * cfg.audio_encoder.num_cond_tokens)
    expected = model.state_dict()
    frontend = {k: v for k, v in tensors.items() if k.startswith("frontend.")}
    body = {k: v for k, v in tensors.items() if not k.startswith("frontend.")}
    missing = sorted(set(expected) - set(body))
    extra = sorted(set(body) - set(expected))
    if missing or extra:
        raise ValueError(f"{path}: missing tensors {missing[:5]}, unexpected tensors {extra[:5]}")
    for key, value in body.items():
        if value.shape != expected[key].shape:
            raise ValueError(f"{path}: tensor {key} has shape {tuple(value.shape)}, "
                             f"expected {tuple(expected[key].shape)}")
    model.load_state_dict({k: v.float() for k, v in body.items()})
    return model.eval(), frontend


def unpack_model(path: str | pathlib.Path, out_dir: str | pathlib.Path) -> None:
    """Write a model file's parts as stage run folders, so training can start from a shipped model:
    OUT/rvq (the --rvq of the generator stages), OUT/generator (audio encoder, masked transformer, length estimator:
    a --warm-start or --encoder run) and OUT/residual (a residual --warm-start)."""
    model, _ = load_model(path)
    cfg = model.cfg.to_dict()
    out = pathlib.Path(out_dir)
    parts = {
        "rvq": {"model": model.rvq.state_dict(), "config": cfg, "step": 0,
                "mean": model.motion_mean.numpy(), "std": model.motion_std.numpy()},
        "generator": {"modules": {n: getattr(model, n).state_dict()
                                  for n in ("audio_encoder", "mask_transformer", "length_estimator")},
                      "config": cfg, "step": 0},
        "residual": {"modules": {"res_transformer": model.res_transformer.state_dict()}, "config": cfg, "step": 0},
    }
    for name, state in parts.items():
        (out / name).mkdir(parents=True, exist_ok=True)
        torch.save(state, out / name / "checkpoint.pt")
    print(f"unpacked {path} into {out}/{{rvq,generator,residual}}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--unpack", default=None, metavar="MODEL",
                   help="instead of exporting: write MODEL's parts as run folders under --output (a folder)")
    p.add_argument("--rvq", default="runs/rvq")
    p.add_argument("--generator", default="runs/generator")
    p.add_argument("--residual", default="runs/residual")
    p.add_argument("--encoder", default=None, help="take the audio encoder from this alignment run (train.align)")
    p.add_argument("--output", default="../Models/kinevox-default.safetensors")
    p.add_argument("--dtype", choices=["fp16", "fp32"], default="fp16")
    p.add_argument("--no-frontend", action="store_true",
                   help="leave out the frontend.* tensors (e.g. a WavLM model whose front end is converted separately)")
    p.add_argument("--stamp-commands", metavar="FILE", default=None,
                   help="only rewrite FILE's kinevox.commands metadata (the command list the viewer shows), then exit")
    args = p.parse_args(argv)
    if args.unpack:
        unpack_model(args.unpack, args.output)
        return
    if args.stamp_commands:
        stamp_commands(args.stamp_commands)
        print(f"wrote the {COMMANDS_KEY} metadata of {args.stamp_commands}")
        return
    model = model_from_runs(args.rvq, args.generator, args.residual, args.encoder)
    kind = model.cfg.frontend["kind"]
    front, front_config = ({}, None) if args.no_frontend else frontend_tensors(kind)
    if not front:
        reason = ("--no-frontend" if args.no_frontend else "not embedded in model files"
                  if kind not in EMBEDDED_CONVERTERS else "its converter is not in this checkout")
        print(f"note: exporting without frontend.* tensors ({kind}: {reason})", file=sys.stderr)
    elif front_config["feature_dim"] != model.cfg.audio_encoder.input_dim:
        raise SystemExit(f"the front end gives {front_config['feature_dim']}-d features, the audio encoder "
                         f"expects {model.cfg.audio_encoder.input_dim}")
    else:
        model.cfg.frontend = front_config
    save_model(model, args.output, torch.float16 if args.dtype == "fp16" else torch.float32, front)
    size = pathlib.Path(args.output).stat().st_size
    print(f"wrote {args.output}: {size / 1e6:.1f} MB, {len(model.state_dict()) + len(front)} tensors")


if __name__ == "__main__":
    main()
