"""Resuming a killed run (trainer/checkpoint.py, trainer/run.py): a checkpoint resumes only
the run it belongs to, and it restores the random state, so a resumed run is bit-identical
to the uninterrupted one even when the training step draws random numbers."""

from __future__ import annotations

import pytest

from trainer.checkpoint import CheckpointMismatch
from trainer.run import RunOptions, train_run

TOKENS = 9_000
CPU = "cpu"  # bit-identity is a CPU property (tests/test_trainer.py)

# An idea whose training step draws from torch's global RNG: dropout on the logits the loss sees.
NOISY = '''
import torch
from trainer.ideas.base import Idea


class _LogitDropout(Idea):
    def patch_model(self, model):
        base = model.loss_fn

        def loss(logits, targets):
            return base(torch.nn.functional.dropout(logits, p=0.2, training=True), targets)

        model.loss_fn = loss


IDEA = _LogitDropout(name="logit_dropout", title="Dropout on the logits", category="training-dynamics",
                     pitch="Noise in the loss.", math="\\\\ell(\\\\mathrm{drop}(z))", why_it_might_work="-",
                     why_it_might_not="-", references=["Tester et al. (2024). A test idea."])
'''


def _kill_after_first_checkpoint(step, tokens):
    if tokens > 6_000:  # past the first checkpoint (one at every eval milestone)
        raise KeyboardInterrupt


def _train(seed, corpus, out=None, **kwargs):
    options = RunOptions(output_dir=out, quiet=True, overwrite=kwargs.pop("overwrite", False),
                         on_step=kwargs.pop("on_step", None))
    return train_run(seed, "tiny", device=CPU, train_tokens=TOKENS, data=corpus, log=lambda *a: None,
                     options=options, **kwargs)


def test_another_runs_checkpoint_is_refused_and_replaced_only_with_overwrite(corpus, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        _train(5, corpus, tmp_path, on_step=_kill_after_first_checkpoint)
    checkpoint = tmp_path / "checkpoint.pt"
    assert checkpoint.exists()
    before = checkpoint.read_bytes()
    with pytest.raises(CheckpointMismatch, match="belongs to another run.*fix: use another --output_dir or delete "
                                                 "the checkpoint"):
        _train(6, corpus, tmp_path)
    assert checkpoint.read_bytes() == before  # refused: seed 5's checkpoint is untouched
    replaced = _train(6, corpus, tmp_path, overwrite=True)
    fresh = _train(6, corpus)
    assert replaced["resumed_from_tokens"] is None
    assert replaced["seed"] == 6 and replaced["run_key"] == fresh["run_key"]
    assert replaced["val_loss"] == fresh["val_loss"] and replaced["history"] == fresh["history"]


def test_a_resumed_run_restores_the_random_state(corpus, tmp_path):
    ideas = tmp_path / "ideas"
    ideas.mkdir()
    (ideas / "logit_dropout.py").write_text(NOISY)
    out = tmp_path / "run"
    kw = {"flags": ["logit_dropout"], "idea_dirs": [ideas]}
    full = _train(5, corpus, **kw)
    with pytest.raises(KeyboardInterrupt):
        _train(5, corpus, out, on_step=_kill_after_first_checkpoint, **kw)
    resumed = _train(5, corpus, out, **kw)
    assert resumed["resumed_from_tokens"] is not None and resumed["resumed_from_tokens"] > 0
    assert resumed["flags"] == ["logit_dropout"]
    assert resumed["val_loss"] == full["val_loss"]
    assert [h["val_loss"] for h in resumed["history"]] == [h["val_loss"] for h in full["history"]]
    assert resumed["train_loss_history"] == full["train_loss_history"]
