"""Decision gates of the research workflow, and the evidence level, as code.

Lower val_loss is better; effect sizes are signed so that a positive d means the
experimental arm has the lower loss (see :mod:`research_harness.stats`). Every failing
assertion gate raises :class:`GateError` (an ``AssertionError``, so pytest reports it as
a test failure) with the numbers that decided it and a hint for the fix.

Two questions, answered apart
-----------------------------
**The decision** (:func:`decide`) is the workflow's gate on Cohen's d and decides
what runs next: d < 0.2 noise (the idea fails), 0.2 <= d < 0.5 suggestive (run seeds 512
and 1024 on both arms and decide again), d >= 0.5 proceed to a paper. It is kept exactly
as the workflow defines it. It is not a test: with no true effect an idea passes it about
a third of the time (:mod:`research_harness.calibration` measures it).

**The evidence level** (:func:`assess`, :func:`evidence_level`) decides what may be
claimed: "confirmed", "not confirmed" (the confirmation ran and did not confirm; a
reversed effect is said to be reversed), "preliminary" (passed the gate, no
confirmation: pending, or skipped with --research-no-confirm) or "not supported" (did
not pass the gate). Its choices, all fixed before any data are seen:

* The gate's seeds are exploratory. They chose the idea, so a test on them is biased
  by that choice; they never enter the confirmatory test.
* Confirmation (the default): when the gate proceeds, the idea and the baseline run on
  fresh seeds (``CONFIRMATION_SEEDS``, disjoint from the gate's and the A/A phase's).
  How many is fixed before any of them trains (:func:`confirmation_size`): the
  smallest n in [MIN_CONFIRM_SEEDS, max] giving TARGET_POWER for the one-sided paired t
  at ALPHA at the plan's pre-registered expected effect (the refine step's
  ``expected_effect.sigmas``, else the catalogue's prior), sized for independent arms.
* Confirmed: the one-sided paired t on the fresh seeds (Welch when a run diverged and
  the seed sets differ) has p < ``ALPHA`` = 0.05, which is the same event as its
  one-sided 95% lower bound of the mean improvement being > 0. A study stops at the
  first idea whose gate proceeds, so it runs at most one confirmation: one
  confirmatory test per study, and no correction over looks or ideas is needed. With
  no true effect a study is confirmed at most ALPHA of the time whatever the gate did.
* Beside a preliminary result the exploratory p is reported, corrected for the gate's
  two looks (alpha split 1/2, 1/2) and by Holm over the study's ``MAX_IDEAS`` ideas; it
  describes, it never confirms.

The flow that strings these together (slots, looks, stop at the first idea that proceeds,
confirmation) is written once, in :mod:`research_harness.engine`; the simulation in
:mod:`research_harness.calibration` runs it on drawn numbers and checks that a confirmed
claim arises at most 5% of the time per study when no idea has an effect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Iterable, Mapping, Sequence

import numpy as np

from research_harness.stats import (
    PairedTest,
    Summary,
    WelchTest,
    cohens_d,
    improvement_interval,
    one_sided_lower_bound,
    paired_t,
    seeds_for_power,
    summarize,
    t_test_power,
    welch_test,
)
from research_harness.workspace import (
    CONFIRMATION_SEEDS,
    MAX_CONFIRM_SEEDS,
    MAX_IDEAS,
    MIN_CONFIRM_SEEDS,
    seed_order,
)

__all__ = [
    "NOISE_BELOW",
    "PROCEED_AT",
    "HURT_AT",
    "ALPHA",
    "TARGET_POWER",
    "Decision",
    "GateError",
    "decide",
    "decide_batch",
    "format_effect",
    "assert_valid_variance",
    "peeking_caveat",
    "EvidenceLevel",
    "EvidenceTest",
    "evidence_test",
    "Reading",
    "read_look",
    "look_weights",
    "look_adjusted_p",
    "CONFIRMATION_LOOK",
    "idea_p",
    "holm",
    "holm_batch",
    "Evidence",
    "evidence_level",
    "assess",
    "journal_status",
    "verdict_words",
    "confirmation_power",
    "confirmation_size",
    "planned_dz",
]

NOISE_BELOW = 0.2  # Cohen's "small" effect: below it the workflow calls it noise
PROCEED_AT = 0.5  # Cohen's "medium" effect: the workflow proceeds to the paper
HURT_AT = -0.2  # a small effect in the wrong direction (printed d never crosses it; "it hurt" is read from the interval: read_look)

ALPHA = 0.05  # one-sided family-wise error rate of a confirmed claim, per study
TARGET_POWER = 0.80  # power the confirmation is sized for, at its planned effect
SIZING_RHO = 0.0  # the arms' correlation the sizing assumes (unknown before; shared seeds only raise it)

_LOOK_WEIGHTS = (0.5, 0.5)  # the exploratory looks at 3 and 5 seeds (descriptive p only)


class GateError(AssertionError):
    """A research gate failed; the message carries the numbers and the fix."""


class Decision(str, Enum):
    """Outcome of the Cohen's d gate after the first seeds."""

    NOISE = "noise"
    SUGGESTIVE = "suggestive"
    PROCEED = "proceed"


