"""Decision gates of the research workflow, as code.

Lower val_loss is better; effect sizes are signed so that a positive d means the
experimental arm has the lower loss (see :mod:`research_harness.stats`). Every failing
gate raises :class:`GateError` (an ``AssertionError``, so pytest reports it as a test
failure) with the numbers that decided it and a hint for the fix.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Iterable

import numpy as np
from scipy import stats as sps

from research_harness.stats import Summary, summarize

__all__ = [
    "NOISE_BELOW",
    "PROCEED_AT",
    "LOSER_AT",
    "Decision",
    "GateError",
    "decide",
    "verdict",
    "assert_within_sigma",
    "assert_valid_variance",
    "PEEKING_CAVEAT",
    "sequential_false_positive_rate",
]

NOISE_BELOW = 0.2  # Cohen's "small" effect: below it the seed workflow calls it noise
PROCEED_AT = 0.5  # Cohen's "medium" effect: the seed workflow proceeds to the paper
LOSER_AT = -0.2  # a small effect in the wrong direction


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


def verdict(d: float) -> str:
    """Return "WINNER" if d >= 0.5, "LOSER" if d <= -0.2, else "NEUTRAL"; NaN raises ``ValueError``."""
    d = _finite_or_nan_error(d, "verdict")
    if d >= PROCEED_AT:
        return "WINNER"
    if d <= LOSER_AT:
        return "LOSER"
    return "NEUTRAL"


def assert_within_sigma(
    value: float, baseline_values: Iterable[float], k: float = 1.0, what: str = "val_loss"
) -> float:
    """Assert that ``value`` lies within ``k`` sample sigmas of the baseline mean.

    Returns the absolute distance in baseline sigmas. Note that unchanged code passes
    a 1-sigma check against 5 seeds only about 59% of the time
    (:func:`research_harness.stats.prob_within_k_sigma`), so report the distance,
    not just the verdict.
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


PEEKING_CAVEAT = (
    "Adding seeds after looking at the result (testing at 3 seeds and again at 5) "
    "inflates false positives: at alpha 0.05 the two looks reject a true null about "
    "6.9% of the time, not 5%, so p-values and effect sizes after a second look are "
    "optimistic."
)


def sequential_false_positive_rate(
    n_first: int = 3,
    n_second: int = 5,
    alpha: float = 0.05,
    sims: int = 20_000,
    seed: int = 0,
    alternative: str = "greater",
) -> float:
    """Monte Carlo false positive rate of "test at n_first, test again at n_second".

    Both arms are drawn from the same Normal distribution (a true null); a false
    positive is a Welch p < alpha at either look, the second look reusing the first
    runs plus new ones. Deterministic for a given ``seed`` (numpy Generator). With the
    default one-sided Welch test it is about 0.070 (two-sided: about 0.068).
    """
    if not 2 <= n_first < n_second:
        raise ValueError(f"need 2 <= n_first < n_second, got {n_first}, {n_second}")
    rng = np.random.default_rng(seed)
    control = rng.standard_normal((sims, n_second))
    experimental = rng.standard_normal((sims, n_second))

    def pvalues(n: int) -> np.ndarray:
        return sps.ttest_ind(control[:, :n], experimental[:, :n], axis=1,
                             equal_var=False, alternative=alternative).pvalue

    rejected = (pvalues(n_first) < alpha) | (pvalues(n_second) < alpha)
    return float(np.mean(rejected))
