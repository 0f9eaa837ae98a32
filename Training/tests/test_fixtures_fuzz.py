"""The fuzz-model seeds: regenerated bit for bit, within run.sh's -max_len, loadable as whole models."""
import json
import pathlib

from safetensors import safe_open

from kinevox_train.export import load_model
from kinevox_train.fixtures import fuzz

COMMITTED = pathlib.Path(__file__).resolve().parents[2] / "Fuzz" / "corpus" / "fuzz-model"
NAMES = ("minimal_model.safetensors", "minimal_model_avgpool.safetensors", "minimal_model_understanding.safetensors")


def test_seeds_are_deterministic_small_and_match_committed(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.argv", ["fuzz", "--out", str(tmp_path)])
    fuzz.main()
    for name in NAMES:
        assert (tmp_path / name).read_bytes() == (COMMITTED / name).read_bytes(), name
        assert (tmp_path / name).stat().st_size <= 65536  # Fuzz/run.sh's -max_len for fuzz-model
        header_size = int.from_bytes((tmp_path / name).read_bytes()[:8], "little")
        assert header_size < 16_384  # 16 KiB


def test_seeds_are_whole_models_with_an_embedded_front_end():
    for name in NAMES:
        model, frontend = load_model(COMMITTED / name)
        assert frontend and all(k.startswith("frontend.") for k in frontend)
        with safe_open(str(COMMITTED / name), "pt") as f:
            config = json.loads(f.metadata()["kinevox.config"])
        assert config["frontend"]["kind"] == "speech_embedding"
        assert model.cfg.audio_encoder.kind in ("memory", "avgpool")
