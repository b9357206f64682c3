"""The study's flow, written once: a pure state machine over arrays of observations.

A study is up to ``MAX_IDEAS`` ideas, each observed on the seeds ``STUDY_SEEDS`` (the
gate's five, then the confirmation's fresh ones): ``control[s, k, i]`` and
``experimental[s, k, i]`` are val_loss of study s, idea k, seed i, NaN where that run has
not happened (yet). :func:`advance` walks every study through the workflow's flow as far as
its observations allow:

    idea k at 3 seeds: noise -> idea k + 1; proceed -> (confirmation); suggestive ->
    idea k at 5 seeds: proceed -> (confirmation); otherwise idea k + 1.
    The study stops at the first idea that proceeds; with ``confirm`` that idea then needs
    ``n_confirm`` fresh seeds on both arms, and the one-sided paired t on them decides.

and returns, per study, either what it waits for (which idea, which seed columns) or its
outcome. The simulation (:mod:`research_harness.calibration`) calls it with every number
drawn, so every study is done in one call; the A/A phase and the replay of a workflow
study call it with the runs made so far (a batch of one), and run what it asks for next.
Lower val_loss is better; a positive effect means the experimental arm is lower.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from research_harness.gates import ALPHA, decide_batch
from research_harness.stats import cohens_d_batch, paired_p_batch
from research_harness.workspace import ARM_SEEDS, BASELINE_SEEDS, CONFIRMATION_SEEDS, MAX_IDEAS

__all__ = ["STUDY_SEEDS", "WAITING", "DONE", "Step", "advance"]

STUDY_SEEDS = BASELINE_SEEDS + CONFIRMATION_SEEDS  # the seed of each column, in the order they run
N_FIRST, N_GATE = len(ARM_SEEDS), len(BASELINE_SEEDS)  # columns of the first look, and of both gate looks
WAITING, DONE = 0, 1
_PROCEED, _SUGGESTIVE = 2, 1  # codes of decide_batch


@dataclass
class Step:
    """Where each study stands after :func:`advance` (arrays over studies).

    ``state``: WAITING or DONE. A waiting study needs idea ``idea`` observed on columns
    ``cols_from:cols_to`` of both arms. For every study: ``paper_idea`` (the idea that
    proceeded, -1 for none so far), ``gate_d`` (its d at its deciding gate look),
    ``first_look_paper`` (idea 0 proceeded at 3 seeds), ``tried`` (ideas with a first
    look), ``second_look`` (ideas with a second look, bool per idea), ``confirmed``,
    ``not_confirmed``, ``reversed`` (the fresh seeds favour the control), ``fresh_d``.
    """

    state: np.ndarray
    idea: np.ndarray
    cols_from: np.ndarray
    cols_to: np.ndarray
    paper_idea: np.ndarray
    gate_d: np.ndarray
    first_look_paper: np.ndarray
    tried: np.ndarray
    second_look: np.ndarray
    confirmed: np.ndarray
    not_confirmed: np.ndarray
    reversed: np.ndarray
    fresh_d: np.ndarray


def _observed(x: np.ndarray) -> np.ndarray:
    """Whether every value along the last axis has been observed."""
    return np.isfinite(x).all(axis=-1)


def _d(control: np.ndarray, experimental: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Cohen's d where the runs exist (``ok``), NaN elsewhere: unobserved runs never reach the gate."""
    safe = np.where(ok[..., None], 0.0, 1.0)  # any finite stand-in keeps the batch code quiet
    d = cohens_d_batch(np.where(ok[..., None], control, safe), np.where(ok[..., None], experimental, -safe))
    return np.where(ok, d, np.nan)


