"""The run key (trainer/run.py, RunPlan.identity and key): the hash of everything that
decides a run's result. A stored record is reused for any run of the same key, so an input
missing from the identity would hand one configuration's result to another."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from trainer.ideas import discover_ideas
from trainer.run import plan_run, run_key

SEED = 42


@pytest.fixture
def plan(corpus):
    return plan_run("tiny", train_tokens=3_000, device="cpu").bind_data(corpus)


def _changed(plan, corpus) -> dict:
    """One plan per input of the identity, each differing from `plan` in that input alone."""
    replace = dataclasses.replace
    return {
        "preset": replace(plan, preset="cpu-small"),
        "model config": replace(plan, model_cfg=replace(plan.model_cfg, d_ff=plan.model_cfg.d_ff * 2)),
        "train config": replace(plan, train_cfg=replace(plan.train_cfg, muon_lr=plan.train_cfg.muon_lr * 2)),
        "budget (train_tokens)": replace(plan, train_cfg=replace(plan.train_cfg, train_tokens=6_000)),
        "flags": replace(plan, ideas=[discover_ideas()["z_loss"]]),
        "device": replace(plan, device=torch.device("cuda")),  # a device object; no GPU is needed to name one
        "data fingerprint": replace(plan, data=replace(corpus, fingerprint=corpus.fingerprint + "-other")),
        "code fingerprint": replace(plan, code_fingerprint=plan.code_fingerprint + "-edited"),
        "purpose": replace(plan, purpose="verify"),
    }


def test_every_input_changed_alone_changes_the_run_key(plan, corpus):
    base = plan.key(SEED)
    assert base == run_key(plan.identity(SEED)) and plan.key(SEED) == base  # a pure function of the inputs
    changed = _changed(plan, corpus)
    same = [what for what, other in changed.items() if other.key(SEED) == base]
    assert not same, f"the run key ignores: {', '.join(same)}"
    keys = [other.key(SEED) for other in changed.values()]
    assert len(set(keys)) == len(keys)  # and no two of the changes collide


def test_the_seed_changes_the_run_key_and_the_budget_through_plan_run_too(plan, corpus):
    assert plan.key(SEED) != plan.key(SEED + 1)
    assert plan_run("tiny", train_tokens=6_000, device="cpu").bind_data(corpus).key(SEED) != plan.key(SEED)
    assert plan_run("tiny", train_tokens=3_000, device="cpu").bind_data(corpus).key(SEED) == plan.key(SEED)


def test_an_unbound_plan_has_no_key():
    with pytest.raises(RuntimeError, match="bind the data"):
        plan_run("tiny", train_tokens=3_000, device="cpu").key(SEED)
