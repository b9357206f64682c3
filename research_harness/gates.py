"""Decision gates of the research workflow, and the evidence level, as code.

Lower val_loss is better; effect sizes are signed so that a positive d means the
experimental arm has the lower loss (see :mod:`research_harness.stats`). Every failing
assertion gate raises :class:`GateError` (an ``AssertionError``, so pytest reports it as
a test failure) with the numbers that decided it and a hint for the fix.

Two questions, answered apart
-----------------------------
**The decision** (:func:`decide`) is the seed workflow's gate on Cohen's d and decides
what runs next: d < 0.2 noise (the idea fails), 0.2 <= d < 0.5 suggestive (run seeds 512
and 1024 on both arms and decide again), d >= 0.5 proceed to a paper. It is kept exactly
as the seed defines it. It is not a test: with no true effect an idea passes it about
a third of the time (:mod:`research_harness.calibration` measures it).

**The evidence level** (:func:`assess`, :func:`evidence_level`) decides what may be
claimed: "confirmed", "preliminary" (passed the gate, not confirmed) or "not supported"
(did not pass the gate). Its choices, all fixed before any data are seen:

* ``ALPHA = 0.05``, one-sided; H1: the experimental arm has the lower val_loss. Only an
  improvement is ever claimed, so the other tail buys nothing.
* The test of a look (:func:`evidence_test`): when both arms hold exactly the same seeds,
  the paired t on per-seed differences decides. Arms that share a seed share its data
  order (and the init of shared weights), so their losses are correlated and the
  differences cancel the shared part. When the seed sets differ (a diverged or missing
  run) no pairing exists and Welch's t decides. Both are computed and kept; only the
  pre-registered one decides, so a report cannot pick the better p.
* Looks: the study looks at 3 seeds, at 5 seeds (only after a suggestive first look) and,
  in confirm mode, at a confirmation seed count. Alpha is split over every look the
  design ALLOWS, not the looks actually taken, by fixed weights (Bonferroni over looks):
  (1/2, 1/2) by default, (1/4, 1/4, 1/2) in confirm mode, where the confirmation look
  gets the largest share because it has the most seeds. Look j is tested at
  ``weight_j * ALPHA`` (before the idea-family correction), so whatever path the data
  take the chance that some look rejects a true null is at most ``ALPHA``. An idea's
  look-adjusted p is ``min_j p_j / weight_j`` (capped at 1); it is below ALPHA exactly
  when some look j has ``p_j < weight_j * ALPHA``.
* The idea family: a study tries up to ``MAX_IDEAS`` = 3 pre-registered ideas and stops
  at the first that proceeds, so the family has 3 members; ideas not tried count with
  p = 1. Holm's step-down adjustment over the 3 is used because it is valid under any
  dependence, and the ideas are dependent: they share the control arm.
* Confirmed: the idea passed the gate AND its Holm-adjusted p < ALPHA AND the one-sided
  lower confidence bound of the mean improvement (nats) at the effective alpha of its
  deciding look, ``weight_j * ALPHA / holm_multiplier``, is > 0. The last condition is
  the same event as the p-value's, stated in the units a paper reports.
* Confirmation seeds (:func:`confirmation_seeds`): when the gate proceeded but the
  evidence is preliminary, confirm mode adds seeds in the fixed order ``SEED_SEQUENCE``
  up to the smallest count whose power at the observed effect reaches 80% at the
  confirmation look's alpha ``weight * ALPHA / MAX_IDEAS`` (Bonferroni, the level a
  first-ranked idea faces), capped at ``max_seeds``.

The simulation in :mod:`research_harness.calibration` runs this exact code path
(vectorized, tested equal to the scalar code) and checks that a confirmed claim arises
at most 5% of the time per study when no idea has an effect.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from enum import Enum
from typing import Iterable, Mapping, Sequence

import numpy as np
from scipy import optimize
from scipy import stats as sps

from research_harness.stats import (
    PairedTest,
    Summary,
    WelchTest,
    cohens_d,
    one_sided_lower_bound,
    paired_t,
    summarize,
    welch_test,
)
from research_harness.workspace import BASELINE_SEEDS, MAX_IDEAS, seed_order

__all__ = [
    "NOISE_BELOW",
    "PROCEED_AT",
    "LOSER_AT",
    "ALPHA",
    "TARGET_POWER",
    "SEED_SEQUENCE",
    "Decision",
    "DECISIONS",
    "GateError",
    "decide",
    "decide_batch",
    "format_effect",
    "assert_within_sigma",
    "assert_valid_variance",
    "peeking_caveat",
    "EvidenceLevel",
    "EvidenceTest",
    "evidence_test",
    "look_weights",
    "look_adjusted_p",
    "idea_p",
    "holm",
    "holm_batch",
    "Evidence",
    "evidence_level",
    "assess",
    "journal_status",
    "verdict_words",
    "confirmation_seeds",
    "confirmation_n_batch",
]

NOISE_BELOW = 0.2  # Cohen's "small" effect: below it the seed workflow calls it noise
PROCEED_AT = 0.5  # Cohen's "medium" effect: the seed workflow proceeds to the paper
LOSER_AT = -0.2  # a small effect in the wrong direction

ALPHA = 0.05  # one-sided family-wise error rate of a confirmed claim, per study
TARGET_POWER = 0.80  # power the confirmation look is sized for
# The order seeds are added in: the workflow's five, then multiples of 1024 (50 in all).
SEED_SEQUENCE = BASELINE_SEEDS + tuple(1024 * k for k in range(2, 47))

_LOOK_WEIGHTS = (0.5, 0.5)  # looks at 3 and 5 seeds
_CONFIRM_LOOK_WEIGHTS = (0.25, 0.25, 0.5)  # looks at 3, 5 and the confirmation seed count


class GateError(AssertionError):
    """A research gate failed; the message carries the numbers and the fix."""


class Decision(str, Enum):
    """Outcome of the Cohen's d gate after the first seeds."""

    NOISE = "noise"
    SUGGESTIVE = "suggestive"
    PROCEED = "proceed"


