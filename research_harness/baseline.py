"""Phase 1: the baseline's run-to-run noise, from five seeds at the research scale."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from trainer.atomic import write_atomic

from research_harness.reports import baseline as report
from research_harness.runner import Arm, Runner
from research_harness.stats import Summary, summarize
from research_harness.workspace import BASELINE_SEEDS, seed_order

BASELINE = Arm("baseline")


@dataclass
class Baseline:
    """The five baseline values and, where the store has them, their run records."""

    val_loss: dict[int, float]
    wall_time: dict[int, float]
    records: dict[int, dict]
    source: str  # "records" or the path of a reused report

    @property
    def values(self) -> list[float]:
        return [self.val_loss[s] for s in sorted(self.val_loss, key=seed_order)]

    @property
    def summary(self) -> Summary:
        return summarize(self.values)


def report_path(runner: Runner) -> Path:
    return runner.workspace.baseline_report(runner.settings.label)


def reusable_report(runner: Runner) -> tuple[report.BaselineReport | None, str]:
    """(report, "") when the existing report may be reused; (None, why not) otherwise.

    Reuse needs valid 5-seed data, as the workflow says, and more: its run keys must be the
    keys this study would give the same seeds now. A key hashes the code and data
    fingerprints, the configuration, the budget and the device, so a report made by other
    code or other data is never reused."""
    path = report_path(runner)
    if not path.exists():
        return None, "no report yet"
    text = path.read_text(encoding="utf-8")
    try:
        existing = report.parse(text)
    except ValueError as exc:
        return None, f"{path} is not a valid report ({exc})"
    if sorted(existing.seeds) != sorted(BASELINE_SEEDS):
        return None, f"{path} holds seeds {existing.seeds}, expected {list(BASELINE_SEEDS)}"
    if len(set(existing.val_loss.values())) < 2:
        return None, f"{path} has no spread in val_loss (sigma = 0)"
    plan = runner.plan(BASELINE)
    if existing.run_keys != {s: plan.key(s) for s in BASELINE_SEEDS}:
        why = []
        if f"`{plan.code_fingerprint}`" not in text:
            why.append(f"its code fingerprint is not the current {plan.code_fingerprint}")
        if f"`{plan.data_fingerprint}`" not in text:
            why.append(f"its data fingerprint is not the current {plan.data_fingerprint}")
        return None, (f"{path} was made by other runs ({'; '.join(why) or 'configuration, budget or device differ'}): "
                      "phase 1 runs again")
    return existing, ""


def load(runner: Runner, *, train_missing: bool = True) -> Baseline:
    """The baseline for this study: from a valid existing report (the workflow's
    "skip to Phase 2"), else from the run store, training the seeds it lacks."""
    existing, _ = reusable_report(runner)
    if existing is not None:
        records = {}
        for seed, key in existing.run_keys.items():
            rec = runner.store.get(key)
            if rec is not None:
                records[seed] = rec
        source = str(report_path(runner))
        if len(records) == len(existing.run_keys):
            # Full precision from the records; the report's values are rounded to 4 decimals.
            return Baseline({s: r["val_loss"] for s, r in records.items()},
                            {s: r["wall_time"]["total_s"] for s, r in records.items()}, records, source)
        return Baseline(existing.val_loss, existing.wall_time, records, source)
    records = {}
    for seed in BASELINE_SEEDS:
        rec = runner.get_or_train(BASELINE, seed)[0] if train_missing else runner.lookup(BASELINE, seed)
        if rec is not None:
            records[seed] = rec
    return Baseline({s: r["val_loss"] for s, r in records.items()}, {s: r["wall_time"]["total_s"] for s, r in records.items()},
                    records, "records")


def write_report(runner: Runner, baseline: Baseline) -> Path | None:
    """Render the report from the records; a reused report is left as it is."""
    if baseline.source != "records" or len(baseline.records) != len(BASELINE_SEEDS):
        return None
    if not all(math.isfinite(v) for v in baseline.values):
        return None
    path = report_path(runner)
    write_atomic(path, report.render(list(baseline.records.values()), runner.settings))
    return path
