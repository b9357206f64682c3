"""Each built-in idea against its own formula (its `math` field), on small tensors and the
tiny preset's real modules: a value test, not only "the loss moved"."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from trainer.config import TrainConfig, resolve_preset
from trainer.ideas import discover_ideas
from trainer.model import GPT, MLP, Attention
from trainer.optim import build_optimizers, lr_multiplier
from trainer.run import RunOptions, TrainingSession

IDEAS = discover_ideas()


def tiny_model(*names: str, seed: int = 0) -> GPT:
    """The tiny preset's GPT with the named ideas patched in, then generic weights: the
    trainer's init zeroes every residual output, which would hide the blocks."""
    torch.manual_seed(0)
    model = GPT(resolve_preset("tiny", "cpu").model)
    for name in names:
        IDEAS[name].patch_model(model)
    model.init_weights(seed)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 2:
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p.size(1)))
    return model


def tokens(model: GPT, T: int = 12, B: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, model.cfg.vocab_size, (B, T), generator=torch.Generator().manual_seed(seed))


def features(model: GPT, T: int = 12, B: int = 2, seed: int = 2) -> torch.Tensor:
    return torch.randn(B, T, model.cfg.d_model, generator=torch.Generator().manual_seed(seed))


# -- logit soft-capping -----------------------------------------------------------------------

def test_logit_softcap_is_c_tanh_z_over_c():
    from trainer.ideas.logit_softcap import CAP

    model = tiny_model("logit_softcap")
    with torch.no_grad():
        model.embed.weight.mul_(200)  # raw logits beyond the cap
        h = model.hidden_states(tokens(model))
        raw = F.linear(h, model.embed.weight)
        capped = model.logits(h)
    assert CAP == 30.0 and raw.abs().max() > 2 * CAP
    assert torch.allclose(capped, CAP * torch.tanh(raw / CAP), atol=1e-4)
    assert capped.abs().max() <= CAP  # float32 tanh reaches 1.0 far out: bounded, not strictly
    assert torch.equal(model(tokens(model)), capped), "evaluation must see the capped logits too"


# -- z-loss -----------------------------------------------------------------------------------

def test_z_loss_adds_lambda_mean_squared_log_partition():
    from trainer.ideas.z_loss import COEFFICIENT

    model = tiny_model("z_loss")
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 7, 50, generator=gen) * 3 + 4  # log Z far from 0
    targets = torch.randint(0, 50, (2, 7), generator=gen)
    ce = F.cross_entropy(logits.view(-1, 50), targets.view(-1))
    log_z = torch.logsumexp(logits, dim=-1)
    assert COEFFICIENT == 1e-4
    expected = ce + COEFFICIENT * (log_z ** 2).mean()
    assert torch.allclose(model.loss_fn(logits, targets), expected, rtol=1e-6, atol=0)
    assert (expected - ce) > 1e-3


# -- value residual -----------------------------------------------------------------------------

def test_value_residual_mixes_first_layer_values_with_learnable_lambda():
    model = tiny_model("value_residual")
    attn0, attn1 = model.blocks[0].attn, model.blocks[1].attn
    assert attn0.value_residual.lam is None
    assert attn1.value_residual.lam.item() == 0.5  # the stated init
    with torch.no_grad():
        attn1.value_residual.lam.fill_(0.3)
    seen = {}
    for i, attn in enumerate((attn0, attn1)):
        attn.register_forward_hook(lambda mod, args, out, i=i: seen.__setitem__(i, (args[0], out)))
    x = tokens(model)
    loss = model(x, x)
    (x0, _), (x1, out1) = seen[0], seen[1]
    with torch.no_grad():
        v1 = Attention.project_qkv(attn0, x0)[2]
        q, k, v = Attention.project_qkv(attn1, x1)
        expected = Attention.attend(attn1, q, k, 0.3 * v + 0.7 * v1)
        unmixed = Attention.attend(attn1, q, k, v)
    assert torch.allclose(out1, expected, atol=1e-6)
    assert not torch.allclose(out1, unmixed, atol=1e-4)
    assert attn1.value_residual.holder.v1 is None
    loss.backward()
    assert attn1.value_residual.lam.grad is not None and attn1.value_residual.lam.grad.abs().item() > 0


# -- partial RoPE ---------------------------------------------------------------------------------

def _rope(x: torch.Tensor, base: float) -> torch.Tensor:
    """Textbook RoPE on all channels of x (B, H, T, D), half-split pairing as in trainer.model."""
    D, T = x.size(-1), x.size(-2)
    inv = base ** (-torch.arange(0, D, 2, dtype=torch.float64) / D)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv
    cos, sin = ang.cos().float(), ang.sin().float()
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


