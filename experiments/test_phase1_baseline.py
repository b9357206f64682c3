"""Phase 1: baseline variance.

Five seeds of the unmodified baseline at the research scale, one test per seed, run
sequentially; then the statistics and docs/research/baseline_variance_1M.md in the
workflow's table format. A valid existing report is reused ("skip to Phase 2"), and a
stored run is never trained again, so a killed session resumes at the next seed.
Finally the baseline checkpoints are removed (`rm -rf checkpoints/baseline_1M_seed*`)."""

import math

import pytest

from research_harness import baseline
from research_harness.gates import assert_valid_variance
from research_harness.workspace import BASELINE_SEEDS

pytestmark = pytest.mark.research_phase("baseline")


@pytest.mark.parametrize("seed", BASELINE_SEEDS, ids=lambda s: f"seed={s}")
def test_baseline(seed, research, record_run, record_property):
    existing, why_not = baseline.reusable_report(research.runner)
    if existing is not None:
        pytest.skip(f"{baseline.report_path(research.runner)} holds valid 5-seed data of this code and data: phase 1 "
                    "is skipped, as the workflow says")
    if seed == BASELINE_SEEDS[0] and why_not != "no report yet":
        record_property("research_note", f"the existing baseline report is not reused: {why_not}")
    research.runner.prefetch(baseline.BASELINE, BASELINE_SEEDS)  # the Ray executor starts every seed at once
    record, trained = research.runner.get_or_train(baseline.BASELINE, seed)
    record_run("baseline", record, trained)
    assert record["seed"] == seed
    assert math.isfinite(record["val_loss"]), f"seed {seed}: val_loss is {record['val_loss']}"


def test_baseline_variance(research, record_property):
    base = baseline.load(research.runner)
    summary = assert_valid_variance(base.values, n=len(BASELINE_SEEDS))
    path = baseline.write_report(research.runner, base) or base.source
    record_property("research_report_written", str(path))
    record_property("research_note", f"baseline val_loss {summary.mean:.4f} ± {summary.std:.4f} (std, n={summary.n}); "
                                     f"report {path}")


def test_baseline_cleanup(research):
    """The workflow removes baseline checkpoints; run records and the report stay."""
    research.runner.remove_checkpoints(f"baseline_{research.settings.label}_seed*")
    assert not list(research.workspace.checkpoints.glob(f"baseline_{research.settings.label}_seed*"))
    assert baseline.report_path(research.runner).exists(), "the baseline report must survive the cleanup"
    assert len(baseline.load(research.runner, train_missing=False).values) == 5
