"""Model files with random weights for timing: same architecture, same cost, meaningless motion.

    python -m kinevox_train.bench.model_files --bundled OUT.safetensors   # bundled_config() + real speech_embedding
    python -m kinevox_train.bench.model_files --paper OUT.safetensors     # paper_config() + random WavLM-Base

The timings of an untrained model equal a trained one's except for the predicted motion length, which the
benchmarks fix (frames per utterance) so that every engine does the same work.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib

import torch
from safetensors.torch import save_file

from ..models import KinevoxModel, bundled_config, paper_config

CONFIG_KEY = "kinevox.config"


def _write(model: KinevoxModel, frontend_tensors: dict, frontend_config: dict, path: pathlib.Path) -> pathlib.Path:
    """One model file: the model's state_dict + `frontend.*`, fp16 like the bundled file, config under metadata."""
    config = dataclasses.asdict(model.cfg)
    config["frontend"] = frontend_config
    tensors = dict(model.state_dict())
    tensors.update({k: torch.tensor(v) if not isinstance(v, torch.Tensor) else v for k, v in frontend_tensors.items()})
    tensors = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in tensors.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".partial")
    save_file(tensors, str(temporary), metadata={CONFIG_KEY: json.dumps(config)})
    temporary.rename(path)
    return path


@torch.no_grad()
def bundled_random(path: pathlib.Path, seed: int = 0) -> pathlib.Path:
    """bundled_config() with the training code's random initialisation and the real speech_embedding weights."""
    from ..frontends.convert_speech_embedding import convert_speech_embedding

    torch.manual_seed(seed)
    model = KinevoxModel(bundled_config()).eval()
    tensors, frontend_config = convert_speech_embedding()
    return _write(model, tensors, frontend_config, path)


@torch.no_grad()
def paper_random(path: pathlib.Path, seed: int = 0) -> pathlib.Path:
    """paper_config() (6-layer d-384 generators, 6 x 512 codes, 256 x 512 memory) behind a randomly
    initialised WavLM-Base (transformers' default WavLMConfig), converted to Kinevox's WavLM tensor layout."""
    from transformers import WavLMConfig, WavLMModel

    from ..frontends.convert_wavlm import convert_hf

    torch.manual_seed(seed)
    model = KinevoxModel(paper_config()).eval()
    tensors, frontend_config = convert_hf(WavLMModel(WavLMConfig()).eval())
    return _write(model, tensors, frontend_config, path)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundled", type=pathlib.Path, help="write a random bundled-architecture model here")
    parser.add_argument("--paper", type=pathlib.Path, help="write a random paper-sized model here")
    args = parser.parse_args(argv)
    for path, build in ((args.bundled, bundled_random), (args.paper, paper_random)):
        if path is not None:
            build(path)
            print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
