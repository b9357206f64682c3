"""docs/research/experiment_<name>_<label>.md: everything a reader needs to judge one
idea, rendered from the stored records of both arms and the baseline."""

from __future__ import annotations

import math

from research_harness.gates import PEEKING_CAVEAT, decide, verdict
from research_harness.stats import compare_arms, summarize
from research_harness.workspace import seed_order


def _f(x, fmt=".4f") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "+inf" if x > 0 else "-inf"
    return format(x, fmt)


def render(idea: dict, entry, baseline_values: list[float], control: list[dict], experimental: list[dict],
           failed: list[dict], settings) -> str:
    label = settings.label
    lines = [f"# Experiment: {idea['title']} ({label} tokens)", ""]
    if not settings.research_scale:
        lines += [settings.scale_note(), ""]
    lines += [f"- Idea: `{idea['name']}` ({idea['category']}), flag `{idea['flag']}`; journal entry {entry.rid}",
              f"- Hypothesis: {entry.plan.get('hypothesis', '')}",
              "- Metric: final val_loss on the held-out validation documents. **Lower is better**; d > 0 means the "
              "experimental arm has the lower loss.", ""]
    if entry.verification:
        lines += ["## Flag-off verification", "", entry.verification["summary"], ""]
    b = summarize(baseline_values)
    lines += ["## Baseline (N=5)", "", "| Metric | Mean | Std | Min | Max |", "|--------|------|-----|-----|-----|",
              f"| val_loss | {b.mean:.4f} | {b.std:.4f} | {b.min:.4f} | {b.max:.4f} |", ""]
    if failed:
        lines += ["## Failed runs", ""]
        for r in failed:
            lines.append(f"- seed {r['seed']}: {r['failure']['reason']}")
        lines.append("")
    if len(control) >= 2 and len(experimental) >= 2:
        cv = [r["val_loss"] for r in control]
        ev = [r["val_loss"] for r in experimental]
        cmp = compare_arms(cv, ev, baseline_values)
        c, e = cmp.control, cmp.experimental
        cw = summarize([r["wall_time"]["total_s"] for r in control])
        ew = summarize([r["wall_time"]["total_s"] for r in experimental])
        lines += ["## Arms", "", "| Arm | N | val_loss mean | Std | Min | Max |", "|-----|---|------|-----|-----|-----|",
                  f"| control | {c.n} | {c.mean:.4f} | {c.std:.4f} | {c.min:.4f} | {c.max:.4f} |",
                  f"| experimental | {e.n} | {e.mean:.4f} | {e.std:.4f} | {e.min:.4f} | {e.max:.4f} |", "",
                  "## Statistical tests", "", "| Statistic | Value |", "|-----------|-------|",
                  f"| Cohen's d (pooled sd, n-1 weights; the gate's statistic) | {_f(cmp.cohens_d, '.3f')} |",
                  f"| Hedges' g (small-sample corrected) | {_f(cmp.hedges_g, '.3f')} |",
                  f"| 95% CI of g (noncentral t) | [{_f(cmp.g_ci[0], '.3f')}, {_f(cmp.g_ci[1], '.3f')}] |",
                  f"| Welch t (df) | {_f(cmp.welch_t, '.3f')} ({_f(cmp.welch_df, '.1f')}) |",
                  f"| One-sided Welch p (H1: experimental lower) | {_f(cmp.p_one_sided, '.4f')} |",
                  f"| Delta (control - experimental), nats | {_f(cmp.delta, '+.4f')} |",
                  f"| Delta in baseline sigmas | {_f(cmp.delta_in_baseline_sigmas, '+.2f')} |",
                  f"| Probability of improvement (pairs) | {_f(cmp.prob_improvement, '.2f')} |",
                  f"| Seeds per arm for 80% power at this d | {cmp.seeds_for_power if cmp.seeds_for_power else 'n/a (d <= 0)'} |",
                  "", "## Wall-clock", "", "| Arm | mean wall_time (s) | Std |", "|-----|------|-----|",
                  f"| control | {cw.mean:.2f} | {_f(cw.std, '.2f')} |", f"| experimental | {ew.mean:.2f} | {_f(ew.std, '.2f')} |",
                  f"| delta (experimental - control) | {ew.mean - cw.mean:+.2f} ({100 * (ew.mean / cw.mean - 1):+.1f}%) | |",
                  ""]
        lines += ["## Per-seed values", "", "| Seed | control val_loss | experimental val_loss | control wall (s) | "
                  "experimental wall (s) |", "|------|------|------|------|------|"]
        by_seed_c = {r["seed"]: r for r in control}
        by_seed_e = {r["seed"]: r for r in experimental}
        for seed in sorted(set(by_seed_c) | set(by_seed_e), key=seed_order):
            rc, re_ = by_seed_c.get(seed), by_seed_e.get(seed)
            lines.append(f"| {seed} | {_f(rc['val_loss']) if rc else '-'} | {_f(re_['val_loss']) if re_ else '-'} | "
                         f"{_f(rc['wall_time']['total_s'], '.2f') if rc else '-'} | "
                         f"{_f(re_['wall_time']['total_s'], '.2f') if re_ else '-'} |")
        lines += ["", "## Decision", ""]
        for d in entry.decisions:
            lines.append(f"- {len(d['seeds'])} seeds per arm ({', '.join(map(str, d['seeds']))}): d = {d['d']:.3f} -> "
                         f"**{d['decision']}** ({d['date']})")
        lines += ["", f"**Verdict: {verdict(cmp.cohens_d)}** (gate: {decide(cmp.cohens_d).value}; journal status "
                      f"{entry.status})", ""]
        if len(entry.decisions) > 1:
            lines += [f"> {PEEKING_CAVEAT}", ""]
        else:
            lines += [f"> Note: {PEEKING_CAVEAT}", ""]
        if any(r.get("arm") == "baseline" for r in control):
            lines += ["Control runs with the same code, configuration and seed as a baseline run are that baseline "
                      "run's stored record: training is deterministic on this device, so retraining would give the "
                      "bit-identical result.", ""]
    else:
        lines += ["## Arms", "", "Not enough finished runs in both arms to compare.", "",
                  f"**Verdict: {entry.verdict or 'LOSER'}** (journal status {entry.status})", ""]
    lines += ["## Run records", ""]
    for r in control + experimental:
        lines.append(f"- {r.get('arm', '?')} seed {r['seed']}: `{r['run_key']}`")
    return "\n".join(lines) + "\n"