def _finite_or_nan_error(d: float, what: str) -> float:
    d = float(d)
    if math.isnan(d):
        raise ValueError(f"{what}: effect size is NaN; check the runs for missing or non-finite losses")
    return d


def decide(d: float) -> Decision:
    """The workflow's gate on Cohen's d of the improvement.

    d < 0.2 (including any negative d): NOISE, the idea fails; 0.2 <= d < 0.5:
    SUGGESTIVE, run more seeds and decide again; d >= 0.5: PROCEED. NaN raises
    ``ValueError``.
    """
    d = _finite_or_nan_error(d, "decide")
    if d >= PROCEED_AT:
        return Decision.PROCEED
    if d >= NOISE_BELOW:
        return Decision.SUGGESTIVE
    return Decision.NOISE


def decide_batch(d: np.ndarray) -> np.ndarray:
    """:func:`decide` elementwise, as int8 codes (0 noise, 1 suggestive, 2 proceed).

    For simulating many studies at once; NaN raises ``ValueError`` as in :func:`decide`.
    """
    d = np.asarray(d, dtype=np.float64)
    if np.isnan(d).any():
        raise ValueError(f"decide_batch: effect size is NaN at index {np.argwhere(np.isnan(d))[0].tolist()}; "
                         "check the runs for missing or non-finite losses")
    return np.where(d >= PROCEED_AT, 2, np.where(d >= NOISE_BELOW, 1, 0)).astype(np.int8)


def _sides(x: float) -> tuple[bool, bool, bool]:
    """Which side of each gate threshold x is on, with the comparisons the gates use."""
    return (x >= NOISE_BELOW, x >= PROCEED_AT, x <= HURT_AT)


def format_effect(d: float) -> str:
    """d as text that never lands on the other side of a gate threshold than d itself.

    Two decimals, unless rounding would move the printed number across 0.2, 0.5 or -0.2
    (0.496 would print as "0.50", a "proceed" for a suggestive d); then decimals are
    added, up to 6, until the text is on d's side ("0.496", "0.1999"), and past 6 the
    shortest exact form (``repr``) is used. inf prints as "inf", NaN as "n/a".
    """
    d = float(d)
    if math.isnan(d):
        return "n/a"
    if math.isinf(d):
        return "inf" if d > 0 else "-inf"
    for decimals in range(2, 7):
        text = f"{d:.{decimals}f}"
        if _sides(float(text)) == _sides(d):
            return text
    return repr(d)


def assert_valid_variance(values: Iterable[float], n: int = 5, what: str = "val_loss") -> Summary:
    """Assert exactly ``n`` finite values with a positive sample std; return their Summary.

    Zero spread across seeds means the seed did not reach the model or the data
    order, so the runs are copies, not replicates.
    """
    raw = list(values)
    if len(raw) != n:
        raise GateError(f"{what}: expected exactly {n} runs, got {len(raw)}: {raw}")
    try:
        s = summarize(raw)
    except ValueError as exc:
        raise GateError(f"{what}: {exc}; values: {raw}") from exc
    if not s.std > 0:
        raise GateError(
            f"{what}: std across {s.n} runs is {s.std:.4g} (mean {s.mean:.6g}, values {raw}); "
            "Fix: make the seed set model init and data order, or the runs are identical copies."
        )
    return s


