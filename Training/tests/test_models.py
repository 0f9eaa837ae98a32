"""Model modules: shapes, padding invariance, CFG, one optimisation step lowering each stage's loss."""
import dataclasses
import math

import pytest
import torch

from kinevox_train.models import KinevoxConfig, KinevoxModel, bundled_config, paper_config, tiny_config
from kinevox_train.models.audio_encoder import AudioEncoder, masked_adaptive_avg_pool
from kinevox_train.models.generation import generate, maskgit_generate, seeded_uniform, top_k_filter


def _seeded_loss(fn, seed=0):
    torch.manual_seed(seed)
    return fn()


def _step_lowers(model, params, loss_fn, lr=1e-3):
    """Same seed => same masks/dropout before and after one AdamW step on a fixed batch."""
    opt = torch.optim.AdamW(params, lr=lr)
    before = _seeded_loss(loss_fn)
    opt.zero_grad()
    before.backward()
    opt.step()
    with torch.no_grad():
        after = _seeded_loss(loss_fn)
    return before.item(), after.item()


def test_config_json_round_trip_and_validation():
    cfg = paper_config()
    assert KinevoxConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="unknown keys"):
        KinevoxConfig.from_dict({"rvq": {"widht": 3}})
    bad = tiny_config()
    bad.mask_transformer.cond_dim = 7
    with pytest.raises(ValueError, match="cond_dim"):
        bad.validate()


@pytest.mark.parametrize("kind", ["memory", "transformer", "conv1d", "avgpool"])
def test_audio_encoder_kinds_ignore_padding(kind):
    cfg = dataclasses.replace(tiny_config().audio_encoder, kind=kind)
    enc = AudioEncoder(cfg).eval()
    feats = torch.randn(1, 9, cfg.input_dim)
    padded = torch.cat([feats, torch.randn(1, 5, cfg.input_dim) * 100], dim=1)
    a = enc(feats, torch.tensor([9]))
    b = enc(padded, torch.tensor([9]))
    assert a.shape == (1, cfg.num_cond_tokens, cfg.dim)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_memory_retrieval_starts_with_frame_dependent_attention():
    """Regression: with N(0, 0.02) weights the retrieval softmax was uniform (entropy = log M), every frame got
    the same vector and the generator could never learn to use the audio."""
    cfg = dataclasses.replace(bundled_config().audio_encoder, kind="memory")
    enc = AudioEncoder(cfg)
    retrieval = enc.retrieval
    x = enc.input_norm(torch.randn(4, 30, cfg.input_dim))
    scores = retrieval.query_proj(x) @ retrieval.key_proj(retrieval.memory).t() / cfg.dim ** 0.5
    attn = scores.softmax(-1)
    entropy = -(attn * attn.log()).sum(-1).mean()
    assert 0.5 < scores.std() < 2.0
    assert entropy < math.log(cfg.num_memory) - 0.25  # the old init: log M to 1e-6
    retrieved = retrieval(x)
    assert retrieved.std(dim=(0, 1)).mean() > 0.1 * retrieved.abs().mean()


def test_masked_adaptive_avg_pool_known_values():
    x = torch.arange(6, dtype=torch.float32).view(1, 6, 1)
    out = masked_adaptive_avg_pool(x, torch.tensor([4]), 2)  # frames 0..3 -> bins {0,1}, {2,3}
    assert out.flatten().tolist() == [0.5, 2.5]


def test_top_k_filter_keeps_k_largest():
    logits = torch.tensor([[1.0, 5.0, 3.0, 4.0]])
    out = top_k_filter(logits, 2)
    assert torch.isinf(out[0, 0]) and torch.isinf(out[0, 2])
    assert out[0, 1] == 5.0 and out[0, 3] == 4.0


def _tiny_rvq():
    """A tiny RVQ-VAE without quantize dropout whose codebooks were initialised from a batch, and that batch."""
    cfg = tiny_config()
    cfg.rvq.quantize_dropout_prob = 0.0
    model = KinevoxModel(cfg).rvq
    motion = torch.randn(4, 16, 263)
    model.train()
    model(motion)  # initialises the codebooks from encoder outputs
    model.eval()
    return cfg, model, motion


def test_rvq_step_lowers_loss_and_codes_round_trip():
    cfg, model, motion = _tiny_rvq()

    def loss_fn():
        recon, _, commit = model(motion)
        return model.loss(motion, recon, commit)[0]

    before, after = _step_lowers(model, model.parameters(), loss_fn)
    assert after < before
    codes = model.encode(motion)
    assert codes.shape == (4, 4, cfg.rvq.num_quantizers)
    recon, idx, _ = model(motion)
    torch.testing.assert_close(idx, codes)
    torch.testing.assert_close(model.decode(codes), recon)
    padded = torch.cat([codes, torch.full((4, 1, cfg.rvq.num_quantizers), -1)], dim=1)
    assert model.decode(padded).shape == (4, 20, 263)


