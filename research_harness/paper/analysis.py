"""Statistics of the study, computed here from the run records (never passed in).

Everything uses :mod:`research_harness.stats` and :mod:`research_harness.gates`, with
their conventions: lower val_loss is better, and a positive effect size means the
experimental arm has the lower loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from research_harness import gates, stats
from research_harness.paper.model import PaperInputs, validate_inputs

__all__ = ["Analysis", "analyze", "magnitude"]


def magnitude(d: float) -> str:
    """Cohen's conventional label for |d|: negligible, small, medium or large."""
    a = abs(d)
    if a < 0.2:
        return "negligible"
    if a < 0.5:
        return "small"
    if a < 0.8:
        return "medium"
    return "large"


def _by_seed(records: list[dict]) -> list[dict]:
    return sorted(records, key=lambda r: r["seed"])


@dataclass
class Analysis:
    inputs: PaperInputs
    baseline: list[dict]
    control: list[dict]
    experimental: list[dict]
    base_loss: stats.Summary
    base_wall: stats.Summary
    ctrl_wall: stats.Summary
    exp_wall: stats.Summary
    ctrl_tps: stats.Summary
    exp_tps: stats.Summary
    cmp: stats.Comparison
    decision: gates.Decision
    verdict: str
    seeds: list[int]
    peeked: bool
    notes: list[str] = field(default_factory=list)

    @property
    def idea(self) -> dict:
        return self.inputs.idea

    @property
    def n(self) -> int:
        return len(self.control)

    @property
    def all_records(self) -> list[dict]:
        return [*self.baseline, *self.control, *self.experimental]

    @property
    def arms(self) -> list[dict]:
        return [*self.control, *self.experimental]

    @property
    def ci_excludes_zero(self) -> bool:
        lo, hi = self.cmp.g_ci
        return math.isfinite(lo) and lo > 0 or math.isfinite(hi) and hi < 0

    @property
    def p_value(self) -> float:
        return self.cmp.p_one_sided

    @property
    def params_differ(self) -> bool:
        return self.control[0]["params"].get("total") != self.experimental[0]["params"].get("total")

    @property
    def device_types(self) -> list[str]:
        return sorted({str(r.get("device", {}).get("type", "unknown")) for r in self.all_records})

    @property
    def device_names(self) -> list[str]:
        return sorted({str(r.get("device", {}).get("name", "unknown")) for r in self.all_records})


def analyze(inputs: PaperInputs) -> Analysis:
    """Validate the inputs and compute every statistic the paper reports."""
    validate_inputs(inputs)
    base, ctrl, exp = _by_seed(inputs.baseline), _by_seed(inputs.control), _by_seed(inputs.experimental)
    loss = lambda recs: [float(r["val_loss"]) for r in recs]  # noqa: E731
    wall = lambda recs: [float(r["wall_time"]["total_s"]) for r in recs]  # noqa: E731
    tps = lambda recs: [float(r.get("tokens_per_s", math.nan)) for r in recs]  # noqa: E731
    cmp = stats.compare_arms(loss(ctrl), loss(exp), loss(base))
    ctrl_wall, exp_wall = stats.summarize(wall(ctrl)), stats.summarize(wall(exp))
    notes = []
    try:
        ctrl_tps, exp_tps = stats.summarize(tps(ctrl)), stats.summarize(tps(exp))
    except ValueError:
        nan = stats.Summary(0, math.nan, math.nan, math.nan, math.nan)
        ctrl_tps = exp_tps = nan
        notes.append("throughput (tokens/s) is missing from some records")
    history = inputs.decision_history or []
    peeked = len(history) > 1 or len(ctrl) > 3
    return Analysis(
        inputs=inputs, baseline=base, control=ctrl, experimental=exp,
        base_loss=stats.summarize(loss(base)), base_wall=stats.summarize(wall(base)),
        ctrl_wall=ctrl_wall, exp_wall=exp_wall, ctrl_tps=ctrl_tps, exp_tps=exp_tps,
        cmp=cmp, decision=gates.decide(cmp.cohens_d), verdict=gates.verdict(cmp.cohens_d),
        seeds=[r["seed"] for r in ctrl], peeked=peeked,
        notes=notes,
    )