def peeking_caveat(rates: Mapping[str, float]) -> str:
    """The caveat for a second look at the data, worded from measured null rates.

    Print it only when a second look was actually taken (seeds 512 and 1024 were run
    after a suggestive d), not for an idea decided at 3 seeds. ``rates`` is the summary
    of :func:`research_harness.calibration.null_rates` (no true effect): it needs the
    keys ``rho``, ``p_paper_first_look_per_idea``, ``p_paper_per_idea``, ``p_paper`` and
    ``p_confirmed``. The familiar "6.9% instead of 5%" is the figure for repeated p-value
    tests; the gate uses Cohen's d, so its own figures are quoted instead.
    """
    return (
        "Seeds were added after a first look at the result (3 seeds per arm, then 5 because d was suggestive). "
        "The gate uses Cohen's d, not a p-value, so the usual 'two looks give 6.9% instead of 5%' does not "
        f"describe it. Simulated with no true effect (between-arm correlation {rates['rho']:g}), an idea "
        f"reaches the paper {rates['p_paper_first_look_per_idea']:.1%} of the time on the first look alone and "
        f"{rates['p_paper_per_idea']:.1%} with the second look, and a study of {MAX_IDEAS} ideas writes a paper "
        f"{rates['p_paper']:.1%} of the time: passing the gate is not evidence. Only a confirmation on fresh seeds "
        f"the gate never saw (one-sided paired t at alpha = {ALPHA:g}) confirms; with no effect a study makes a "
        f"confirmed claim {rates['p_confirmed']:.1%} of the time."
    )


# ---------------------------------------------------------------------------
# The evidence level
# ---------------------------------------------------------------------------


class EvidenceLevel(str, Enum):
    """What may be claimed about an idea (kept apart from the gate's :class:`Decision`)."""

    CONFIRMED = "confirmed"
    NOT_CONFIRMED = "not confirmed"
    PRELIMINARY = "preliminary"
    NOT_SUPPORTED = "not supported"


@dataclass(frozen=True)
class EvidenceTest:
    """Both tests of one look at the data; the pre-registered one decides.

    ``paired`` is None when the arms do not hold the same seeds. ``seeds`` are the seeds
    of the look (both arms together), ``cohens_d`` is the gate's effect size on them.
    """

    seeds: tuple[int, ...]
    paired: PairedTest | None
    welch: WelchTest
    cohens_d: float

    @property
    def decided_by(self) -> str:
        return "paired t" if self.paired is not None else "Welch t"

    @property
    def test(self) -> PairedTest | WelchTest:
        """The deciding test."""
        return self.paired if self.paired is not None else self.welch

    @property
    def p(self) -> float:
        """The deciding one-sided p-value."""
        return self.test.p_one_sided

    @property
    def power_effect(self) -> float:
        """The standardized effect the deciding test's power depends on: d_z paired, else d."""
        return self.paired.d_z if self.paired is not None else self.cohens_d


def evidence_test(control: Mapping[int, float], experimental: Mapping[int, float]) -> EvidenceTest:
    """The pre-registered test of one look, from val_loss keyed by seed.

    When both arms hold exactly the same seeds (at least 2) the paired t on per-seed
    differences decides; otherwise Welch's t does. Both are returned.
    """
    if len(control) < 2 or len(experimental) < 2:
        raise ValueError(f"each arm needs at least 2 seeds, got control {sorted(control)} and "
                         f"experimental {sorted(experimental)}")
    c_seeds = sorted(control, key=seed_order)
    e_seeds = sorted(experimental, key=seed_order)
    c = [control[s] for s in c_seeds]
    e = [experimental[s] for s in e_seeds]
    return EvidenceTest(
        seeds=tuple(sorted(set(c_seeds) | set(e_seeds), key=seed_order)),
        paired=paired_t(c, e) if c_seeds == e_seeds else None,
        welch=welch_test(c, e),
        cohens_d=cohens_d(c, e),
    )


