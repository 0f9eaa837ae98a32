"""The motion parity fixtures: regenerated bit for bit, loadable as a model file, and self-consistent."""
import json
import pathlib

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from kinevox_train.fixtures.motion import build_model, make_fixtures
from kinevox_train.models import KinevoxConfig
from kinevox_train.models.generation import maskgit_generate, residual_generate, sample_lengths


COMMITTED = pathlib.Path(__file__).resolve().parents[2] / "Tests" / "Fixtures" / "Motion"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """The fixtures written once into a temporary folder for all tests of this file."""
    out = tmp_path_factory.mktemp("motion_fixtures")
    make_fixtures(out)
    return out


def test_fixtures_are_deterministic_and_match_committed(fresh, tmp_path):
    make_fixtures(tmp_path)
    for name in ("tiny_generator.safetensors", "tiny_model_fp16.safetensors", "parity.safetensors"):
        assert (fresh / name).read_bytes() == (tmp_path / name).read_bytes()
        assert (fresh / name).stat().st_size < 500_000
        written = load_file(str(fresh / name))
        committed = load_file(str(COMMITTED / name))
        assert written.keys() == committed.keys()
        for key in written:
            torch.testing.assert_close(written[key], committed[key], atol=1e-5, rtol=1e-5, msg=key)


def test_model_file_has_generator_parts_and_config(fresh):
    with safe_open(str(fresh / "tiny_generator.safetensors"), "pt") as f:
        cfg = KinevoxConfig.from_json(f.metadata()["kinevox.config"])
        keys = set(f.keys())
    assert {"motion_mean", "motion_std", "rvq.quantizer.layers.0.codebook",
            "res_transformer.output_proj_last", "length_estimator.output.weight"} <= keys
    assert not any(k.startswith("audio_encoder.") for k in keys)
    assert cfg == build_model().cfg


def test_replayed_uniforms_reproduce_sampled_codes(fresh):
    p = load_file(str(fresh / "parity.safetensors"))
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
