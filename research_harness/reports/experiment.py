"""docs/research/experiment_<name>_<label>.md: everything a reader needs to judge one
idea, rendered from the stored records of both arms and the baseline (tables from the
runs DataFrame), with the gate's decisions and the evidence level kept apart.

A pure renderer: `render(ExperimentData)` returns the markdown. The workflow
(research_harness.discovery.experiment_report) gathers the records, computes the
statistics and the simulated null rates, draws the figure and writes the file."""

from __future__ import annotations

import math
from dataclasses import dataclass

from research_harness import gates, stats
from research_harness.facts import MAX_TPS_SPREAD, UNSANDBOXED, run_facts
from research_harness.frame import records_frame
from research_harness.reports.tables import md_table
from research_harness.workspace import MAX_IDEAS, Settings, seed_order


@dataclass(frozen=True)
class ExperimentData:
    """What one experiment report shows, gathered by the workflow."""

    entry: object  # the idea's journal entry (research_harness.discovery.journal.Entry)
    settings: Settings
    module: str | None  # the idea's module, relative to the workspace or the project root
    control: list[dict]  # the control runs paired with an experimental run (all of them when none pairs)
    experimental: list[dict]
    failed: list[dict]  # diverged experimental runs
    baseline: list[dict]  # the stored baseline records (empty for a reused report without them)
    test: gates.EvidenceTest | None  # the pre-registered test on every finished pair
    comparison: stats.Comparison | None  # None with fewer than two runs in an arm
    null_rates: dict | None  # research_harness.calibration.null_rates() of the study's design; None before a decision
    figure: str | None  # the loss-curve figure, relative to the report's folder


def _f(x, fmt=".4f") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "+inf" if x > 0 else "-inf"
    return format(x, fmt)


def render(data: ExperimentData) -> str:
    entry, settings = data.entry, data.settings
    lines = [f"# Experiment: {entry.title} ({settings.label} tokens)", ""]
    if not settings.research_scale:
        lines += [settings.scale_note(), ""]
    lines += [f"- Idea: `{entry.idea}` ({entry.category}), flag `{entry.flag}`; journal entry {entry.rid}",
              f"- Hypothesis: {entry.plan.get('hypothesis', '')}",
              "- Metric: final val_loss on the held-out validation documents. **Lower is better**; d > 0 means the "
              "experimental arm has the lower loss.",
              "- Control arm: the stored baseline runs of the same seeds (same code, configuration and seed)"
              + ("; a flag-off rerun with the idea loaded reproduced baseline seed 42 bit for bit."
                 if entry.verification.get("bit_identical") else "."), ""]
    if entry.implementation:
        how = "written by the research agent, checked by the code guard and smoke-trained in a sandbox" \
            if entry.implementation.get("generated") else "an existing module"
        lines += ["## Implementation", "", f"`{data.module}`: {how}."]
        for i, attempt in enumerate(entry.implementation.get("attempts", []), 1):
            lines.append(f"- attempt {i}: {attempt['error'] or 'accepted'}")
        lines.append("")
    if entry.verification:
        lines += ["## Flag-off verification", "", entry.verification["summary"], ""]
    if data.baseline:
        frame = records_frame(data.baseline)
        lines += ["## Baseline", "", md_table(frame[["val_loss", "wall_total_s"]].describe().loc[
            ["count", "mean", "std", "min", "max"]].T.reset_index(names="metric"),
            {"count": ".0f", "mean": ".4f", "std": ".4f", "min": ".4f", "max": ".4f"}), ""]
    if data.failed:
        lines += ["## Failed runs", ""] + [f"- seed {r['seed']}: {r['failure']['reason']}" for r in data.failed] + [""]
    if data.comparison is not None:
        lines += _comparison(data)
    else:
        lines += ["## Arms", "", "Not enough finished runs in both arms to compare.", ""]
    lines += _decisions(entry, data.null_rates)
    lines += ["## Run records", ""] + [f"- {arm} seed {r['seed']}: `{r['run_key']}`" for arm, runs in
                                       (("control", data.control), ("experimental", data.experimental)) for r in runs]
    return "\n".join(lines) + "\n"