def test_partial_rope_rotates_only_the_first_half_of_each_head():
    model = tiny_model("partial_rope")
    attn = model.blocks[0].attn
    d_h, d_r = attn.head_dim, attn.head_dim // 2
    assert attn.rotary.rotary_dim == d_r
    x = torch.randn(2, attn.n_heads, 10, d_h, generator=torch.Generator().manual_seed(4))
    out = attn.rotary(x)
    assert torch.equal(out[..., d_r:], x[..., d_r:]), "unrotated channels must pass through unchanged"
    assert torch.allclose(out[..., :d_r], _rope(x[..., :d_r], model.cfg.rope_base), atol=1e-5)
    assert not torch.allclose(out[..., 1:, :d_r], x[..., 1:, :d_r], atol=1e-3)
    # ... and the queries the attention uses are the normed projections, half of them unrotated.
    h = features(model, T=10)
    q = attn.project_qkv(h)[0]
    q_plain = attn.q_norm(attn.q_proj(h).view(2, 10, attn.n_heads, d_h).transpose(1, 2))
    assert torch.equal(q[..., d_r:], q_plain[..., d_r:])


# -- gated attention ---------------------------------------------------------------------------------

def test_gated_attention_multiplies_sdpa_by_sigmoid_gate_before_o_proj():
    model = tiny_model("gated_attention")
    attn = model.blocks[0].attn
    H, D, d = attn.n_heads, attn.head_dim, model.cfg.d_model
    assert attn.gate_proj.weight.shape == (H * D, d)
    x = features(model)
    with torch.no_grad():
        q, k, v = attn.project_qkv(x)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=attn.n_kv_heads != H)
        y = y.transpose(1, 2).reshape(2, 12, H * D)
        gate = torch.sigmoid(x @ attn.gate_proj.weight.T)
        expected = (y * gate) @ attn.o_proj.weight.T
        assert torch.allclose(attn(x), expected, atol=1e-5)
        assert not torch.allclose(attn(x), Attention.forward(attn, x), atol=1e-3)


# -- LayerScale ---------------------------------------------------------------------------------

def test_layerscale_scales_each_branch_per_channel_from_its_stated_init():
    from trainer.ideas.layerscale import INIT

    model = tiny_model("layerscale")
    attn, mlp = model.blocks[0].attn, model.blocks[0].mlp
    assert INIT == 0.1
    for branch in (attn, mlp):
        assert torch.equal(branch.layerscale.gain, torch.full((model.cfg.d_model,), INIT))
    x = features(model)
    with torch.no_grad():
        assert torch.allclose(attn(x), INIT * Attention.forward(attn, x), atol=1e-6)
        gain = torch.linspace(-1, 2, model.cfg.d_model)
        mlp.layerscale.gain.copy_(gain)
        assert torch.allclose(mlp(x), gain * MLP.forward(mlp, x), atol=1e-6)


# -- sandwich norm ---------------------------------------------------------------------------------

def test_sandwich_norm_normalises_each_branch_output():
    model = tiny_model("sandwich_norm")
    attn, mlp = model.blocks[1].attn, model.blocks[1].mlp
    x = features(model)
    with torch.no_grad():
        for branch, plain in ((attn, Attention.forward), (mlp, MLP.forward)):
            assert torch.equal(branch.post_norm.weight, torch.ones(model.cfg.d_model))
            raw = plain(branch, x)
            out = branch(x)
            rms = raw.pow(2).mean(-1, keepdim=True).add(model.cfg.norm_eps).sqrt()
            assert torch.allclose(out, raw / rms, atol=1e-5)
            assert torch.allclose(out.pow(2).mean(-1), torch.ones(2, 12), atol=1e-4)  # unit RMS per token
            assert raw.pow(2).mean(-1).sub(1).abs().max() > 0.1


# -- cautious AdamW -------------------------------------------------------------------------------