class Reading(str, Enum):
    """What a look's seeds show about the improvement, apart from the gate's decision.

    The gate decides on Cohen's d with the pooled spread between seeds; the arms share
    seeds, so a small but consistent difference can sit below the d threshold, and a
    clear loss is "noise" to the gate as much as a null one. The reading says which: from
    the two-sided 95% interval of the mean improvement on these (exploratory) seeds.
    """

    HURT = "hurt"  # the whole interval below zero: val_loss clearly rose
    CONSISTENT = "consistent"  # the whole interval above zero: a consistent improvement
    UNCLEAR = "unclear"  # the interval holds zero


READING_CONFIDENCE = 0.95


def read_look(test: EvidenceTest) -> tuple[Reading, tuple[float, float]]:
    """The :class:`Reading` of one look and the interval it rests on (nats; positive = improvement)."""
    lo, hi = improvement_interval(test.test, READING_CONFIDENCE)
    if hi < 0:
        return Reading.HURT, (lo, hi)
    if lo > 0:
        return Reading.CONSISTENT, (lo, hi)
    return Reading.UNCLEAR, (lo, hi)


def look_weights() -> tuple[float, ...]:
    """Pre-registered share of alpha for each exploratory look (3 seeds, 5 seeds): (1/2, 1/2).

    They weight the exploratory p reported beside a preliminary result (corrected for the
    gate's two looks and, by Holm, the study's ideas). That p never confirms anything:
    only the confirmation on fresh seeds does.
    """
    return _LOOK_WEIGHTS


def look_adjusted_p(pvalues: Sequence[float | None]) -> tuple[float, int]:
    """An idea's exploratory p adjusted for the gate's looks, and the deciding look's index.

    ``pvalues[j]`` is the p of exploratory look j (0: 3 seeds, 1: 5 seeds), None for a
    look not taken. Returns ``(min_j p_j / weight_j capped at 1, argmin j)``.
    """
    weights = look_weights()
    if len(pvalues) > len(weights):
        raise ValueError(f"{len(pvalues)} exploratory looks given, but the gate allows {len(weights)}")
    taken = [(min(1.0, float(p) / w), j) for j, (p, w) in enumerate(zip(pvalues, weights)) if p is not None]
    if not taken:
        raise ValueError("no look was taken")
    for adjusted, j in taken:
        if math.isnan(adjusted):
            raise ValueError(f"look {j} has a NaN p-value")
    return min(taken)


def idea_p(looks: Sequence[tuple[Mapping[int, float], Mapping[int, float]] | None]) -> float:
    """An idea's look-adjusted exploratory p from its gate looks' val_loss by seed (None for a
    look not taken; a confirmation look, if given, is ignored): its member of the Holm family."""
    tests = [evidence_test(*look) if look is not None else None for look in looks[:len(_LOOK_WEIGHTS)]]
    return look_adjusted_p([t.p if t is not None else None for t in tests])[0]


def _check_family(pvalues: Sequence[float], m: int | None) -> tuple[list[float], int]:
    p = [float(x) for x in pvalues]
    m = len(p) if m is None else int(m)
    if m < len(p):
        raise ValueError(f"the family has {m} members but {len(p)} p-values were given")
    for x in p:
        if not 0.0 <= x <= 1.0:
            raise ValueError(f"p-values must lie in [0, 1], got {x!r}")
    return p, m


def holm(pvalues: Sequence[float], m: int | None = None) -> tuple[float, ...]:
    """Holm step-down adjusted p-values of a family of ``m`` members (default: as many as given).

    Members not given (``m > len(pvalues)``, e.g. ideas not tried) count with p = 1. The
    i-th smallest p (i from 1) is multiplied by ``m - i + 1``, a running maximum keeps the
    adjusted values in the order of the raw ones, and everything is capped at 1.
    Rejecting where the adjusted p < alpha controls the family-wise error at alpha under
    any dependence between the tests.
    """
    p, m = _check_family(pvalues, m)
    adjusted = [0.0] * len(p)
    running = 0.0
    for rank, i in enumerate(sorted(range(len(p)), key=lambda i: p[i])):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return tuple(adjusted)


