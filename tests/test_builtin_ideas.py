"""The built-in idea catalogue: metadata, and that every idea really changes training,
deterministically, without touching the baseline when its flag is off."""

from __future__ import annotations

import math
import re

import pytest
import torch

from trainer.ideas import CATEGORIES, Idea, discover_ideas
from trainer.run import RunOptions, TrainingSession

TOKENS = 4096  # 8 steps of the tiny preset (8 rows x 64 tokens)
SEED = 42
QUIET = RunOptions(quiet=True)


def _builtin() -> dict[str, Idea]:
    return {n: i for n, i in discover_ideas().items() if "/trainer/ideas/" in i.source_file.replace("\\", "/")}


BUILTIN = sorted(_builtin())


@pytest.fixture(scope="session")
def tiny_data(corpus):
    return corpus


def _session(data, flags=(), preset="tiny", tokens=TOKENS) -> TrainingSession:
    return TrainingSession(preset, train_tokens=tokens, flags=list(flags), device="cpu", data=data, log=lambda *a: None)


def _val_loss(data, flags=(), seed=SEED) -> float:
    return _session(data, flags).run(seed, QUIET)["val_loss"]


@pytest.fixture(scope="module")
def baseline(tiny_data) -> float:
    return _val_loss(tiny_data)


# -- metadata -------------------------------------------------------------------------------

def test_catalogue_covers_every_category():
    ideas = _builtin()
    assert len(ideas) >= 8
    assert {i.category for i in ideas.values()} == set(CATEGORIES)


@pytest.mark.parametrize("name", BUILTIN)
def test_metadata_complete(name):
    idea = _builtin()[name]
    meta = idea.metadata()
    for key in ("title", "pitch", "math", "why_it_might_work", "why_it_might_not", "success_criterion"):
        assert isinstance(meta[key], str) and meta[key].strip(), f"{name}: empty {key}"
    assert "$" not in idea.math, f"{name}: math must not carry $ delimiters"
    assert idea.pitch.rstrip().endswith(".") and idea.pitch.count(". ") == 0, f"{name}: pitch is one sentence"
    assert idea.references, f"{name}: no references"
    for ref in idea.references:
        assert re.search(r"\((19|20)\d\d\)", ref), f"{name}: reference without a year: {ref}"
    assert 0 < idea.implementation_lines() < 200
    assert idea.overridden_hooks(), f"{name} overrides no hook"
    assert meta["flag"] == f"--use_{name}"


# -- behaviour ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", BUILTIN)
def test_idea_changes_training_deterministically(name, tiny_data, baseline):
    first = _val_loss(tiny_data, [name])
    assert math.isfinite(first)
    assert first != baseline, f"--use_{name} trained exactly like the baseline"
    assert _val_loss(tiny_data, [name]) == first, f"--use_{name} is not deterministic"


@pytest.mark.parametrize("name", BUILTIN)
def test_reused_session_repeats_a_seed(name, tiny_data):
    """The model is re-initialised for every run: parameters an idea adds included."""
    session = _session(tiny_data, [name])
    first = session.run(SEED, QUIET)["val_loss"]
    session.run(7, QUIET)
    assert session.run(SEED, QUIET)["val_loss"] == first


@pytest.mark.parametrize("preset", ["tiny", "cpu-small", "gpu-88m"])
def test_ideas_build_on_every_preset_shape(preset, tiny_data):
    """All ideas together patch each preset's shapes (head_dim 16, 32, 64; fewer layers and a
    short context to stay fast) and give finite losses, training and eval alike."""
    from trainer.config import resolve_preset
    from trainer.ideas.partial_rope import rotary_dim_for
    from trainer.model import GPT

    cfg = resolve_preset(preset, "cpu").model
    cfg.n_layers, cfg.seq_len, cfg.vocab_size = 3, 32, tiny_data.vocab_size
    model = GPT(cfg)
    ideas = _builtin()
    for name in BUILTIN:
        ideas[name].patch_model(model)
    model.init_weights(1)
    x = torch.randint(0, cfg.vocab_size, (2, 32))
    loss = model(x, x)
    loss.backward()
    assert math.isfinite(loss.item())
    assert model(x).shape == (2, 32, cfg.vocab_size)
    attn = model.blocks[1].attn
    assert attn.rotary.rotary_dim == rotary_dim_for(cfg.head_dim) == cfg.head_dim // 2
    assert attn.value_residual.holder.v1 is None, "value_residual keeps v_1 alive after the forward pass"
    assert all(p.grad is not None for p in model.parameters()), "an added parameter gets no gradient"


def test_schedules():
    from trainer.config import TrainConfig
    from trainer.ideas.seq_len_warmup import warmup_len
    from trainer.ideas.wsd_schedule import wsd_multiplier

    for full in (64, 256, 2048):
        lengths = [warmup_len(p / 100, full) for p in range(101)]
        assert all(L % 8 == 0 and 8 <= L <= full for L in lengths)
        assert lengths == sorted(lengths) and lengths[0] < full and lengths[30] == full
    assert warmup_len(0.0, 2048) == 64
    cfg = TrainConfig()
    idea = _builtin()["wsd_schedule"]
    default = lambda p, c: -1.0  # noqa: E731 - WSD replaces the schedule entirely
    values = [idea.lr_multiplier(p / 100, cfg, default) for p in range(101)]
    assert values[1] < 1.0 and values[2:81] == [1.0] * 79
    assert values[81:] == sorted(values[81:], reverse=True) and values[-1] == pytest.approx(cfg.final_lr_frac)
    assert wsd_multiplier(0.0, cfg.warmup_frac, cfg.final_lr_frac) > 0


def test_all_ideas_together(tiny_data):
    record = _session(tiny_data, BUILTIN).run(SEED, QUIET)
    assert math.isfinite(record["val_loss"])


def test_added_parameters_are_registered_and_reset(tiny_data):
    base = _session(tiny_data).model
    base_names = {n for n, _ in base.named_parameters()}
    added = {}
    for name in BUILTIN:
        model = _session(tiny_data, [name]).model
        extra = {n: p for n, p in model.named_parameters() if n not in base_names}
        if extra:
            added[name] = extra
            model.init_weights(3)
            before = {n: p.detach().clone() for n, p in extra.items()}
            with torch.no_grad():
                for p in extra.values():
                    p.add_(1.0)
            model.init_weights(3)
            for n, p in extra.items():
                assert torch.equal(p, before[n]), f"--use_{name}: {n} is not re-initialised"
    assert {"value_residual", "gated_attention", "layerscale", "sandwich_norm"} <= set(added)
    assert all(p.item() == 0.5 for p in added["value_residual"].values())
    assert all(bool((p == 0.1).all()) for p in added["layerscale"].values())


def test_flag_off_unchanged_after_every_idea_ran(tiny_data, baseline):
    """Runs last: no idea leaked into shared state (classes, functions, the loss)."""
    discover_ideas()
    assert _val_loss(tiny_data) == baseline
    fresh = _session(tiny_data).model
    assert type(fresh.blocks[0].attn).__name__ == "Attention"
    assert fresh.loss_fn.__name__ == "cross_entropy_loss"
