"""Empirical A/A calibration: the built-in null idea (`null_init`: same data order, a
different initialisation stream, so any difference is noise) run through the same arms,
the same gate and the same evidence code as a real idea. Each repetition uses its own
block of seeds, so repetitions are independent; the control arm is baseline runs of
those seeds. The report compares how often the null passes the gate, and how often it
would be called confirmed, with the simulation of the decision code
(research_harness.calibration), so a GPU user can measure the false-positive rate of
this gate on their own hardware."""

from __future__ import annotations

import math
from pathlib import Path

from scipy import stats as sps

from trainer.record import write_json_atomic, write_text_atomic

from research_harness import calibration, gates
from research_harness.runner import Arm, Runner
from research_harness.workspace import ARM_SEEDS, BASELINE_SEEDS

NULL_IDEA = "null_init"
SEED_BASE = 100_000  # far from the workflow's seeds: repetition r uses 100000 + 10 r + (0..4)


def seeds_for(rep: int) -> list[int]:
    return [SEED_BASE + 10 * rep + i for i in range(len(BASELINE_SEEDS))]


def arms() -> tuple[Arm, Arm]:
    return Arm("baseline"), Arm("exp", (NULL_IDEA,))


def results_path(runner: Runner) -> Path:
    return runner.workspace.research_docs / "calibration" / f"aa_{runner.settings.label}.json"


def run_repetition(runner: Runner, rep: int, on_run=None) -> dict:
    """One A/A study of the null idea, as the gate runs it: 3 seeds, 5 when suggestive."""
    control_arm, exp_arm = arms()
    seeds = seeds_for(rep)
    looks, record = [], {"rep": rep, "seeds": [], "looks": []}
    for n in (len(ARM_SEEDS), len(seeds)):
        look = seeds[:n]
        losses = {}
        for arm in (control_arm, exp_arm):
            runner.prefetch(arm, look)
            for seed in look:
                rec, trained = runner.get_or_train(arm, seed)
                losses.setdefault(arm.name, {})[seed] = rec["val_loss"]
                if on_run:
                    on_run(arm, rec, trained)
        control, exp = losses[control_arm.name], losses[exp_arm.name]
        looks.append((control, exp))
        test = gates.evidence_test(control, exp)
        decision = gates.decide(test.cohens_d)
        record["looks"].append({"seeds": look, "d": test.cohens_d, "decision": decision.value, "p": test.p})
        if decision is not gates.Decision.SUGGESTIVE:
            break
    evidence = gates.assess(looks, confirm=False, passed_gate=decision is gates.Decision.PROCEED)
    record.update(seeds=seeds[:len(record["looks"][-1]["seeds"])], paper=decision is gates.Decision.PROCEED,
                  level=evidence.level.value, p_family=evidence.p_family_adjusted)
    return record


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n."""
    if n == 0:
        return (0.0, 1.0)
    z = float(sps.norm.ppf(0.5 + confidence / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def save(runner: Runner, results: list[dict]) -> Path:
    return write_json_atomic(results_path(runner), {"null_idea": NULL_IDEA, "repetitions": results})


def write_report(runner: Runner, results: list[dict]) -> Path:
    n = len(results)
    papers = sum(r["paper"] for r in results)
    confirmed = sum(r["level"] == "confirmed" for r in results)
    sim = calibration.null_rates(confirm=False)  # the repetitions run the gate only (no confirmation yet)
    lo, hi = wilson(papers, n)
    clo, chi = wilson(confirmed, n)
    lines = [f"# A/A calibration of the gate: {runner.settings.label} tokens", "",
             f"The built-in null idea `{NULL_IDEA}` (same data order, another initialisation stream: a true null) "
             "went through the arms, the gate and the evidence code of a real idea, once per repetition, each "
             "repetition on its own seeds. Lower val_loss is better; d > 0 favours the null arm.", "",
             "| Repetition | Seeds | d per look | Decision | Paper | Evidence | p (looks, ideas) |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        ds = ", ".join(gates.format_effect(look["d"]) for look in r["looks"])
        lines.append(f"| {r['rep']} | {r['seeds'][0]}..{r['seeds'][-1]} | {ds} | {r['looks'][-1]['decision']} | "
                     f"{'yes' if r['paper'] else 'no'} | {r['level']} | {r['p_family']:.3g} |")
    lines += ["", "| Rate with no true effect | Measured here (95% Wilson CI) | Simulated decision code |",
              "|---|---|---|",
              f"| P(paper) per idea | {papers}/{n} = {papers / n:.1%} [{lo:.1%}, {hi:.1%}] | "
              f"{sim['p_paper_per_idea']:.1%} |",
              f"| P(confirmed) per idea | {confirmed}/{n} = {confirmed / n:.1%} [{clo:.1%}, {chi:.1%}] | "
              f"{sim['p_confirmed_per_idea']:.1%} |", "",
              f"The simulation draws {sim['n_studies']:,} studies with uncorrelated arms; the measured rate includes "
              "whatever correlation the shared data order gives on this hardware. With few repetitions the interval "
              "is wide: raise --research-calibration-studies to narrow it.", ""]
    return write_text_atomic(runner.workspace.research_docs / f"calibration_{runner.settings.label}.md",
                             "\n".join(lines) + "\n")