def holm_batch(pvalues: np.ndarray, m: int | None = None) -> np.ndarray:
    """:func:`holm` along the last axis (one family per row); members not given count with p = 1."""
    p = np.asarray(pvalues, dtype=np.float64)
    k = p.shape[-1]
    m = k if m is None else int(m)
    if m < k:
        raise ValueError(f"the family has {m} members but {k} p-values were given")
    order = np.argsort(p, axis=-1, kind="stable")
    ranked = np.minimum(1.0, np.take_along_axis(p, order, axis=-1) * (m - np.arange(k)))
    adjusted = np.empty_like(p)
    np.put_along_axis(adjusted, order, np.maximum.accumulate(ranked, axis=-1), axis=-1)
    return adjusted


@dataclass(frozen=True)
class Evidence:
    """The evidence level of an idea and the numbers behind it.

    After a confirmation (``deciding_look`` 2) the numbers are the confirmation's own, on
    fresh seeds: ``p_look_adjusted`` = ``p_family_adjusted`` = its one-sided p (one
    confirmatory test per study: nothing to correct), ``alpha_effective`` = ALPHA and
    ``lower_bound`` the one-sided (1 - ALPHA) lower bound of the mean improvement in nats.
    Before or without one they are exploratory: p over the gate's looks, then Holm over
    the study's ideas, and the bound at that corrected level (descriptive only: the
    gate's seeds were selected by the gate). ``effect_nats`` is the deciding look's mean
    improvement (negative: the experimental arm was worse). ``reason`` says why in words.
    """

    level: EvidenceLevel
    p_look_adjusted: float
    p_family_adjusted: float
    decided_by: str
    lower_bound: float
    alpha_effective: float
    reason: str
    deciding_look: int
    effect_nats: float = math.nan

    @property
    def confirmation(self) -> bool:
        """Whether the numbers come from the confirmation on fresh seeds."""
        return self.deciding_look == CONFIRMATION_LOOK

    @property
    def reversed(self) -> bool:
        """A confirmation whose fresh seeds favour the control arm."""
        return self.confirmation and self.effect_nats < 0


CONFIRMATION_LOOK = 2  # the index of the confirmation look in an entry's looks


def evidence_level(passed_gate: bool, confirm: bool, exploratory: tuple, confirmation: EvidenceTest | None) -> Evidence:
    """Grade one idea (see the module docstring).

    ``exploratory`` is ``(p_look_adjusted, p_family_adjusted, deciding EvidenceTest,
    alpha_effective, look index)`` of the gate's looks; ``confirmation`` the test on the
    fresh seeds, None when none ran.
    """
    p_look, p_family, deciding, alpha_effective, j = exploratory
    if passed_gate and confirmation is not None:
        test = confirmation.test
        lower = one_sided_lower_bound(test, ALPHA)
        where = f"{confirmation.decided_by} on {len(confirmation.seeds)} fresh seeds"
        if confirmation.p < ALPHA and lower > 0:
            level = EvidenceLevel.CONFIRMED
            reason = (f"passed the gate, then confirmed on fresh seeds: {where}, one-sided p = {confirmation.p:.3g} "
                      f"< {ALPHA:g}; the one-sided {1 - ALPHA:.0%} lower confidence bound of the improvement is "
                      f"{lower:.3g} nats")
        else:
            level = EvidenceLevel.NOT_CONFIRMED
            what = ("the effect reversed: the experimental arm was worse on the fresh seeds"
                    if test.mean_diff < 0 else "the effect was not confirmed on the fresh seeds")
            reason = (f"passed the gate, but {what} ({where}: mean improvement {test.mean_diff:+.3g} nats, one-sided "
                      f"p = {confirmation.p:.3g}, needs < {ALPHA:g}; {1 - ALPHA:.0%} lower bound {lower:.3g} nats)")
        return Evidence(level=level, p_look_adjusted=float(confirmation.p), p_family_adjusted=float(confirmation.p),
                        decided_by=confirmation.decided_by, lower_bound=lower, alpha_effective=ALPHA, reason=reason,
                        deciding_look=CONFIRMATION_LOOK, effect_nats=float(test.mean_diff))
    lower = one_sided_lower_bound(deciding.test, alpha_effective)
    where = f"{deciding.decided_by} at {len(deciding.seeds)} seeds"
    if not passed_gate:
        level = EvidenceLevel.NOT_SUPPORTED
        reason = f"did not pass the workflow's gate (d >= {PROCEED_AT:g} at no look): nothing may be claimed"
    else:
        level = EvidenceLevel.PRELIMINARY
        why = ("the confirmation on fresh seeds has not run yet" if confirm else
               "confirmation was skipped (--research-no-confirm), so passing the gate is all there is")
        reason = (f"passed the workflow's gate, not confirmed: {why}. Exploratory {where}: p adjusted for looks and ideas "
                  f"= {p_family:.3g}; the gate selected these seeds, so this p is descriptive, not a test")
    return Evidence(level=level, p_look_adjusted=float(p_look), p_family_adjusted=float(p_family),
                    decided_by=deciding.decided_by, lower_bound=lower, alpha_effective=float(alpha_effective),
                    reason=reason, deciding_look=int(j), effect_nats=float(deciding.test.mean_diff))


