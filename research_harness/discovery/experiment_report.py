"""The workflow side of an idea's experiment report: gather the records of both arms
and the baseline from the store, compute the statistics and the simulated null rates,
draw the figure, then hand it all to the renderer (research_harness.reports.experiment)
and write what it returns. The renderer itself loads, computes and writes nothing."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from trainer.atomic import write_atomic

from research_harness import baseline as phase1
from research_harness import gates, stats
from research_harness.reports.experiment import ExperimentData, render
from research_harness.workspace import ARM_SEEDS, EXTENSION_SEEDS, seed_order


def report_seeds(entry) -> list[int]:
    """Every seed the idea's looks used; the gate's seeds before its first look."""
    seen = [s for look in entry.looks if look for s in look]
    return sorted(dict.fromkeys(seen or [*ARM_SEEDS, *EXTENSION_SEEDS]), key=seed_order)


def write_experiment_report(disc, entry) -> Path:
    """Write docs/research/experiment_<idea>_<label>.md for one journal entry of `disc` (a Discovery)."""
    runner = disc.runner
    ws = runner.workspace
    seeds = report_seeds(entry)
    control, _ = disc.arm_records(entry, "control", seeds)
    exp, failed = disc.arm_records(entry, "exp", seeds)
    # On every finished run: a missing pair means Welch decides.
    test = gates.evidence_test({r["seed"]: r["val_loss"] for r in control}, {r["seed"]: r["val_loss"] for r in exp}) \
        if len(control) >= 2 and len(exp) >= 2 else None
    control = [r for r in control if any(r["seed"] == e["seed"] for e in exp)] or control
    base = phase1.load(runner, train_missing=False)
    comparison = figure = None
    if len(control) >= 2 and len(exp) >= 2:
        comparison = stats.compare_arms([r["val_loss"] for r in control], [r["val_loss"] for r in exp],
                                        base.values if len(base.values) >= 2 else None)
        figure = _figure(ws, entry.idea, control, exp, list(base.records.values()))
    rates = disc.null_rates() if entry.decisions else None
    module = entry.implementation.get("module")
    data = ExperimentData(entry=entry, settings=runner.settings, module=ws.shown_path(module) if module else None,
                          control=control, experimental=exp, failed=failed, baseline=list(base.records.values()),
                          test=test, comparison=comparison, null_rates=rates, figure=figure)
    return write_atomic(ws.experiment_report(entry.idea, runner.settings.label), render(data))


def _figure(ws, idea: str, control: list[dict], exp: list[dict], baseline: list[dict]) -> str | None:
    """The paper's figure code, reused: control against experimental, every seed; its path
    relative to the report's folder."""
    if len(baseline) < 2:  # a reused report without its records: no baseline band to draw
        return None
    from research_harness.paper.figures import make_figures  # noqa: PLC0415 - matplotlib loads only here

    view = SimpleNamespace(control=control, experimental=exp, baseline=baseline, arms=[*control, *exp])
    paths = make_figures(view, ws.research_docs / "figures", idea)
    return paths["curves"][0].relative_to(ws.research_docs).as_posix()
