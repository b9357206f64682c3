"""How often the workflow writes a paper, and makes a confirmed claim, by simulation.

The gate (:func:`research_harness.gates.decide`) is a rule on Cohen's d, not a test, so
its error rates are not a formula: they are measured here by running the decision code
as the workflow runs it, on many simulated studies at once. The batch functions used
(:func:`~research_harness.stats.cohens_d_batch`, :func:`~research_harness.stats.paired_p_batch`,
:func:`~research_harness.gates.decide_batch`, :func:`~research_harness.gates.holm_batch`,
:func:`~research_harness.gates.confirmation_n_batch`) are tested equal to the scalar code.

The model of a study, in baseline sigmas (sigma = 1):

* Up to ``MAX_IDEAS`` ideas, all with the same true ``effect`` (> 0: the experimental
  arm's loss is lower by ``effect``).
* The control arm is the stored baseline, so it is drawn once per study and shared by
  every idea: ``control_i = sqrt(rho) Z_i + sqrt(1 - rho) U_i`` for seed i. Idea k's
  experimental arm is ``sqrt(rho) Z_i + sqrt(1 - rho) V_ki - effect``: the shared Z_i
  (same seed, same data order) gives the two arms a correlation ``rho``.
* Look 1 at 3 seeds: noise -> next idea; proceed -> paper; suggestive -> look 2 at 5
  seeds: proceed -> paper, otherwise the idea is closed and the next one starts. The
  study stops at the first paper.
* Evidence for the paper's idea: its look-adjusted p over the looks taken (paired t,
  the arms share seeds), Holm over the 3-member family (earlier ideas with their own
  look-adjusted p, untried ideas p = 1). In confirm mode a paper that is still
  preliminary gets a confirmation look at the seed count
  :func:`~research_harness.gates.confirmation_seeds` picks, reusing the earlier seeds.

Two things only the simulation shows. First, the shared baseline correlates the ideas
of a study: with no effect and independent arms one idea reaches a paper 31.9% of the
time, as in ANCHORS, but a 3-idea study does so about 56% of the time, not the 68% that
independent ideas would give (``shared_control=False`` reproduces the 68%). Second, the
confirmation look's seed count depends on the seeds it reuses, so the Bonferroni
argument over looks is not exact there; the measured no-effect rate of a confirmed
claim stays below ALPHA / MAX_IDEAS per idea and below ALPHA per study (the tests
check it).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from research_harness.gates import (
    ALPHA,
    SEED_SEQUENCE,
    confirmation_n_batch,
    decide_batch,
    holm_batch,
    look_weights,
)
from research_harness.stats import cohens_d_batch, paired_dz_batch, paired_p_batch
from research_harness.workspace import ARM_SEEDS, BASELINE_SEEDS, MAX_IDEAS

__all__ = ["draw_studies", "run_studies", "simulate_studies", "null_rates"]

_PROCEED, _SUGGESTIVE = 2, 1  # codes of decide_batch


def _check(n_studies: int, rho: float, max_seeds: int) -> None:
    if int(n_studies) != n_studies or n_studies < 1:
        raise ValueError(f"n_studies must be a positive integer, got {n_studies}")
    if not 0.0 <= rho < 1.0:
        raise ValueError(f"rho must be in [0, 1), got {rho}")
    if int(max_seeds) != max_seeds or not len(BASELINE_SEEDS) <= max_seeds <= len(SEED_SEQUENCE):
        raise ValueError(f"max_seeds must be an integer in [{len(BASELINE_SEEDS)}, {len(SEED_SEQUENCE)}], "
                         f"got {max_seeds}")


def draw_studies(
    effect: float, n_studies: int, *, rho: float = 0.5, max_seeds: int = 10, seed: int = 0,
    shared_control: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """val_loss of simulated studies: ``(control, experimental)``, both (n_studies, MAX_IDEAS, seeds).

    Seed i of the last axis is ``SEED_SEQUENCE[i]``; there are ``max(10, max_seeds)``.
    With ``shared_control`` (the workflow: one stored baseline) the control arm is the
    same for every idea of a study (a read-only broadcast view); ``shared_control=False``
    draws a fresh one per idea, the model behind the ANCHORS figure "a 3-idea study
    writes a paper 68% of the time", which treats the ideas as independent.
    """
    _check(n_studies, rho, max_seeds)
    rng = np.random.default_rng(seed)
    n_all = max(10, max_seeds)
    data_order = math.sqrt(rho) * rng.standard_normal((n_studies, 1, n_all))
    own = math.sqrt(1.0 - rho)
    control = data_order + own * rng.standard_normal((n_studies, 1 if shared_control else MAX_IDEAS, n_all))
    experimental = data_order + own * rng.standard_normal((n_studies, MAX_IDEAS, n_all)) - effect
    return np.broadcast_to(control, experimental.shape), experimental


def run_studies(control: np.ndarray, experimental: np.ndarray, *, confirm: bool = False,
                max_seeds: int = 10) -> dict[str, np.ndarray]:
    """Run the workflow's decisions and the evidence level on drawn studies, all at once.

    Returns per-study arrays: ``paper_idea`` (index of the idea that proceeded, -1 for
    no paper), ``confirmed``, ``first_look_paper`` (the first idea proceeded at 3
    seeds), ``experimental_runs`` and ``extra_control_runs`` (control seeds beyond the
    5 stored baseline runs, i.e. confirmation looks; counted for a shared baseline).
    """
    n_studies = control.shape[0]
    weights = look_weights(confirm)
    n1, n2 = len(ARM_SEEDS), len(BASELINE_SEEDS)
    open_study = np.ones(n_studies, dtype=bool)  # no paper yet
    idea_p = np.ones((n_studies, MAX_IDEAS))  # look-adjusted p; ideas never tried stay at 1
    paper_idea = np.full(n_studies, -1)
    last_n = np.zeros(n_studies, dtype=np.int64)  # seeds of the paper idea's last look
    last_dz = np.full(n_studies, math.nan)  # its paired d_z there
    first_look_paper = np.zeros(n_studies, dtype=bool)
    experimental_runs = np.zeros(n_studies, dtype=np.int64)
    for k in range(MAX_IDEAS):
        c3, e3 = control[:, k, :n1], experimental[:, k, :n1]
        c5, e5 = control[:, k, :n2], experimental[:, k, :n2]
        gate1 = decide_batch(cohens_d_batch(c3, e3))
        second = gate1 == _SUGGESTIVE
        gate2 = decide_batch(cohens_d_batch(c5, e5))
        p_adj = paired_p_batch(c3, e3) / weights[0]
        p_adj = np.minimum(1.0, np.where(second, np.minimum(p_adj, paired_p_batch(c5, e5) / weights[1]), p_adj))
        proceed = (gate1 == _PROCEED) | (second & (gate2 == _PROCEED))
        tried = open_study
        idea_p[:, k] = np.where(tried, p_adj, 1.0)
        experimental_runs += np.where(tried, np.where(second, n2, n1), 0)
        paper = tried & proceed
        paper_idea[paper] = k
        last_n[paper] = np.where(second, n2, n1)[paper]
        last_dz[paper] = np.where(second, paired_dz_batch(c5, e5), paired_dz_batch(c3, e3))[paper]
        if k == 0:
            first_look_paper = gate1 == _PROCEED
        open_study = open_study & ~proceed

    rows = np.flatnonzero(paper_idea >= 0)
    confirmed = np.zeros(n_studies, dtype=bool)
    confirmed[rows] = holm_batch(idea_p[rows], MAX_IDEAS)[np.arange(rows.size), paper_idea[rows]] < ALPHA
    extra_control_runs = np.zeros(n_studies, dtype=np.int64)
    if confirm:
        todo = rows[~confirmed[rows]]
        target = confirmation_n_batch(last_dz[todo], last_n[todo], paired=True, max_seeds=max_seeds)
        for n in np.unique(target):
            sel = todo[(target == n) & (target > last_n[todo])]
            if sel.size == 0:
                continue
            idea = paper_idea[sel]
            p_confirm = paired_p_batch(control[sel, idea, :n], experimental[sel, idea, :n]) / weights[2]
            idea_p[sel, idea] = np.minimum(idea_p[sel, idea], np.minimum(1.0, p_confirm))
            confirmed[sel] = holm_batch(idea_p[sel], MAX_IDEAS)[np.arange(sel.size), idea] < ALPHA
            experimental_runs[sel] += n - last_n[sel]
            extra_control_runs[sel] = max(0, n - n2)
    return {"paper_idea": paper_idea, "confirmed": confirmed, "first_look_paper": first_look_paper,
            "experimental_runs": experimental_runs, "extra_control_runs": extra_control_runs}


def simulate_studies(
    effect: float,
    n_studies: int,
    *,
    confirm: bool = False,
    rho: float = 0.5,
    max_seeds: int = 10,
    seed: int = 0,
    shared_control: bool = True,
) -> dict:
    """Simulate ``n_studies`` studies of up to 3 ideas with true improvement ``effect`` (sigmas).

    :func:`draw_studies` then :func:`run_studies`, summarized as a dict of plain numbers
    (JSON-ready):

    * ``p_paper``, ``p_confirmed``: fraction of studies that write a paper / whose
      paper's evidence is confirmed;
    * ``p_paper_per_idea``, ``p_confirmed_per_idea``: the same for the first idea (the
      probability for one idea; at effect 0 the confirmed rate is the per-idea error,
      at effect > 0 it is the power);
    * ``p_paper_first_look_per_idea``: the first idea proceeds on its first look;
    * ``mean_experimental_runs``: experimental-arm runs per study, all ideas tried;
      ``mean_extra_control_runs``: control runs beyond the 5 stored baseline seeds;
    * the inputs: ``effect``, ``n_studies``, ``confirm``, ``rho``, ``max_seeds``,
      ``seed``, ``shared_control``.

    Deterministic for a given ``seed`` (numpy Generator).
    """
    control, experimental = draw_studies(effect, n_studies, rho=rho, max_seeds=max_seeds, seed=seed,
                                         shared_control=shared_control)
    out = run_studies(control, experimental, confirm=confirm, max_seeds=max_seeds)
    first = out["paper_idea"] == 0
    return {
        "effect": float(effect),
        "n_studies": int(n_studies),
        "confirm": bool(confirm),
        "rho": float(rho),
        "max_seeds": int(max_seeds),
        "seed": int(seed),
        "shared_control": bool(shared_control),
        "p_paper": float((out["paper_idea"] >= 0).mean()),
        "p_confirmed": float(out["confirmed"].mean()),
        "p_paper_per_idea": float(first.mean()),
        "p_confirmed_per_idea": float((out["confirmed"] & first).mean()),
        "p_paper_first_look_per_idea": float(out["first_look_paper"].mean()),
        "mean_experimental_runs": float(out["experimental_runs"].mean()),
        "mean_extra_control_runs": float(out["extra_control_runs"].mean()),
    }


@functools.lru_cache(maxsize=None)
def _null_rates(confirm: bool, rho: float, max_seeds: int, n_studies: int, seed: int) -> tuple:
    return tuple(simulate_studies(0.0, n_studies, confirm=confirm, rho=rho, max_seeds=max_seeds, seed=seed).items())


def null_rates(
    confirm: bool = False, rho: float = 0.0, max_seeds: int = 10, n_studies: int = 20_000, seed: int = 0
) -> dict:
    """The no-effect summary of :func:`simulate_studies`, for reports; cached per argument set.

    With the defaults it takes well under a second. Each call returns a fresh dict, so a
    caller may change it without touching the cache.
    """
    return dict(_null_rates(bool(confirm), float(rho), int(max_seeds), int(n_studies), int(seed)))