def assess(
    looks: Sequence[tuple[Mapping[int, float], Mapping[int, float]] | None],
    confirm: bool = True,
    other_ideas_p: Sequence[float] = (),
    passed_gate: bool | None = None,
) -> Evidence:
    """The whole evidence computation for one idea.

    ``looks[j]`` is ``(control, experimental)`` val_loss keyed by seed at look j (0: 3
    seeds, 1: 5 seeds, 2: the confirmation on fresh seeds), None for a look not taken.
    ``confirm`` is the study's design (False: --research-no-confirm). ``other_ideas_p``
    are the exploratory look-adjusted p of the study's other ideas tried so far (at most
    MAX_IDEAS - 1; untried ideas count as p = 1). ``passed_gate`` defaults to the gate's
    decision on the last exploratory look taken.
    """
    if len(looks) > CONFIRMATION_LOOK + 1:
        raise ValueError(f"{len(looks)} looks given; a study has at most {CONFIRMATION_LOOK + 1}")
    confirmation = looks[CONFIRMATION_LOOK] if len(looks) > CONFIRMATION_LOOK else None
    if confirmation is not None and not confirm:
        raise ValueError("a confirmation look in a study designed without confirmation (--research-no-confirm)")
    tests = [evidence_test(*look) if look is not None else None for look in looks[:CONFIRMATION_LOOK]]
    p_look, j = look_adjusted_p([t.p if t is not None else None for t in tests])
    others = list(other_ideas_p)
    if len(others) > MAX_IDEAS - 1:
        raise ValueError(f"a study has at most {MAX_IDEAS} ideas, got {len(others) + 1}")
    p_family = holm([p_look, *others], MAX_IDEAS)[0]
    # Holm multiplies the idea's p by m minus the number of ideas with a smaller p.
    multiplier = MAX_IDEAS - sum(q < p_look for q in others)
    alpha_effective = look_weights()[j] * ALPHA / multiplier
    if passed_gate is None:
        last = next(t for t in reversed(tests) if t is not None)
        passed_gate = decide(last.cohens_d) is Decision.PROCEED
    return evidence_level(passed_gate, confirm, (p_look, p_family, tests[j], alpha_effective, j),
                          evidence_test(*confirmation) if confirmation is not None else None)


def journal_status(decision: Decision | str, level: EvidenceLevel | str, final: bool = False) -> str:
    """The journal status of an idea after a gate or its confirmation, from the one table
    of words (:mod:`research_harness.vocabulary`): "Validated" only when confirmed on fresh
    seeds, "Not confirmed" when the confirmation ran and did not confirm, "Proceeded
    (preliminary)" when the gate proceeded with no confirmation; "Failed" for noise; for
    suggestive, "Testing" after the first look and "Inconclusive" after the final one.
    """
    from research_harness.vocabulary import DECISIONS, LEVELS  # noqa: PLC0415 - it imports this module's enums

    decision, level = Decision(decision), EvidenceLevel(level)
    if decision is Decision.PROCEED:
        status = LEVELS[level].status
        if status is None:
            raise ValueError(f"a proceeding gate cannot carry {level.value} evidence")
        return status
    if level in (EvidenceLevel.CONFIRMED, EvidenceLevel.NOT_CONFIRMED):
        raise ValueError(f"a {decision.value} gate cannot carry {level.value} evidence")
    return DECISIONS[decision][1 if final else 0]


