"""docs/research/experiment_<name>_<label>.md: everything a reader needs to judge one
idea, rendered from the stored records of both arms and the baseline (tables from the
runs DataFrame), with the gate's decisions and the evidence level kept apart."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

from trainer.atomic import write_atomic

from research_harness import calibration, gates, stats
from research_harness.facts import MAX_TPS_SPREAD, UNSANDBOXED, run_facts
from research_harness.frame import records_frame
from research_harness.reports.tables import md_table
from research_harness.workspace import ARM_SEEDS, EXTENSION_SEEDS, MAX_CONFIRM_SEEDS, MAX_IDEAS, seed_order


def _f(x, fmt=".4f") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "+inf" if x > 0 else "-inf"
    return format(x, fmt)


def _seeds(entry) -> list[int]:
    seen = [s for look in entry.looks if look for s in look]
    return sorted(dict.fromkeys(seen or [*ARM_SEEDS, *EXTENSION_SEEDS]), key=seed_order)


def write(disc, entry) -> Path:
    runner = disc.runner
    settings, ws = runner.settings, runner.workspace
    seeds = _seeds(entry)
    control, _ = disc.arm_records(entry, "control", seeds)
    exp, failed = disc.arm_records(entry, "exp", seeds)
    test = gates.evidence_test({r["seed"]: r["val_loss"] for r in control}, {r["seed"]: r["val_loss"] for r in exp}) \
        if len(control) >= 2 and len(exp) >= 2 else None  # on every run: a missing pair means Welch decides
    control = [r for r in control if any(r["seed"] == e["seed"] for e in exp)] or control
    from research_harness import baseline as phase1  # noqa: PLC0415

    base = phase1.load(runner, train_missing=False)
    path = ws.experiment_report(entry.idea, settings.label)
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
        lines += ["## Implementation", "", f"`{entry.implementation.get('module')}`: {how}."]
        for i, attempt in enumerate(entry.implementation.get("attempts", []), 1):
            lines.append(f"- attempt {i}: {attempt['error'] or 'accepted'}")
        lines.append("")
    if entry.verification:
        lines += ["## Flag-off verification", "", entry.verification["summary"], ""]
    if base.records:
        frame = records_frame(list(base.records.values()))
        lines += ["## Baseline", "", md_table(frame[["val_loss", "wall_total_s"]].describe().loc[
            ["count", "mean", "std", "min", "max"]].T.reset_index(names="metric"),
            {"count": ".0f", "mean": ".4f", "std": ".4f", "min": ".4f", "max": ".4f"}), ""]
    if failed:
        lines += ["## Failed runs", ""] + [f"- seed {r['seed']}: {r['failure']['reason']}" for r in failed] + [""]
    if len(control) >= 2 and len(exp) >= 2:
        lines += _comparison(disc, entry, control, exp, base, test)
    else:
        lines += ["## Arms", "", "Not enough finished runs in both arms to compare.", ""]
    lines += _decisions(entry, disc.design())
    lines += ["## Run records", ""] + [f"- {'control' if r in control else 'experimental'} seed {r['seed']}: "
                                       f"`{r['run_key']}`" for r in [*control, *exp]]
    return write_atomic(path, "\n".join(lines) + "\n")


def _comparison(disc, entry, control, exp, base, test) -> list[str]:
    cv, ev = [r["val_loss"] for r in control], [r["val_loss"] for r in exp]
    cmp = stats.compare_arms(cv, ev, base.values if len(base.values) >= 2 else None)
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
    fig = _figure(disc, entry, control, exp, base)
    if fig:
        out += [f"![Validation loss during training, every seed of both arms]({fig})", ""]
    return out


def _figure(disc, entry, control, exp, base) -> str | None:
    """The paper's figure code, reused: control against experimental, every seed."""
    from research_harness.paper.figures import make_figures  # noqa: PLC0415

    ws = disc.runner.workspace
    if len(base.records) < 2:  # a reused report without its records: no baseline band to draw
        return None
    view = SimpleNamespace(control=control, experimental=exp, baseline=list(base.records.values()),
                           arms=[*control, *exp])
    paths = make_figures(view, ws.research_docs / "figures", entry.idea)
    return paths["curves"][0].relative_to(ws.research_docs).as_posix()


def _decisions(entry, design: dict) -> list[str]:
    if not entry.decisions:
        return [f"**Verdict: {entry.verdict or 'not supported'}** (journal status {entry.status})", ""]
    out = ["## Decision and evidence", "",
           "The seed's gate on Cohen's d decides what runs next; the evidence level decides what may be claimed.", ""]
    for d in entry.decisions:
        what = {0: "first look", 1: "second look", 2: "confirmation on fresh seeds"}[d.get("look", 0)]
        ev = f"; evidence {d['evidence']['level']}" if d.get("evidence") else ""
        out.append(f"- {what}, {len(d['seeds'])} seeds per arm ({', '.join(map(str, d['seeds']))}): d = "
                   f"{gates.format_effect(d['d'])} -> **{d['decision']}**{ev}; status {d['status']} ({d['date']})")
    if entry.evidence:
        out += ["", f"**Evidence: {entry.evidence['level']}** ({entry.evidence['reason']})."]
    out += ["", f"**Verdict: {entry.verdict}** (journal status {entry.status})", ""]
    rates = calibration.null_rates(confirm=bool(design.get("confirm")),
                                   max_confirm_seeds=design.get("max_confirm_seeds", MAX_CONFIRM_SEEDS))
    out.append(f"How often this gate passes by chance (simulated with no true effect, {rates['n_studies']:,} studies "
               f"of the exact decision code, arms uncorrelated): an idea reaches the paper "
               f"{rates['p_paper_per_idea']:.1%} of the time and a {MAX_IDEAS}-idea study writes one "
               f"{rates['p_paper']:.1%} of the time; a confirmed claim arises {rates['p_confirmed']:.1%} of the time "
               f"per study. Run `python benchmarks/gate_calibration.py` for other settings, or "
               f"`pytest experiments/ -m research_calibration` to measure it on your hardware.")
    if any(d.get("look") == 1 for d in entry.decisions):
        out += ["", f"> {gates.peeking_caveat(rates)}"]
    return out + [""]