def test_cautious_zeroes_coordinates_whose_update_disagrees_with_the_gradient():
    from trainer.ideas.cautious import CautiousAdamW

    p0 = torch.tensor([1.0, -2.0, 0.5, 3.0, -1.0, 0.2])
    g1 = torch.tensor([1.0, -1.0, 2.0, 1.0, -3.0, 0.5])
    # Coordinates 0 and 4 flip to a small opposite gradient: momentum still points the old
    # way, so the update disagrees with the new gradient's sign there.
    g2 = torch.tensor([-0.5, -1.0, 1.0, 2.0, 1.5, 0.1])
    lr, kw = 0.1, dict(betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    p_c, p_a = p0.clone().requires_grad_(), p0.clone().requires_grad_()
    cautious, adamw = CautiousAdamW([p_c], lr=lr, **kw), torch.optim.AdamW([p_a], lr=lr, **kw)
    for g in (g1, g2):
        before_c, before_a = p_c.detach().clone(), p_a.detach().clone()
        for p, opt in ((p_c, cautious), (p_a, adamw)):
            p.grad = g.clone()
            opt.step()
    step_c, step_a = p_c.detach() - before_c, p_a.detach() - before_a
    agree = (-step_a) * g2 > 0  # the AdamW update (-step) against the gradient's sign
    assert agree.tolist() == [False, True, True, True, False, True]
    assert torch.equal(step_c[~agree], torch.zeros(2)), "disagreeing coordinates must not move"
    scale = 1 / agree.float().mean()
    assert torch.allclose(step_c[agree], step_a[agree] * scale, rtol=1e-5)


def test_cautious_replaces_only_adamw_with_the_same_settings():
    model = tiny_model()
    cfg = TrainConfig()
    default = build_optimizers(model, cfg, torch.device("cpu"))
    mine = IDEAS["cautious"].build_optimizers(model, cfg, torch.device("cpu"), build_optimizers)
    assert [type(o).__name__ for o in mine] == ["Muon", "CautiousAdamW"]
    assert mine[0] is not default[0] and type(mine[0]) is type(default[0])
    for key in ("lr", "betas", "eps", "weight_decay", "initial_lr"):
        assert mine[1].param_groups[0][key] == default[1].param_groups[0][key]
    assert [id(p) for p in mine[1].param_groups[0]["params"]] == [id(p) for p in default[1].param_groups[0]["params"]]


# -- schedules -----------------------------------------------------------------------------------

GRID = [i / 200 for i in range(201)]


def test_wsd_is_warmup_stable_then_one_minus_sqrt_decay_over_the_last_fifth():
    from trainer.ideas.wsd_schedule import DECAY_FRAC

    assert DECAY_FRAC == 0.2
    cfg = TrainConfig(warmup_frac=0.05, final_lr_frac=0.1)
    idea = IDEAS["wsd_schedule"]
    for p in GRID:
        if p < cfg.warmup_frac:
            expected = max(p / cfg.warmup_frac, 1e-3)
        elif p < 0.8:
            expected = 1.0
        else:
            expected = 0.1 + 0.9 * (1 - math.sqrt((p - 0.8) / 0.2))
        got = idea.lr_multiplier(p, cfg, lr_multiplier)
        assert got == pytest.approx(expected, abs=1e-12), f"progress {p}"
    assert idea.lr_multiplier(0.9, cfg, lr_multiplier) == pytest.approx(0.1 + 0.9 * (1 - math.sqrt(0.5)))


@pytest.mark.parametrize("full", [64, 256, 2048])
def test_seq_len_warmup_follows_its_formula(full):
    idea = IDEAS["seq_len_warmup"]
    L0 = min(64, full / 4)
    for p in GRID:
        expected = 8 * math.floor((L0 + (full - L0) * min(1.0, p / 0.3)) / 8)
        assert idea.seq_len(p, full) == expected, f"progress {p}, full {full}"
    assert idea.seq_len(0.0, full) == L0 and idea.seq_len(0.3, full) == full


# -- null init ---------------------------------------------------------------------------------

TOKENS = 4096
QUIET = RunOptions(quiet=True)


def _session(corpus, flags=()):
    return TrainingSession("tiny", train_tokens=TOKENS, flags=list(flags), device="cpu", data=corpus,
                           log=lambda *a: None)


def test_null_init_differs_only_in_the_initial_draws(corpus):
    from trainer.ideas.null_init import null_seed

    base, null = _session(corpus), _session(corpus, ["null_init"])
    base.model.init_weights(42)
    null.model.init_weights(42)
    b, n = dict(base.model.named_parameters()), dict(null.model.named_parameters())
    assert {k: v.shape for k, v in b.items()} == {k: v.shape for k, v in n.items()}
    random_init = [k for k, v in b.items() if v.ndim == 2 and v.abs().sum() > 0]
    assert random_init and all(not torch.equal(b[k], n[k]) for k in random_init)
    # The same law: exactly the baseline's initialisation with the other stream's seed.
    base.model.init_weights(null_seed(42))
    assert all(torch.equal(b[k], n[k]) for k in b)
    # Same batches, and with equal weights the same outputs: nothing else changes.
    for step in (0, 3):
        assert all(torch.equal(u, v) for u, v in zip(base._batch(42, step, 64), null._batch(42, step, 64)))
    x = base._batch(42, 0, 64)[0]
    with torch.no_grad():
        assert torch.equal(base.model(x), null.model(x))


def test_null_init_trains_finitely_and_deterministically(corpus):
    baseline = _session(corpus).run(42, QUIET)["val_loss"]
    session = _session(corpus, ["null_init"])
    first = session.run(42, QUIET)["val_loss"]
    assert math.isfinite(first) and first != baseline
    assert session.run(42, QUIET)["val_loss"] == first