def verdict_words(decision: Decision | str, level: EvidenceLevel | str, reversed_: bool = False) -> str:
    """The verdict in words (from :mod:`research_harness.vocabulary`): an improvement is
    claimed only when confirmed on fresh seeds."""
    from research_harness.vocabulary import LEVELS  # noqa: PLC0415

    decision, level = Decision(decision), EvidenceLevel(level)
    if level in (EvidenceLevel.CONFIRMED, EvidenceLevel.NOT_CONFIRMED) and decision is not Decision.PROCEED:
        raise ValueError(f"a {decision.value} gate cannot carry {level.value} evidence")
    words = LEVELS[level]
    if level is EvidenceLevel.NOT_SUPPORTED:
        return f"{words.verdict} (gate: {decision.value})"
    return words.verdict_reversed if reversed_ and words.verdict_reversed else words.verdict


# ---------------------------------------------------------------------------
# Sizing the confirmation, before any of its runs trains
# ---------------------------------------------------------------------------


def confirmation_power(planned_dz: float, n: int) -> float:
    """Power of the confirmation's test, the one-sided paired t at ALPHA with ``n`` pairs,
    at true d_z ``planned_dz`` (:func:`research_harness.stats.t_test_power`, paired)."""
    return t_test_power(planned_dz, n, ALPHA, paired=True)


def planned_dz(planned_sigmas: float) -> float:
    """The paired d_z the sizing plans for, from an improvement in baseline sigmas.

    The arms' correlation is not known before the confirmation, so the sizing assumes
    independent arms (rho = ``SIZING_RHO`` = 0): sd of a difference sigma sqrt(2). Seeds
    shared by both arms correlate them positively, which only raises the real power.
    """
    return float(planned_sigmas) / math.sqrt(2.0 * (1.0 - SIZING_RHO))


def confirmation_size(planned_sigmas: float | None, max_seeds: int = MAX_CONFIRM_SEEDS) -> tuple[int, str]:
    """How many fresh seeds per arm the confirmation runs, and why, fixed before any trains.

    The smallest n in [MIN_CONFIRM_SEEDS, max_seeds] whose power (one-sided paired t at
    ALPHA, :func:`confirmation_power`) at the planned effect reaches TARGET_POWER; max_seeds
    when none does (a small, zero or unknown planned effect).
    """
    if int(max_seeds) != max_seeds or not MIN_CONFIRM_SEEDS <= max_seeds <= len(CONFIRMATION_SEEDS):
        raise ValueError(f"max_seeds must be an integer in [{MIN_CONFIRM_SEEDS}, {len(CONFIRMATION_SEEDS)}], "
                         f"got {max_seeds}")
    max_seeds = int(max_seeds)
    if planned_sigmas is None or not math.isfinite(planned_sigmas) or planned_sigmas <= 0:
        return max_seeds, (f"no positive planned effect ({planned_sigmas}), so the most seeds allowed, {max_seeds}, "
                           "per arm")
    dz = planned_dz(planned_sigmas)
    smallest = seeds_for_power(dz, ALPHA, TARGET_POWER, max_n=max_seeds, paired=True)
    n = max_seeds if smallest is None else max(smallest, MIN_CONFIRM_SEEDS)
    why = (f"planned effect {planned_sigmas:.3g} baseline sigma (d_z {dz:.3g} for independent arms): "
           f"{n} seeds per arm give {confirmation_power(dz, n):.0%} power for the one-sided paired t at alpha "
           f"{ALPHA:g}")
    if smallest is None:
        why += f" (short of {TARGET_POWER:.0%}: capped at the most seeds allowed, {max_seeds})"
    elif smallest < MIN_CONFIRM_SEEDS:
        why += f" (the minimum of {MIN_CONFIRM_SEEDS})"
    return n, why
