"""How often the workflow writes a paper, and makes a confirmed claim, by simulation.

The gate (:func:`research_harness.gates.decide`) is a rule on Cohen's d, not a test, so
its error rates are not a formula: they are measured here by running the study engine
(:mod:`research_harness.engine`, the flow the A/A phase runs and the workflow's journal
replays through) on many simulated studies at once. The batch functions used
(:func:`~research_harness.stats.cohens_d_batch`, :func:`~research_harness.stats.paired_p_batch`,
:func:`~research_harness.gates.decide_batch`, :func:`~research_harness.gates.holm_batch`)
are tested equal to the scalar code, and the confirmation's size comes from
:func:`~research_harness.gates.confirmation_size`, the function the workflow calls.

The model of a study, in baseline sigmas (sigma = 1):

* Up to ``MAX_IDEAS`` ideas, all with the same true ``effect`` (> 0: the experimental
  arm's loss is lower by ``effect``).
* The control arm is the stored baseline, so it is drawn once per study and shared by
  every idea: ``control_i = sqrt(rho) Z_i + sqrt(1 - rho) U_i`` for seed i. Idea k's
  experimental arm is ``sqrt(rho) Z_i + sqrt(1 - rho) V_ki - effect``: the shared Z_i
  (same seed, same data order) gives the two arms a correlation ``rho``.
* Seeds: the gate's five (``BASELINE_SEEDS``), then the confirmation's fresh ones
  (``CONFIRMATION_SEEDS``): the last axis of the drawn arrays is ``STUDY_SEEDS``.
* Look 1 at 3 seeds: noise -> next idea; proceed -> paper; suggestive -> look 2 at 5
  seeds: proceed -> paper, otherwise the idea is closed and the next one starts. The
  study stops at the first idea that proceeds.
* Default (confirm): that idea and the baseline then run on ``n_confirm`` fresh seeds,
  fixed beforehand by :func:`~research_harness.gates.confirmation_size` from a planned
  effect (``PRIOR_SIGMAS``, the catalogue's default prior, unless given): confirmed when
  the one-sided paired t on them has p < ALPHA. ``confirm=False`` (--research-no-confirm)
  keeps the workflow's budget: nothing is ever confirmed, the best level is preliminary.

The shared baseline correlates the ideas of a study: with no effect and independent
arms one idea reaches a paper 31.9% of the time, as in ANCHORS, but a 3-idea study does
so about 56% of the time, not the 68% independent ideas would give
(``shared_control=False`` reproduces the 68%).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from research_harness import engine
from research_harness.engine import STUDY_SEEDS
from research_harness.gates import confirmation_size
from research_harness.workspace import ARM_SEEDS, BASELINE_SEEDS, CONFIRMATION_SEEDS, MAX_CONFIRM_SEEDS, MAX_IDEAS

__all__ = ["STUDY_SEEDS", "PRIOR_SIGMAS", "draw_studies", "run_studies", "simulate_studies", "null_rates"]


# The planned effect the simulation sizes the confirmation for: the catalogue's default prior
# (trainer.ideas.base.Idea.expected_gain, 0.5% of the baseline loss) in baseline sigmas at the
# measured CPU baseline (docs/BENCHMARKS.md: cpu-small, 1M tokens, 4.4086 +- 0.0049). Not the
# true effect: the sizing cannot know it.
DEFAULT_EXPECTED_GAIN, REFERENCE_BASELINE = 0.005, (4.4086, 0.0049)
PRIOR_SIGMAS = DEFAULT_EXPECTED_GAIN * REFERENCE_BASELINE[0] / REFERENCE_BASELINE[1]


def _check(n_studies: int, rho: float) -> None:
    if int(n_studies) != n_studies or n_studies < 1:
        raise ValueError(f"n_studies must be a positive integer, got {n_studies}")
    if not 0.0 <= rho < 1.0:
        raise ValueError(f"rho must be in [0, 1), got {rho}")


def draw_studies(
    effect: float, n_studies: int, *, rho: float = 0.5, n_fresh: int = MAX_CONFIRM_SEEDS, seed: int = 0,
    shared_control: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """val_loss of simulated studies: ``(control, experimental)``, both (n_studies, MAX_IDEAS, 5 + n_fresh).

    Seed i of the last axis is ``STUDY_SEEDS[i]``: the gate's 5, then ``n_fresh`` fresh
    confirmation seeds. With ``shared_control`` (the workflow: one stored baseline) the
    control arm is the same for every idea of a study (a read-only broadcast view);
    ``shared_control=False`` draws a fresh one per idea, the model behind the ANCHORS
    figure "a 3-idea study writes a paper 68% of the time".
    """
    _check(n_studies, rho)
    if int(n_fresh) != n_fresh or not 0 <= n_fresh <= len(CONFIRMATION_SEEDS):
        raise ValueError(f"n_fresh must be an integer in [0, {len(CONFIRMATION_SEEDS)}], got {n_fresh}")
    rng = np.random.default_rng(seed)
    n_all = len(BASELINE_SEEDS) + int(n_fresh)
    data_order = math.sqrt(rho) * rng.standard_normal((n_studies, 1, n_all))
    own = math.sqrt(1.0 - rho)
    control = data_order + own * rng.standard_normal((n_studies, 1 if shared_control else MAX_IDEAS, n_all))
    experimental = data_order + own * rng.standard_normal((n_studies, MAX_IDEAS, n_all)) - effect
    return np.broadcast_to(control, experimental.shape), experimental


def run_studies(control: np.ndarray, experimental: np.ndarray, *, confirm: bool = True,
                n_confirm: int | None = None) -> dict[str, np.ndarray]:
    """The study engine (:func:`research_harness.engine.advance`) on drawn studies, all at once.

    ``n_confirm`` fresh seeds (default: every fresh seed drawn) confirm the idea that
    proceeded. Returns per-study arrays: ``paper_idea`` (index of the idea that
    proceeded, -1 for none), ``confirmed``, ``not_confirmed`` (confirmation ran, p >=
    ALPHA), ``reversed`` (of those, the fresh seeds favour the control),
    ``first_look_paper`` (the first idea proceeded at 3 seeds), ``gate_d`` (the paper
    idea's d at its deciding gate look, NaN without a paper), ``fresh_d`` (its Cohen's d
    on the fresh seeds, NaN without a confirmation), ``experimental_runs`` and
    ``extra_control_runs`` (control runs beyond the 5 stored baseline runs).
    """
    n_gate = len(BASELINE_SEEDS)
    n_confirm = control.shape[-1] - n_gate if n_confirm is None else int(n_confirm)
    step = engine.advance(control, experimental, confirm=confirm, n_confirm=n_confirm)
    if (step.state != engine.DONE).any():  # every number is drawn, so a waiting study is a bug in the drawing
        raise ValueError("some simulated studies lack observations the flow needs")
    looks_runs = np.where(step.second_look, n_gate, len(ARM_SEEDS)) * step.tried
    confirmed_runs = np.where(confirm & (step.paper_idea >= 0), n_confirm, 0)
    return {"paper_idea": step.paper_idea, "confirmed": step.confirmed, "not_confirmed": step.not_confirmed,
            "reversed": step.reversed, "first_look_paper": step.first_look_paper, "gate_d": step.gate_d,
            "fresh_d": step.fresh_d, "experimental_runs": looks_runs.sum(axis=-1) + confirmed_runs,
            "extra_control_runs": confirmed_runs}


def simulate_studies(
    effect: float,
    n_studies: int,
    *,
    confirm: bool = True,
    rho: float = 0.5,
    planned_sigmas: float = PRIOR_SIGMAS,
    max_confirm_seeds: int = MAX_CONFIRM_SEEDS,
    seed: int = 0,
    shared_control: bool = True,
) -> dict:
    """Simulate ``n_studies`` studies of up to 3 ideas with true improvement ``effect`` (sigmas).

    The confirmation's size is fixed first, as the workflow fixes it
    (:func:`~research_harness.gates.confirmation_size` at ``planned_sigmas``, at most
    ``max_confirm_seeds``); then :func:`draw_studies` and :func:`run_studies`,
    summarized as a dict of plain numbers (JSON-ready):

    * ``p_paper``, ``p_confirmed``: fraction of studies whose gate proceeds / that are
      confirmed on fresh seeds; ``p_not_confirmed``, ``p_reversed``: the confirmation ran
      and did not confirm / and the fresh seeds favoured the control;
    * ``p_paper_per_idea``, ``p_confirmed_per_idea``: the same for the first idea;
    * ``p_paper_first_look_per_idea``: the first idea proceeds on its first look;
    * ``mean_gate_d_of_papers``: the mean gate d of ideas that proceeded (selected by
      the gate, so biased upward), ``mean_fresh_d_of_papers``: their d on fresh seeds;
    * ``mean_experimental_runs``, ``mean_extra_control_runs``: runs per study beyond the
      5 stored baseline runs;
    * the inputs, with ``n_confirm`` and ``planned_sigmas``.

    Deterministic for a given ``seed`` (numpy Generator).
    """
    n_confirm = confirmation_size(planned_sigmas, max_confirm_seeds)[0]
    control, experimental = draw_studies(effect, n_studies, rho=rho, n_fresh=n_confirm, seed=seed,
                                         shared_control=shared_control)
    out = run_studies(control, experimental, confirm=confirm, n_confirm=n_confirm)
    first = out["paper_idea"] == 0
    papers = out["paper_idea"] >= 0

    def mean(x: np.ndarray) -> float:
        return float(np.nanmean(x)) if np.isfinite(x).any() else math.nan

    return {
        "effect": float(effect),
        "n_studies": int(n_studies),
        "confirm": bool(confirm),
        "rho": float(rho),
        "planned_sigmas": float(planned_sigmas),
        "n_confirm": int(n_confirm) if confirm else 0,
        "max_confirm_seeds": int(max_confirm_seeds),
        "seed": int(seed),
        "shared_control": bool(shared_control),
        "p_paper": float(papers.mean()),
        "p_confirmed": float(out["confirmed"].mean()),
        "p_not_confirmed": float(out["not_confirmed"].mean()),
        "p_reversed": float(out["reversed"].mean()),
        "p_paper_per_idea": float(first.mean()),
        "p_confirmed_per_idea": float((out["confirmed"] & first).mean()),
        "p_paper_first_look_per_idea": float(out["first_look_paper"].mean()),
        "mean_gate_d_of_papers": mean(out["gate_d"][papers]),
        "mean_fresh_d_of_papers": mean(out["fresh_d"][papers]) if confirm else math.nan,
        "mean_experimental_runs": float(out["experimental_runs"].mean()),
        "mean_extra_control_runs": float(out["extra_control_runs"].mean()),
    }


@functools.lru_cache(maxsize=None)
def _null_rates(confirm: bool, rho: float, max_confirm_seeds: int, n_studies: int, seed: int) -> tuple:
    return tuple(simulate_studies(0.0, n_studies, confirm=confirm, rho=rho, max_confirm_seeds=max_confirm_seeds,
                                  seed=seed).items())


def null_rates(
    confirm: bool = True, rho: float = 0.0, max_confirm_seeds: int = MAX_CONFIRM_SEEDS, n_studies: int = 20_000,
    seed: int = 0,
) -> dict:
    """The no-effect summary of :func:`simulate_studies`, for reports; cached per argument set.

    With the defaults it takes well under a second. Each call returns a fresh dict, so a
    caller may change it without touching the cache.
    """
    return dict(_null_rates(bool(confirm), float(rho), int(max_confirm_seeds), int(n_studies), int(seed)))