def test_rvq_root_and_velocity_terms_step_lowers_them():
    _, model, motion = _tiny_rvq()
    for part in ("root", "velocity"):
        weights = {"root_weight": 1.0 if part == "root" else 0.0, "velocity_weight": 1.0 if part == "velocity" else 0.0}
        seen = []

        def loss_fn():
            recon, _, commit = model(motion)
            total, parts = model.loss(motion, recon, commit, **weights)
            seen.append(float(parts[part]))
            return total

        _step_lowers(model, model.parameters(), loss_fn, lr=1e-2)
        assert seen[1] < seen[0], part
    assert set(model.loss(motion, motion, torch.tensor(0.0))[1]) == {"rec", "joint", "commit"}


def test_mask_transformer_and_length_estimator_step_lowers_loss():
    cfg = tiny_config()
    model = KinevoxModel(cfg).train()
    ids = torch.randint(0, cfg.rvq.num_codes, (6, 10))
    lengths = torch.tensor([10, 8, 6, 10, 5, 9])
    feats = torch.randn(6, 14, cfg.audio_encoder.input_dim)
    flens = torch.tensor([14, 10, 12, 7, 14, 9])

    def loss_fn():
        cond = model.audio_encoder(feats, flens)
        loss, _ = model.mask_transformer.training_loss(ids, lengths, cond)
        length_logits = model.length_estimator(cond.detach())
        return loss + torch.nn.functional.cross_entropy(length_logits, lengths)

    params = (list(model.audio_encoder.parameters()) + list(model.mask_transformer.parameters())
              + list(model.length_estimator.parameters()))
    before, after = _step_lowers(model, params, loss_fn)
    assert after < before


def test_res_transformer_step_lowers_loss():
    for share in (True, False):
        cfg = tiny_config()
        cfg.res_transformer.share_weight = share
        model = KinevoxModel(cfg).train()
        codes = torch.randint(0, cfg.rvq.num_codes, (6, 10, cfg.rvq.num_quantizers))
        lengths = torch.tensor([10, 8, 6, 10, 5, 9])
        cond = torch.randn(6, cfg.audio_encoder.num_cond_tokens, cfg.audio_encoder.dim)

        def loss_fn():
            return model.res_transformer.training_loss(codes, lengths, cond)[0]

        before, after = _step_lowers(model, model.res_transformer.parameters(), loss_fn)
        assert after < before
        keys = set(model.res_transformer.state_dict())
        assert ("output_proj_last" in keys) == share and ("output_proj" in keys) == (not share)


def test_generators_ignore_padding_tokens():
    cfg = tiny_config()
    model = KinevoxModel(cfg).eval()
    cond = torch.randn(1, cfg.audio_encoder.num_cond_tokens, cfg.audio_encoder.dim)
    ids = torch.randint(0, cfg.rvq.num_codes, (1, 6))
    padded = torch.cat([ids, torch.full((1, 3), model.mask_transformer.pad_id)], dim=1)
    pad = torch.tensor([[False] * 6 + [True] * 3])
    a = model.mask_transformer.logits(ids, cond, torch.zeros(1, 6, dtype=torch.bool))
    b = model.mask_transformer.logits(padded, cond, pad)[:, :6]
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    s = 3.0
    guided = model.mask_transformer.guided_logits(ids, cond, torch.zeros(1, 6, dtype=torch.bool), s)
    u = model.mask_transformer.logits(ids, torch.zeros_like(cond), torch.zeros(1, 6, dtype=torch.bool))
    torch.testing.assert_close(guided, u + s * (a - u), atol=1e-5, rtol=1e-5)


def test_generation_is_seeded_and_fills_every_token():
    cfg = tiny_config()
    model = KinevoxModel(cfg)
    feats = torch.randn(2, 11, cfg.audio_encoder.input_dim)
    flens = torch.tensor([11, 7])
    m1, c1, l1 = generate(model, feats, flens, cfg.sampling, seeded_uniform(3))
    m2, c2, l2 = generate(model, feats, flens, cfg.sampling, seeded_uniform(3))
    assert torch.equal(c1, c2) and torch.equal(m1, m2)
    assert (l1 >= cfg.sampling.min_tokens).all()
    for b in range(2):
        valid = c1[b, : int(l1[b])]
        assert (valid >= 0).all() and (valid < cfg.rvq.num_codes).all()
        assert (c1[b, int(l1[b]):] == -1).all()
    assert m1.shape == (2, 4 * int(l1.max()), 263)
    base = maskgit_generate(model.mask_transformer, torch.zeros(1, cfg.audio_encoder.num_cond_tokens,
                            cfg.audio_encoder.dim), torch.tensor([5]), cfg.sampling, seeded_uniform(0))
    assert base.shape == (1, 5) and (base >= 0).all()
