"""The motion parity fixtures: regenerated bit for bit, loadable as a model file, and self-consistent."""
import json
import pathlib

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from kinevox_train.fixtures.motion import build_model, make_fixtures
from kinevox_train.models import KinevoxConfig
from kinevox_train.models.generation import maskgit_generate, residual_generate, sample_lengths


COMMITTED = pathlib.Path(__file__).resolve().parents[2] / "Tests" / "Fixtures" / "Motion"


def test_fixtures_are_deterministic_and_match_committed(tmp_path):
    make_fixtures(tmp_path)
    again = tmp_path / "again"
    make_fixtures(again)
    for name in ("tiny_generator.safetensors", "tiny_model_fp16.safetensors", "parity.safetensors"):
        assert (tmp_path / name).read_bytes() == (again / name).read_bytes()
        assert (tmp_path / name).stat().st_size < 500_000
        fresh = load_file(str(tmp_path / name))
        committed = load_file(str(COMMITTED / name))
        assert fresh.keys() == committed.keys()
        for key in fresh:
            torch.testing.assert_close(fresh[key], committed[key], atol=1e-5, rtol=1e-5, msg=key)


def test_model_file_has_generator_parts_and_config(tmp_path):
    make_fixtures(tmp_path)
    with safe_open(str(tmp_path / "tiny_generator.safetensors"), "pt") as f:
        cfg = KinevoxConfig.from_json(f.metadata()["kinevox.config"])
        keys = set(f.keys())
    assert {"motion_mean", "motion_std", "rvq.quantizer.layers.0.codebook",
            "res_transformer.output_proj_last", "length_estimator.output.weight"} <= keys
    assert not any(k.startswith("audio_encoder.") for k in keys)
    assert cfg == build_model().cfg


def test_replayed_uniforms_reproduce_sampled_codes(tmp_path):
    make_fixtures(tmp_path)
    p = load_file(str(tmp_path / "parity.safetensors"))
    model = build_model()
    flat = p["gen.uniforms"]
    offset = [0]

    def replay(shape):
        n = int(torch.Size(shape).numel())
        out = flat[offset[0]:offset[0] + n].view(shape)
        offset[0] += n
        return out

    cond = p["gen.cond"]
    with torch.no_grad():
        length = sample_lengths(model.length_estimator(cond), model.cfg.sampling, replay)
        base = maskgit_generate(model.mask_transformer, cond, length, model.cfg.sampling, replay)
        codes = residual_generate(model.res_transformer, base, cond, length, model.cfg.sampling, replay)
    assert offset[0] == flat.numel()
    assert torch.equal(codes.float(), p["gen.sampled_codes"])
    assert json.loads(model.cfg.to_json())["sampling"]["steps"] == 4