# Code k of :func:`decide_batch` is DECISIONS[k].
DECISIONS = (Decision.NOISE, Decision.SUGGESTIVE, Decision.PROCEED)


def _finite_or_nan_error(d: float, what: str) -> float:
    d = float(d)
    if math.isnan(d):
        raise ValueError(f"{what}: effect size is NaN; check the runs for missing or non-finite losses")
    return d


def decide(d: float) -> Decision:
    """Seed-workflow gate on Cohen's d of the improvement.

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
    """:func:`decide` elementwise, as int8 codes (0 noise, 1 suggestive, 2 proceed; see ``DECISIONS``).

    For simulating many studies at once; NaN raises ``ValueError`` as in :func:`decide`.
    """
    d = np.asarray(d, dtype=np.float64)
    if np.isnan(d).any():
        raise ValueError(f"decide_batch: effect size is NaN at index {np.argwhere(np.isnan(d))[0].tolist()}; "
                         "check the runs for missing or non-finite losses")
    return np.where(d >= PROCEED_AT, 2, np.where(d >= NOISE_BELOW, 1, 0)).astype(np.int8)


def _sides(x: float) -> tuple[bool, bool, bool]:
    """Which side of each gate threshold x is on, with the comparisons the gates use."""
    return (x >= NOISE_BELOW, x >= PROCEED_AT, x <= LOSER_AT)


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


def assert_within_sigma(
    value: float, baseline_values: Iterable[float], k: float = 1.0, what: str = "val_loss"
) -> float:
    """Assert that ``value`` lies within ``k`` sample sigmas of the baseline mean.

    Returns the absolute distance in baseline sigmas. Note that a fresh run of unchanged
    code passes a 1-sigma check against 5 seeds only about 59% of the time
    (:func:`research_harness.stats.prob_within_k_sigma`), and one of the 5 baseline runs
    itself about 67% (:func:`research_harness.stats.prob_within_k_sigma_in_sample`), so
    report the distance, not just the verdict.
    """
    base = summarize(baseline_values)
    if base.n < 2:
        raise GateError(f"{what}: need at least 2 baseline runs to define sigma, got {base.n}")
    value = float(value)
    if not math.isfinite(value):
        raise GateError(f"{what} = {value!r} is not finite; the run diverged or was not recorded")
    gap = abs(value - base.mean)
    distance = gap / base.std if base.std > 0 else (0.0 if gap == 0 else math.inf)
    if distance > k:
        raise GateError(
            f"{what} {value:.6g} is {distance:.3f} sigma from the baseline mean {base.mean:.6g} "
            f"(std {base.std:.4g}, n={base.n}); allowed k={k:g} sigma. "
            "Fix: check that the idea flag is really off and that seed, config, data and "
            "code match the baseline runs; the flag-off path must equal the baseline path."
        )
    return distance


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
        f"{rates['p_paper']:.1%} of the time: passing the gate is not evidence. The evidence level spends "
        f"alpha = {ALPHA:g} over every look the design allows and over the {MAX_IDEAS} ideas; with no effect a "
        f"study makes a confirmed claim {rates['p_confirmed']:.1%} of the time."
    )


# ---------------------------------------------------------------------------
# The evidence level
# ---------------------------------------------------------------------------


class EvidenceLevel(str, Enum):
    """What may be claimed about an idea (kept apart from the gate's :class:`Decision`)."""

    CONFIRMED = "confirmed"
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


def look_weights(confirm: bool) -> tuple[float, ...]:
    """Pre-registered share of ALPHA for each look the design allows.

    Default mode (3 seeds, 5 seeds): (1/2, 1/2). Confirm mode (3, 5, confirmation):
    (1/4, 1/4, 1/2). The weights sum to 1, so the looks together spend exactly ALPHA.
    """
    return _CONFIRM_LOOK_WEIGHTS if confirm else _LOOK_WEIGHTS


def look_adjusted_p(pvalues: Sequence[float | None], confirm: bool) -> tuple[float, int]:
    """An idea's p adjusted for its looks, and the deciding look's index.

    ``pvalues[j]`` is the p of design look j (0: 3 seeds, 1: 5 seeds, 2: confirmation),
    None for a look not taken. Returns ``(min_j p_j / weight_j capped at 1, argmin j)``.
    """
    weights = look_weights(confirm)
    if len(pvalues) > len(weights):
        raise ValueError(f"{len(pvalues)} looks given, but the design allows {len(weights)} "
                         f"({'confirm' if confirm else 'default'} mode)")
    taken = [(min(1.0, float(p) / w), j) for j, (p, w) in enumerate(zip(pvalues, weights)) if p is not None]
    if not taken:
        raise ValueError("no look was taken")
    for adjusted, j in taken:
        if math.isnan(adjusted):
            raise ValueError(f"look {j} has a NaN p-value")
    return min(taken)


def idea_p(looks: Sequence[tuple[Mapping[int, float], Mapping[int, float]] | None], confirm: bool) -> float:
    """An idea's look-adjusted p from its looks' val_loss by seed (None for a look not
    taken): what it contributes to the Holm family of the study's other ideas."""
    tests = [evidence_test(*look) if look is not None else None for look in looks]
    return look_adjusted_p([t.p if t is not None else None for t in tests], confirm)[0]


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

    ``p_look_adjusted`` is the idea's p over its looks, ``p_family_adjusted`` that p after
    Holm over the study's ideas. ``lower_bound`` is the one-sided (1 - alpha_effective)
    lower confidence bound of the mean improvement in nats at the deciding look
    (``deciding_look``: 0 at 3 seeds, 1 at 5, 2 the confirmation look), by the test
    named in ``decided_by``. ``reason`` says in words why the level was given.
    """

    level: EvidenceLevel
    p_look_adjusted: float
    p_family_adjusted: float
    decided_by: str
    lower_bound: float
    alpha_effective: float
    reason: str
    deciding_look: int


def evidence_level(
    passed_gate: bool,
    p_look_adjusted: float,
    p_family_adjusted: float,
    deciding: EvidenceTest,
    alpha_effective: float,
    deciding_look: int,
) -> Evidence:
    """Grade one idea: "confirmed", "preliminary" or "not supported" (see the module docstring).

    ``deciding`` is the test of the deciding look and ``alpha_effective`` that look's
    share of ALPHA after the family correction; the lower bound is computed from them.
    """
    lower = one_sided_lower_bound(deciding.test, alpha_effective)
    where = f"{deciding.decided_by} at {len(deciding.seeds)} seeds"
    if not passed_gate:
        level = EvidenceLevel.NOT_SUPPORTED
        reason = "did not pass the seed's gate (d >= 0.5 at no look): nothing may be claimed"
    elif p_family_adjusted < ALPHA and lower > 0:
        level = EvidenceLevel.CONFIRMED
        reason = (f"passed the gate; {where}: p adjusted for looks and ideas = {p_family_adjusted:.3g} < {ALPHA:g}, "
                  f"and the improvement is at least {lower:.3g} nats at {1 - alpha_effective:.2%} one-sided "
                  "confidence")
    else:
        level = EvidenceLevel.PRELIMINARY
        reason = (f"passed the seed's gate, not confirmed: {where}, p adjusted for looks and ideas = "
                  f"{p_family_adjusted:.3g} (needs < {ALPHA:g}); one-sided {1 - alpha_effective:.2%} lower bound "
                  f"of the improvement {lower:.3g} nats (needs > 0)")
    return Evidence(level=level, p_look_adjusted=float(p_look_adjusted), p_family_adjusted=float(p_family_adjusted),
                    decided_by=deciding.decided_by, lower_bound=lower, alpha_effective=float(alpha_effective),
                    reason=reason, deciding_look=int(deciding_look))


def assess(
    looks: Sequence[tuple[Mapping[int, float], Mapping[int, float]] | None],
    confirm: bool = False,
    other_ideas_p: Sequence[float] = (),
    passed_gate: bool | None = None,
) -> Evidence:
    """The whole evidence computation for one idea.

    ``looks[j]`` is ``(control, experimental)`` val_loss keyed by seed at design look j
    (0: 3 seeds, 1: 5 seeds, 2: the confirmation look, confirm mode only), None for a
    look not taken. ``other_ideas_p`` are the look-adjusted p of the study's other
    ideas tried so far (at most MAX_IDEAS - 1; untried ideas count as p = 1).
    ``passed_gate`` defaults to the gate's decision on the last look taken.
    """
    tests = [evidence_test(*look) if look is not None else None for look in looks]
    p_look, j = look_adjusted_p([t.p if t is not None else None for t in tests], confirm)
    others = list(other_ideas_p)
    if len(others) > MAX_IDEAS - 1:
        raise ValueError(f"a study has at most {MAX_IDEAS} ideas, got {len(others) + 1}")
    p_family = holm([p_look, *others], MAX_IDEAS)[0]
    # Holm multiplies the idea's p by m minus the number of ideas with a smaller p.
    multiplier = MAX_IDEAS - sum(q < p_look for q in others)
    alpha_effective = look_weights(confirm)[j] * ALPHA / multiplier
    if passed_gate is None:
        last = next(t for t in reversed(tests) if t is not None)
        passed_gate = decide(last.cohens_d) is Decision.PROCEED
    return evidence_level(passed_gate, p_look, p_family, tests[j], alpha_effective, j)


def journal_status(decision: Decision | str, level: EvidenceLevel | str, final: bool = False) -> str:
    """The journal status of an idea after a gate.

    "Validated" only when the evidence is confirmed; "Proceeded (preliminary)" when the
    gate proceeded without confirmation; "Failed" for noise; for suggestive, "Testing"
    after the first look and "Inconclusive" after the final one (``final=True``).
    """
    decision, level = Decision(decision), EvidenceLevel(level)
    if decision is Decision.PROCEED:
        return "Validated" if level is EvidenceLevel.CONFIRMED else "Proceeded (preliminary)"
    if level is EvidenceLevel.CONFIRMED:
        raise ValueError(f"a {decision.value} gate cannot carry confirmed evidence")
    if decision is Decision.NOISE:
        return "Failed"
    return "Inconclusive" if final else "Testing"


def verdict_words(decision: Decision | str, level: EvidenceLevel | str) -> str:
    """The verdict in words: an improvement is claimed only when it is confirmed.

    Replaces the old WINNER / LOSER / NEUTRAL verdict, which read a win off d alone.
    """
    decision, level = Decision(decision), EvidenceLevel(level)
    if level is EvidenceLevel.CONFIRMED:
        if decision is not Decision.PROCEED:
            raise ValueError(f"a {decision.value} gate cannot carry confirmed evidence")
        return "confirmed improvement"
    if level is EvidenceLevel.PRELIMINARY:
        return "preliminary: passed the seed's gate, not confirmed"
    return f"not supported (gate: {decision.value})"


# ---------------------------------------------------------------------------
# Sizing the confirmation look
# ---------------------------------------------------------------------------


def _confirmation_alpha(alpha: float | None) -> float:
    """The confirmation look's alpha: its weight times ALPHA / MAX_IDEAS unless given."""
    alpha = look_weights(True)[-1] * ALPHA / MAX_IDEAS if alpha is None else float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return alpha


def _check_max_seeds(max_seeds: int) -> int:
    if int(max_seeds) != max_seeds or not 2 <= max_seeds <= len(SEED_SEQUENCE):
        raise ValueError(f"max_seeds must be an integer in [2, {len(SEED_SEQUENCE)}], got {max_seeds}")
    return int(max_seeds)


def _confirmation_power(effect, n, alpha: float, paired: bool):
    """Power of the one-sided test at ``n`` seeds per arm and standardized ``effect``.

    Paired: noncentral t with df = n - 1, ncp = d_z sqrt(n). Welch is approximated by
    the two-sample t: df = 2n - 2, ncp = d sqrt(n/2). An infinite positive effect has
    power 1; NaN has none.
    """
    effect = np.asarray(effect, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    df, ncp_per_effect = (n - 1, np.sqrt(n)) if paired else (2 * n - 2, np.sqrt(n / 2))
    with np.errstate(invalid="ignore", over="ignore"):
        power = sps.nct.sf(sps.t.ppf(1 - alpha, df), df, np.where(np.isinf(effect), 0.0, effect) * ncp_per_effect)
    return np.where(np.isinf(effect), np.where(effect > 0, 1.0, 0.0), power)


def confirmation_seeds(
    current_seeds: Sequence[int],
    observed: EvidenceTest,
    max_seeds: int = 10,
    alpha: float | None = None,
) -> list[int]:
    """Seeds to add for the confirmation look, in ``SEED_SEQUENCE`` order.

    The smallest seed count n per arm (current n < n <= max_seeds) whose power at the
    observed effect (``observed.power_effect``: d_z when paired, else d) reaches
    ``TARGET_POWER`` at the confirmation look's alpha (default: its weight times
    ALPHA / MAX_IDEAS); max_seeds when none does (a small or negative effect). Returns
    the seeds to run on both arms, [] when the current seeds already reach max_seeds.
    """
    max_seeds, alpha = _check_max_seeds(max_seeds), _confirmation_alpha(alpha)
    current = list(current_seeds)
    paired = observed.paired is not None
    target = max_seeds
    for n in range(len(current) + 1, max_seeds + 1):
        if _confirmation_power(observed.power_effect, n, alpha, paired) >= TARGET_POWER:
            target = n
            break
    return [s for s in SEED_SEQUENCE if s not in current][: max(0, target - len(current))]


@functools.lru_cache(maxsize=64)
def _effect_for_power(n: int, alpha: float, paired: bool) -> float:
    """The smallest standardized effect whose power reaches TARGET_POWER at ``n`` seeds.

    Power rises with the effect, so "power(effect) >= TARGET_POWER" is "effect >= this";
    the batch version compares against it instead of evaluating the noncentral t for
    every study and seed count.
    """
    def shortfall(effect: float) -> float:
        return float(_confirmation_power(effect, n, alpha, paired)) - TARGET_POWER

    hi = 1.0
    while shortfall(hi) < 0:
        hi *= 2.0
    return float(optimize.brentq(shortfall, 0.0, hi, xtol=1e-14))


def confirmation_n_batch(
    effect: np.ndarray,
    current_n: np.ndarray | int,
    paired: bool = True,
    max_seeds: int = 10,
    alpha: float | None = None,
) -> np.ndarray:
    """:func:`confirmation_seeds` as seed counts per arm, for many studies at once.

    ``effect`` is the observed standardized effect per study and ``current_n`` its
    current seed count. Returns the confirmation look's total seed count; where no seed
    may be added (current_n >= max_seeds) it is current_n itself.
    """
    max_seeds, alpha = _check_max_seeds(max_seeds), _confirmation_alpha(alpha)
    effect = np.asarray(effect, dtype=np.float64)
    current = np.broadcast_to(np.asarray(current_n, dtype=np.int64), effect.shape)
    grid = np.arange(2, max_seeds + 1)
    needed = np.array([_effect_for_power(int(n), alpha, paired) for n in grid])
    enough = (effect[..., None] >= needed) & (grid > current[..., None])
    first = grid[np.argmax(enough, axis=-1)]
    return np.where(current >= max_seeds, current, np.where(enough.any(axis=-1), first, max_seeds))
