"""The study's statistics, computed here from the run records (never passed in), with
the conventions of `research_harness.stats`: lower val_loss is better, and a positive
effect means the experimental arm has the lower loss."""

from __future__ import annotations

from dataclasses import dataclass

from research_harness import gates, stats
from research_harness.facts import RunFacts, config_differences, run_facts
from research_harness.paper.model import PaperInputs, validate_inputs
from research_harness.workspace import seed_order


def losses(records: list[dict], seeds=None) -> dict[int, float]:
    return {r["seed"]: float(r["val_loss"]) for r in records if seeds is None or r["seed"] in seeds}


def look_pairs(control: list[dict], experimental: list[dict], looks) -> list:
    """(control, experimental) val_loss by seed for each look taken (None for a look not taken)."""
    return [(losses(control, set(s)), losses(experimental, set(s))) if s else None for s in looks]


@dataclass
class Analysis:
    inputs: PaperInputs
    baseline: list[dict]
    control: list[dict]
    experimental: list[dict]
    base: stats.Summary
    cmp: stats.Comparison
    paired: stats.PairedTest | None
    evidence: gates.Evidence
    decision: gates.Decision
    look_tests: list  # EvidenceTest per look taken (None where not taken)
    facts: RunFacts
    config_diff: list[str]
    null: dict  # the gate and the evidence level under no true effect (simulated)

    @property
    def idea(self) -> dict:
        return self.inputs.idea

    @property
    def seeds(self) -> list[int]:
        return [r["seed"] for r in self.control]

    @property
    def arms(self) -> list[dict]:
        return [*self.control, *self.experimental]

    @property
    def records(self) -> list[dict]:
        return [*self.baseline, *self.control, *self.experimental]

    @property
    def control_is_baseline(self) -> bool:
        keys = {r["run_key"] for r in self.baseline}
        return all(r["run_key"] in keys or r.get("arm") == "baseline" for r in self.control)

    @property
    def peeked(self) -> bool:
        return sum(1 for s in self.inputs.looks if s) > 1


def analyze(inputs: PaperInputs) -> Analysis:
    validate_inputs(inputs)
    order = lambda recs: sorted(recs, key=lambda r: seed_order(r["seed"]))  # noqa: E731
    base, ctrl, exp = order(inputs.baseline), order(inputs.control), order(inputs.experimental)
    vals = lambda recs: [float(r["val_loss"]) for r in recs]  # noqa: E731
    pairs = look_pairs(ctrl, exp, inputs.looks)
    tests = [gates.evidence_test(*p) if p else None for p in pairs]
    gate_looks = [t for t in tests[:2] if t is not None]
    decision = gates.decide(gate_looks[-1].cohens_d)
    others = [gates.idea_p([tuple(look) if look else None for look in member["looks"]]) for member in inputs.family]
    evidence = gates.assess(pairs, inputs.confirm, others, passed_gate=decision is gates.Decision.PROCEED)
    if evidence.confirmation:
        # The result the paper states (means, d, its interval, the paired difference) is the
        # fresh seeds': the gate's seeds chose the idea, so their d is biased upward; they are
        # reported as the gate's looks (look_tests) only.
        fresh = set(inputs.looks[gates.CONFIRMATION_LOOK])
        ctrl, exp = [r for r in ctrl if r["seed"] in fresh], [r for r in exp if r["seed"] in fresh]
    return Analysis(
        inputs=inputs, baseline=base, control=ctrl, experimental=exp, base=stats.summarize(vals(base)),
        cmp=stats.compare_arms(vals(ctrl), vals(exp), vals(base)), paired=stats.paired_t(vals(ctrl), vals(exp)),
        evidence=evidence, decision=decision, look_tests=tests, facts=run_facts([*base, *ctrl, *exp]),
        config_diff=config_differences(ctrl, exp), null=dict(inputs.null),
    )
