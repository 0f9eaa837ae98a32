"""Export -> reload round trip of a model file (fp16 storage, config metadata, strict tensor binding)."""
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from kinevox_train.export import CONFIG_KEY, load_model, save_model
from kinevox_train.models import KinevoxConfig, KinevoxModel, tiny_config
from kinevox_train.models.generation import generate, seeded_uniform


def test_export_reload_round_trip(tmp_path):
    torch.manual_seed(0)
    model = KinevoxModel(tiny_config()).eval()
    model.motion_mean.normal_()
    model.motion_std.uniform_(0.5, 2.0)
    for layer in model.rvq.quantizer.layers:
        layer.codebook.normal_()
    path = tmp_path / "m.safetensors"
    save_model(model, path, torch.float16, {"frontend.mel.weight": torch.ones(3, 2)})
    with safe_open(str(path), framework="pt") as f:
        assert KinevoxConfig.from_json(f.metadata()[CONFIG_KEY]) == model.cfg
        assert f.get_tensor("rvq.decoder.output_conv.weight").dtype == torch.float16
        assert all(k.split(".")[0] in {"frontend", "audio_encoder", "length_estimator", "rvq", "mask_transformer",
                                       "res_transformer", "motion_mean", "motion_std"} for k in f.keys())
    loaded, frontend = load_model(path)
    assert list(frontend) == ["frontend.mel.weight"]
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value.half().float())
    # the reloaded model generates exactly like the original model with fp16-rounded weights
    model.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})
    feats = torch.randn(1, 9, model.cfg.audio_encoder.input_dim)
    a = generate(model, feats, torch.tensor([9]), model.cfg.sampling, seeded_uniform(1))
    b = generate(loaded, feats, torch.tensor([9]), loaded.cfg.sampling, seeded_uniform(1))
    assert torch.equal(a[1], b[1])
    torch.testing.assert_close(a[0], b[0])


def test_reload_refuses_missing_and_misshaped_tensors(tmp_path):
    model = KinevoxModel(tiny_config())
    tensors = {k: v.clone().contiguous() for k, v in model.state_dict().items()}
    meta = {CONFIG_KEY: model.cfg.to_json()}
    missing = dict(tensors)
    missing.pop("mask_transformer.head.out.bias")
    save_file(missing, str(tmp_path / "a.safetensors"), metadata=meta)
    with pytest.raises(ValueError, match="mask_transformer.head.out.bias"):
        load_model(tmp_path / "a.safetensors")
    wrong = dict(tensors)
    wrong["motion_mean"] = torch.zeros(5)
    save_file(wrong, str(tmp_path / "b.safetensors"), metadata=meta)
    with pytest.raises(ValueError, match="motion_mean"):
        load_model(tmp_path / "b.safetensors")


def test_commands_metadata_lists_every_trained_action_and_stamping_keeps_the_tensors(tmp_path):
    import json

    from kinevox_train.data.captions import ACTIONS
    from kinevox_train.export import COMMANDS_KEY, commands_metadata, stamp_commands

    commands = json.loads(commands_metadata())
    assert [a["action"] for a in commands["actions"]] == list(ACTIONS)
    said = {phrase for a in commands["actions"] for phrase in a["say"]}
    # every example starts with a phrase the captions use, so it is inside the model's vocabulary
    assert all(any(example.startswith(phrase) for phrase in said) for example in commands["examples"]), commands["examples"]
    assert "sadly, with the head down" in commands["styles"]

    path = tmp_path / "old.safetensors"
    save_file({"a": torch.arange(6, dtype=torch.float16).reshape(2, 3)}, str(path), metadata={CONFIG_KEY: "{}"})
    stamp_commands(path)
    with safe_open(str(path), framework="pt") as f:
        assert f.metadata()[CONFIG_KEY] == "{}"
        assert json.loads(f.metadata()[COMMANDS_KEY]) == commands
        assert torch.equal(f.get_tensor("a"), torch.arange(6, dtype=torch.float16).reshape(2, 3))