def advance(control: np.ndarray, experimental: np.ndarray, *, confirm: bool = True, n_confirm: int = 6) -> Step:
    """Every study as far as its observations go (see the module docstring)."""
    control, experimental = np.asarray(control, dtype=np.float64), np.asarray(experimental, dtype=np.float64)
    if control.shape != experimental.shape or control.ndim != 3 or control.shape[1] > MAX_IDEAS:
        raise ValueError(f"control and experimental must be (studies, <= {MAX_IDEAS} ideas, seeds) alike, got "
                         f"{control.shape} and {experimental.shape}")
    n_studies, n_ideas, n_cols = control.shape
    if confirm and not 2 <= n_confirm <= n_cols - N_GATE:
        raise ValueError(f"n_confirm must be in [2, {n_cols - N_GATE}] (the fresh seed columns), got {n_confirm}")
    state = np.full(n_studies, DONE, dtype=np.int8)
    idea = np.full(n_studies, -1)
    cols_from = np.zeros(n_studies, dtype=np.int64)
    cols_to = np.zeros(n_studies, dtype=np.int64)
    paper_idea = np.full(n_studies, -1)
    gate_d = np.full(n_studies, np.nan)
    tried = np.zeros((n_studies, n_ideas), dtype=bool)
    second_look = np.zeros((n_studies, n_ideas), dtype=bool)
    first_look_paper = np.zeros(n_studies, dtype=bool)
    running = np.ones(n_studies, dtype=bool)  # neither waiting nor past the last idea nor proceeded

    def wait(mask: np.ndarray, k: int, lo: int, hi: int) -> None:
        state[mask], idea[mask], cols_from[mask], cols_to[mask] = WAITING, k, lo, hi
        running[mask] = False

    both = lambda lo, hi: _observed(control[:, :, lo:hi]) & _observed(experimental[:, :, lo:hi])  # noqa: E731
    seen_first, seen_gate = both(0, N_FIRST), both(0, N_GATE)
    for k in range(n_ideas):
        wait(running & ~seen_first[:, k], k, 0, N_FIRST)
        tried[:, k] = running
        d1 = _d(control[:, k, :N_FIRST], experimental[:, k, :N_FIRST], running)
        gate1 = decide_batch(np.nan_to_num(d1, nan=-np.inf))
        if k == 0:
            first_look_paper = running & (gate1 == _PROCEED)
        second = running & (gate1 == _SUGGESTIVE)
        wait(second & ~seen_gate[:, k], k, N_FIRST, N_GATE)
        second &= running
        second_look[:, k] = second
        d2 = _d(control[:, k, :N_GATE], experimental[:, k, :N_GATE], second)
        gate2 = decide_batch(np.nan_to_num(d2, nan=-np.inf))
        proceed = running & ((gate1 == _PROCEED) | (second & (gate2 == _PROCEED)))
        paper_idea[proceed] = k
        gate_d[proceed] = np.where(second, d2, d1)[proceed]
        running &= ~proceed

    confirmed = np.zeros(n_studies, dtype=bool)
    not_confirmed = np.zeros(n_studies, dtype=bool)
    reversed_ = np.zeros(n_studies, dtype=bool)
    fresh_d = np.full(n_studies, np.nan)
    rows = np.flatnonzero((paper_idea >= 0) & (state == DONE))
    if confirm and rows.size:
        fresh = slice(N_GATE, N_GATE + n_confirm)
        c = control[rows, paper_idea[rows], fresh]
        e = experimental[rows, paper_idea[rows], fresh]
        seen = _observed(c) & _observed(e)
        waiting = rows[~seen]
        state[waiting], idea[waiting] = WAITING, paper_idea[waiting]
        cols_from[waiting], cols_to[waiting] = N_GATE, N_GATE + n_confirm
        rows, c, e = rows[seen], c[seen], e[seen]
        confirmed[rows] = paired_p_batch(c, e) < ALPHA
        not_confirmed[rows] = ~confirmed[rows]
        reversed_[rows] = ~confirmed[rows] & ((c - e).mean(axis=-1) < 0)
        fresh_d[rows] = cohens_d_batch(c, e)
    return Step(state=state, idea=idea, cols_from=cols_from, cols_to=cols_to, paper_idea=paper_idea, gate_d=gate_d,
                first_look_paper=first_look_paper, tried=tried, second_look=second_look, confirmed=confirmed,
                not_confirmed=not_confirmed, reversed=reversed_, fresh_d=fresh_d)
