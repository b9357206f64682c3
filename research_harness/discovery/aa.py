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

import numpy as np
from scipy import stats as sps

from trainer.atomic import write_atomic, write_json_atomic

from research_harness import calibration, engine, gates
from research_harness.runner import Arm, Runner
from research_harness.workspace import ARM_SEEDS, BASELINE_SEEDS

NULL_IDEA = "null_init"
SEED_BASE = 100_000  # far from the workflow's seeds (and from CONFIRMATION_SEEDS)
# Repetition r owns seeds SEED_BASE + BLOCK r + (0, 1, ...): the gate's 5, then the fresh seeds
# of its confirmation, so the blocks hold the most fresh seeds a confirmation may use.
BLOCK = 100


def seeds_for(rep: int, n: int = len(BASELINE_SEEDS)) -> list[int]:
    if n > BLOCK:
        raise ValueError(f"a repetition's block holds {BLOCK} seeds, {n} asked")
    return [SEED_BASE + BLOCK * rep + i for i in range(n)]


def arms() -> tuple[Arm, Arm]:
    return Arm("baseline"), Arm("exp", (NULL_IDEA,))


def results_path(runner: Runner) -> Path:
    return runner.workspace.research_docs / "calibration" / f"aa_{runner.settings.label}.json"


def confirmation_count(runner: Runner) -> int:
    """The fresh seeds a repetition's confirmation runs: sized as the simulation sizes it
    (the catalogue's default prior), so the measured rate compares with the simulated one."""
    return gates.confirmation_size(calibration.PRIOR_SIGMAS, runner.settings.max_confirm_seeds)[0]


def run_repetition(runner: Runner, rep: int, on_run=None) -> dict:
    """One A/A study of the null idea, run by the study engine (batch of one): 3 seeds, 5
    when suggestive, then, when the gate proceeds and the study confirms (the default),
    the confirmation on the block's fresh seeds."""
    control_arm, exp_arm = arms()
    confirm, n_confirm = runner.settings.confirm, confirmation_count(runner)
    seeds = seeds_for(rep, len(BASELINE_SEEDS) + n_confirm)
    control = np.full((1, 1, len(seeds)), np.nan)
    exp = np.full_like(control, np.nan)
    while (step := engine.advance(control, exp, confirm=confirm, n_confirm=n_confirm)).state[0] == engine.WAITING:
        lo, hi = int(step.cols_from[0]), int(step.cols_to[0])
        for arm, values in ((control_arm, control), (exp_arm, exp)):
            runner.prefetch(arm, seeds[lo:hi])
            for col in range(lo, hi):
                rec, trained = runner.get_or_train(arm, seeds[col])
                values[0, 0, col] = rec["val_loss"]
                if on_run:
                    on_run(arm, rec, trained)
    by_seed = lambda values, cols: {seeds[i]: float(values[0, 0, i]) for i in cols}  # noqa: E731
    gate_cols = [range(len(ARM_SEEDS))] + ([range(len(BASELINE_SEEDS))] if step.second_look[0, 0] else [])
    looks = [(by_seed(control, cols), by_seed(exp, cols)) for cols in gate_cols]
    paper = bool(step.paper_idea[0] == 0)
    record = {"rep": rep, "looks": []}
    for pair in looks:
        test = gates.evidence_test(*pair)
        record["looks"].append({"seeds": sorted(pair[0]), "d": test.cohens_d,
                                "decision": gates.decide(test.cohens_d).value, "p": test.p})
    if paper and confirm:
        fresh = range(len(BASELINE_SEEDS), len(seeds))
        looks = [*looks, None][:2] + [(by_seed(control, fresh), by_seed(exp, fresh))]
    evidence = gates.assess(looks, confirm=confirm, passed_gate=paper)
    used = [s for s, c in zip(seeds, control[0, 0]) if np.isfinite(c)]
    record.update(seeds=used, paper=paper, level=evidence.level.value, p_family=evidence.p_family_adjusted,
                  confirmation_seeds=int(np.isfinite(control[0, 0, len(BASELINE_SEEDS):]).sum()))
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
    sim = calibration.null_rates(confirm=runner.settings.confirm, max_confirm_seeds=runner.settings.max_confirm_seeds)
    lo, hi = wilson(papers, n)
    clo, chi = wilson(confirmed, n)
    lines = [f"# A/A calibration of the gate: {runner.settings.label} tokens", "",
             f"The built-in null idea `{NULL_IDEA}` (same data order, another initialisation stream: a true null) "
             "went through the arms, the gate and the evidence code of a real idea, once per repetition, each "
             "repetition on its own seeds. Lower val_loss is better; d > 0 favours the null arm.", "",
             "| Repetition | Seeds | d per look | Decision | Paper | Evidence | p (exploratory, or the confirmation's) |",
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
    return write_atomic(runner.workspace.research_docs / f"calibration_{runner.settings.label}.md",
                             "\n".join(lines) + "\n")
