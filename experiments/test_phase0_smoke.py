"""Phase 0: environment setup and smoke test.

The data cache is present or built (the workflow's "download dataset" step), a short
run trains with finite, falling loss and writes its outputs, and its checkpoint is
removed afterwards (`rm -rf checkpoints/smoke_test`)."""

import json
import math
import shutil

import pytest

pytestmark = pytest.mark.research_phase("smoke")

SMOKE_TOKENS = 100_000


def test_dataset_ready(research):
    from trainer.run import plan_run

    plan = plan_run(research.settings.preset, device=research.settings.device)
    data = research.runner.data(plan.model_cfg.vocab_size)
    assert len(data.train) > 0 and len(data.val) > 0, f"empty dataset in {data.path}; rebuild: python -m trainer.data --rebuild"
    assert (data.path / "meta.json").exists()


def test_smoke_run(research):
    from trainer.run import RunOptions, TrainingSession, plan_run

    tokens = min(SMOKE_TOKENS, research.settings.tokens)
    out = research.workspace.checkpoints / "smoke_test"
    plan = plan_run(research.settings.preset, device=research.settings.device)
    session = TrainingSession(research.settings.preset, train_tokens=tokens, device=research.settings.device,
                              data=research.runner.data(plan.model_cfg.vocab_size), log=research.runner.log)
    record = session.run(42, RunOptions(output_dir=out, overwrite=True, quiet=True))
    losses = [e["loss"] for e in record["train_loss_history"]]
    assert math.isfinite(record["val_loss"]), f"smoke run val_loss is {record['val_loss']}"
    assert losses and all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0], f"training loss did not fall: {losses[0]:.4f} -> {losses[-1]:.4f}"
    written = json.loads((out / "metrics.json").read_text())
    assert written["status"] == "finished" and written["val_loss"] == record["val_loss"]


def test_smoke_cleanup(research):
    out = research.workspace.checkpoints / "smoke_test"
    shutil.rmtree(out, ignore_errors=True)
    assert not out.exists()