def _comparison(data: ExperimentData) -> list[str]:
    entry, control, exp, test, cmp = data.entry, data.control, data.experimental, data.test, data.comparison
    frame = records_frame([*control, *exp]).assign(arm=["control"] * len(control) + ["experimental"] * len(exp))
    per_seed = frame.pivot(index="seed", columns="arm", values="val_loss").reset_index()
    per_seed["difference"] = per_seed["control"] - per_seed["experimental"]
    per_seed = per_seed.sort_values("seed", key=lambda s: s.map(seed_order))
    paired = test.paired
    power = str(cmp.seeds_for_power) if cmp.seeds_for_power else f"n/a ({cmp.power_note})"
    rows = [("Cohen's d (pooled sd; the gate's statistic)", gates.format_effect(cmp.cohens_d)),
            ("Hedges' g (small-sample corrected)", gates.format_effect(cmp.hedges_g)),
            ("95% CI of the standardized effect δ (noncentral t)", f"[{_f(cmp.d_ci[0], '.2f')}, {_f(cmp.d_ci[1], '.2f')}]"),
            ("Welch t (df), one-sided p", f"{_f(cmp.welch_t, '.3f')} ({_f(cmp.welch_df, '.1f')}), {_f(cmp.p_one_sided, '.4f')}")]
    if paired is not None:
        rows += [("Paired mean improvement, nats (95% CI)", f"{paired.mean_diff:+.4f} [{paired.ci[0]:+.4f}, "
                                                             f"{paired.ci[1]:+.4f}]"),
                 ("Paired d_z; t (df), one-sided p", f"{gates.format_effect(paired.d_z)}; {_f(paired.t, '.3f')} "
                                                     f"({paired.df}), {_f(paired.p_one_sided, '.4f')}")]
    rows += [("Pre-registered test (decides the evidence)", test.decided_by),
             ("Delta (control - experimental), nats", _f(cmp.delta, "+.4f")),
             ("Delta in baseline sigmas", _f(cmp.delta_in_baseline_sigmas, "+.2f")),
             ("Probability of improvement (pairs)", _f(cmp.prob_improvement, ".2f")),
             ("Seeds per arm for 80% power at this d (two-sample t)", power)]
    if entry.evidence:
        ev = entry.evidence
        if ev.get("deciding_look") == gates.CONFIRMATION_LOOK:  # the confirmatory test: fresh seeds, no correction
            rows += [("Confirmation on fresh seeds: one-sided p", _f(ev["p_family_adjusted"], ".4g")),
                     ("Confirmation: mean improvement, nats", _f(ev.get("effect_nats", float("nan")), "+.4f")),
                     ("Confirmation: one-sided 95% lower bound of the improvement, nats",
                      _f(ev["lower_bound"], "+.4f")),
                     ("Evidence level", f"**{ev['level']}**" + (" (the effect reversed)" if ev.get("reversed") else ""))]
        else:  # exploratory: the gate's seeds, which chose the idea, so descriptive only
            rows += [("p adjusted for the looks", _f(ev["p_look_adjusted"], ".4g")),
                     ("p adjusted for the looks and the study's ideas (Holm)", _f(ev["p_family_adjusted"], ".4g")),
                     ("Corrected one-sided lower bound of the improvement, nats", _f(ev["lower_bound"], "+.4f")),
                     ("Evidence level", f"**{ev['level']}**")]
    facts = run_facts([*control, *exp])
    walls = frame.groupby("arm")["wall_total_s"].agg(["mean", "std"]).reset_index()
    out = ["## Arms", "", md_table(frame.groupby("arm")["val_loss"].describe()[["count", "mean", "std", "min", "max"]]
                                   .reset_index(), {"count": ".0f", "mean": ".4f", "std": ".4f", "min": ".4f",
                                                    "max": ".4f"}), "",
           "## Per-seed values", "", md_table(per_seed, {"control": ".4f", "experimental": ".4f", "difference": "+.4f"}),
           "", "## Statistics", "", md_table(rows, header=["Statistic", "Value"]), ""]
    out += ["## Wall-clock", ""]
    if facts.wall_times_comparable:
        out.append(f"Runs of identical code agree on throughput within a factor of {facts.tps_spread:.2f} (at most "
                   f"{MAX_TPS_SPREAD}), and the runs were sequential on one device: wall times compare.")
    else:
        out.append(f"**Wall times are not comparable**: {facts.wall_time_reason()}. Per-run tokens/s stays valid.")
    out += ["", md_table(walls, {"mean": ".2f", "std": ".2f"}, header=["arm", "mean wall_time (s)", "std"]), ""]
    if facts.unsandboxed:
        out += [f"**Warning: {UNSANDBOXED}** for {facts.unsandboxed} run(s) of this comparison: nothing kept its "
                "code from the study's files, secrets or network.", ""]
    if data.figure:
        out += [f"![Validation loss during training, every seed of both arms]({data.figure})", ""]
    return out


def _decisions(entry, rates: dict | None) -> list[str]:
    if not entry.decisions:
        return [f"**Verdict: {entry.verdict or 'not supported'}** (journal status {entry.status})", ""]
    out = ["## Decision and evidence", "",
           "The workflow's gate on Cohen's d decides what runs next; the evidence level decides what may be claimed.", ""]
    for d in entry.decisions:
        what = {0: "first look", 1: "second look", 2: "confirmation on fresh seeds"}[d.get("look", 0)]
        ev = f"; evidence {d['evidence']['level']}" if d.get("evidence") else ""
        out.append(f"- {what}, {len(d['seeds'])} seeds per arm ({', '.join(map(str, d['seeds']))}): d = "
                   f"{gates.format_effect(d['d'])} -> **{d['decision']}**{ev}; status {d['status']} ({d['date']})")
    if entry.evidence:
        out += ["", f"**Evidence: {entry.evidence['level']}** ({entry.evidence['reason']})."]
    out += ["", f"**Verdict: {entry.verdict}** (journal status {entry.status})", ""]
    out.append(f"How often this gate passes by chance (simulated with no true effect, {rates['n_studies']:,} studies "
               f"of the exact decision code, arms uncorrelated): an idea reaches the paper "
               f"{rates['p_paper_per_idea']:.1%} of the time and a {MAX_IDEAS}-idea study writes one "
               f"{rates['p_paper']:.1%} of the time; a confirmed claim arises {rates['p_confirmed']:.1%} of the time "
               f"per study. Run `python benchmarks/gate_calibration.py` for other settings, or "
               f"`pytest experiments/ -m research_calibration` to measure it on your hardware.")
    if any(d.get("look") == 1 for d in entry.decisions):
        out += ["", f"> {gates.peeking_caveat(rates)}"]
    return out + [""]
