"""Small-sample statistics for comparing training runs.

Conventions used throughout
---------------------------
* Lower is better: every value is a loss (val_loss in nats).
* "control" is the baseline arm, "experimental" the arm with the idea switched on.
  Every signed quantity is oriented so that a POSITIVE value means the experimental
  arm has the LOWER loss (an improvement): ``delta = mean(control) - mean(experimental)``.
* Sample standard deviations use the n-1 (Bessel) denominator.
* Inputs are 1-D sequences of finite floats; anything else raises ``ValueError``
  naming the offending value, because a NaN loss must never be averaged silently.

Only numpy and scipy are used, so the module is safe to import without torch.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from scipy import optimize, special
from scipy import stats as sps

__all__ = [
    "Summary",
    "summarize",
    "cohens_d",
    "hedges_correction",
    "hedges_g",
    "effect_size_ci",
    "WelchTest",
    "welch_test",
    "PairedTest",
    "paired_t",
    "one_sided_lower_bound",
    "improvement_interval",
    "cohens_d_batch",
    "paired_p_batch",
    "paired_dz_batch",
    "t_test_power",
    "seeds_for_power",
    "minimum_detectable_effect",
    "prediction_interval",
    "prob_within_k_sigma",
    "prob_within_k_sigma_in_sample",
    "prob_improvement",
    "Comparison",
    "compare_arms",
]


# ---------------------------------------------------------------------------
# Input handling
# ---------------------------------------------------------------------------


def _as_values(values: Iterable[float], name: str = "values", min_n: int = 1) -> np.ndarray:
    """Return ``values`` as a finite 1-D float64 array or raise ``ValueError``."""
    arr = np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of numbers, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: need at least {min_n} value(s) to compute statistics")
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} contains a non-finite value {float(arr[i])!r} at index {i}; "
                         "a diverged or missing run must be fixed or excluded explicitly")
    if arr.size < min_n:
        raise ValueError(f"{name} has {arr.size} value(s); at least {min_n} are needed")
    return arr


def _var(arr: np.ndarray) -> float:
    """Sample variance (n-1); exactly 0.0 when all values are identical.

    np.var of identical values can come out as ~1e-34 through rounding of the mean,
    which would turn a genuinely degenerate arm into an astronomically large effect.
    """
    if arr.size < 2:
        return math.nan
    if np.all(arr == arr[0]):
        return 0.0
    return float(np.var(arr, ddof=1))


def _signed_ratio(num: float, den: float) -> float:
    """``num / den`` with ``den == 0`` mapped to +inf, -inf or 0.0 by the sign of ``num``."""
    if den > 0:
        return num / den
    if num > 0:
        return math.inf
    if num < 0:
        return -math.inf
    return 0.0


def _check_confidence(confidence: float) -> float:
    confidence = float(confidence)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return confidence


# ---------------------------------------------------------------------------
# Descriptive statistics
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """Descriptive statistics of one arm; ``std`` uses n-1 and is NaN when n == 1."""

    n: int
    mean: float
    std: float
    min: float
    max: float


def summarize(values: Iterable[float]) -> Summary:
    """Summarize finite values.

    Returns
    -------
    Summary
        ``std`` is the n-1 sample standard deviation; with one value it is NaN
        (undefined), never 0, so a single run cannot pass as "no variance".

    Raises
    ------
    ValueError
        On empty input or any non-finite value (the message names the value).
    """
    arr = _as_values(values)
    return Summary(
        n=int(arr.size),
        mean=float(np.mean(arr)),
        std=math.sqrt(_var(arr)) if arr.size > 1 else math.nan,
        min=float(arr.min()),
        max=float(arr.max()),
    )


# ---------------------------------------------------------------------------
# Effect sizes
# ---------------------------------------------------------------------------


def _two_arms(control, experimental) -> tuple[np.ndarray, np.ndarray]:
    c = _as_values(control, "control", min_n=2)
    e = _as_values(experimental, "experimental", min_n=2)
    return c, e


def _pooled_sd(c: np.ndarray, e: np.ndarray) -> float:
    n1, n2 = c.size, e.size
    return math.sqrt(((n1 - 1) * _var(c) + (n2 - 1) * _var(e)) / (n1 + n2 - 2))


def cohens_d(control: Sequence[float], experimental: Sequence[float]) -> float:
    """Cohen's d of the improvement, lower is better.

    ``d = (mean(control) - mean(experimental)) / s_pooled`` with
    ``s_pooled = sqrt(((n1-1) s1^2 + (n2-1) s2^2) / (n1 + n2 - 2))``; positive when the
    experimental arm has the lower loss. When both arms have zero spread the ratio is
    undefined; it is returned as +inf / -inf by the sign of the mean difference, or 0.0
    when the means are equal too. Each arm needs at least 2 values.
    """
    c, e = _two_arms(control, experimental)
    return _signed_ratio(float(np.mean(c) - np.mean(e)), _pooled_sd(c, e))


def hedges_correction(n1: int, n2: int) -> float:
    """Exact small-sample bias correction J for Cohen's d.

    ``J = Gamma(df/2) / (sqrt(df/2) * Gamma((df-1)/2))`` with ``df = n1 + n2 - 2``,
    computed with log-gamma. This is the exact factor (J = 0.7979 at 3 vs 3 seeds,
    df = 4), not the approximation ``1 - 3/(4 df - 1)`` (which gives 0.8000 there).
    """
    df = int(n1) + int(n2) - 2
    if df < 2:
        raise ValueError(f"Hedges' correction needs n1 + n2 - 2 >= 2, got n1={n1}, n2={n2}")
    log_j = special.gammaln(df / 2) - 0.5 * math.log(df / 2) - special.gammaln((df - 1) / 2)
    return float(math.exp(log_j))


def hedges_g(control: Sequence[float], experimental: Sequence[float]) -> float:
    """Hedges' g = J * d: Cohen's d with the exact small-sample correction J."""
    c, e = _two_arms(control, experimental)
    return hedges_correction(c.size, e.size) * cohens_d(c, e)


def _nct_cdf(x: float, df: float, nc: float) -> float:
    """Noncentral t cdf that survives the special function's far-tail NaNs.

    ``special.nctdtr`` (the function behind ``scipy.stats.nct.cdf``, called directly
    because the interval search calls it thousands of times) returns NaN in some far
    tails (e.g. x=-3, df=10, nc=10) where the mirrored form
    P(T <= x | nc) = 1 - P(T <= -x | -nc) is still computed, so fall back on it. Where
    both are NaN, x and nc have opposite signs and lie more than 8 apart (checked over
    df 2-100 and |x|, |nc| up to 1e4): the cdf is then 0 or 1 to double precision.
    """
    p = float(special.nctdtr(df, nc, x))
    if math.isnan(p):
        p = 1.0 - float(special.nctdtr(df, -nc, -x))
    if math.isnan(p):
        p = 0.0 if nc > x else 1.0
    return p


# Above this |t| the noncentral t is inverted by its large-noncentrality limit: scipy's
# series stop converging near |t| ~ 1e5 (wrong bounds at 1e5-1e6, no bracket at 1e9),
# while the limit's relative error falls like 1/t^2 (about 1e-3 at |t| = 100 and below
# 1e-6 here), so the switch is seamless at this threshold.
_EXACT_T_MAX = 1e4


def _ncp_asymptotic(t_obs: float, df: float, target: float) -> float:
    """Noncentrality ``nc`` with P(T <= t_obs) = ``target`` in the large-``nc`` limit.

    For large nc, T = (Z + nc) / sqrt(V/df) ~ nc / sqrt(V/df) with V ~ chi2(df); the
    Normal part Z no longer matters. For t_obs > 0, P(T <= t_obs) = P(V >= df nc^2 / t_obs^2),
    so ``nc = t_obs sqrt(chi2.ppf(1 - target, df) / df)``; a negative t_obs is the mirror
    image, nc(t, q) = -nc(-t, 1 - q).
    """
    if t_obs < 0:
        return -_ncp_asymptotic(-t_obs, df, 1.0 - target)
    return t_obs * math.sqrt(float(sps.chi2.ppf(1.0 - target, df)) / df)


def _ncp_for_cdf(t_obs: float, df: float, target: float) -> float:
    """Noncentrality ``nc`` with ``nct.cdf(t_obs, df, nc) == target``.

    The cdf is strictly decreasing in nc, so a bracket is grown around t_obs until it
    changes sign and brentq does the rest. Where that cannot work (|t_obs| above
    ``_EXACT_T_MAX``, or no bracket is found) the large-noncentrality inversion is used,
    so any finite t gets an answer.
    """
    if abs(t_obs) > _EXACT_T_MAX:
        return _ncp_asymptotic(t_obs, df, target)

    def f(nc: float) -> float:
        return _nct_cdf(t_obs, df, nc) - target

    width = 10.0 + abs(t_obs)
    for _ in range(8):
        lo, hi = t_obs - width, t_obs + width
        if f(lo) > 0 > f(hi):
            return float(optimize.brentq(f, lo, hi, xtol=1e-10))
        width *= 2.0
    return _ncp_asymptotic(t_obs, df, target)


def effect_size_ci(
    control: Sequence[float], experimental: Sequence[float], confidence: float = 0.95
) -> tuple[float, float]:
    """Exact confidence interval of the standardized effect delta, by inverting the noncentral t.

    delta = (population mean difference) / (population sd) is what Cohen's d and
    Hedges' g both estimate. The pooled t statistic ``t = d / sqrt(1/n1 + 1/n2)``
    follows a noncentral t with ``df = n1 + n2 - 2`` and noncentrality
    ``delta / sqrt(1/n1 + 1/n2)``. The bounds are the noncentralities at which the
    observed t sits at the upper and lower ``(1 - confidence) / 2`` tails, mapped back
    to the delta scale. This method reproduces the reference interval for d = 0.5 at
    3 vs 3 seeds: [-1.16, 2.11], i.e. about [-1.2, 2.1]. Any finite t gets an interval
    (huge t, from runs that are almost identical, uses the large-noncentrality limit).
    When the pooled sd is zero (d infinite or 0 by convention) no interval exists and
    (nan, nan) is returned.

    It is also the interval to report beside g: g = J d is a less biased point estimate
    of the same delta, so it has no interval of its own. Shrinking this one by J covered
    delta only 88-91% of the time at delta = 2-3 with 3 vs 3 seeds.
    """
    confidence = _check_confidence(confidence)
    c, e = _two_arms(control, experimental)
    d = cohens_d(c, e)
    if _pooled_sd(c, e) == 0.0:
        return (math.nan, math.nan)
    scale = math.sqrt(1.0 / c.size + 1.0 / e.size)
    df = c.size + e.size - 2
    tail = (1.0 - confidence) / 2.0
    t_obs = d / scale
    lower = _ncp_for_cdf(t_obs, df, 1.0 - tail)
    upper = _ncp_for_cdf(t_obs, df, tail)
    return (lower * scale, upper * scale)


# ---------------------------------------------------------------------------
# Welch's test
# ---------------------------------------------------------------------------


def _p_from_t(t: float, df: float) -> float:
    """One-sided p for H1 "experimental lower" from t; an undefined df (zero standard
    error) makes the answer certain: 0.0 / 1.0 / 0.5 by the sign of t."""
    if math.isnan(df):
        return {math.inf: 0.0, -math.inf: 1.0}.get(t, 0.5)
    return float(sps.t.sf(t, df))


@dataclass(frozen=True)
class WelchTest:
    """Welch's unequal-variance t test of the improvement (positive = experimental lower).

    ``mean_diff`` is in nats, ``se`` its standard error ``sqrt(s1^2/n1 + s2^2/n2)``,
    ``df`` the Welch–Satterthwaite degrees of freedom (NaN when ``se`` is 0).
    """

    n1: int
    n2: int
    mean_diff: float
    se: float
    t: float
    df: float
    p_one_sided: float


def welch_test(control: Sequence[float], experimental: Sequence[float]) -> WelchTest:
    """Welch's t test of H1: mean(experimental) < mean(control), as a :class:`WelchTest`.

    Equals ``scipy.stats.ttest_ind(control, experimental, equal_var=False,
    alternative="greater")``. With zero spread in both arms the standard error is zero:
    t is +inf / -inf by the sign of the difference (0.0 if equal), df is NaN (0/0,
    undefined) and p is taken as certain: 0.0 if the experimental arm is strictly lower,
    1.0 if higher, 0.5 if the means are equal (scipy would give NaN for the last case).
    """
    c, e = _two_arms(control, experimental)
    a, b = _var(c) / c.size, _var(e) / e.size
    se2 = a + b
    mean_diff = float(np.mean(c) - np.mean(e))
    t = _signed_ratio(mean_diff, math.sqrt(se2))
    df = math.nan if se2 == 0.0 else float(se2**2 / (a**2 / (c.size - 1) + b**2 / (e.size - 1)))
    return WelchTest(n1=int(c.size), n2=int(e.size), mean_diff=mean_diff, se=math.sqrt(se2), t=t, df=df,
                     p_one_sided=_p_from_t(t, df))


# ---------------------------------------------------------------------------
# Paired t test (arms that share seeds)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedTest:
    """Paired t test on per-seed differences ``control_i - experimental_i`` (positive = improvement).

    ``mean_diff`` and the two-sided ``ci`` are in nats; ``d_z = mean_diff / sd_diff`` is
    the standardized mean difference of the pairs, ``t = d_z sqrt(n)``, ``df = n - 1``.
    """

    n: int
    mean_diff: float
    sd_diff: float
    d_z: float
    t: float
    df: int
    p_one_sided: float
    ci: tuple[float, float]

    @property
    def se(self) -> float:
        """Standard error of ``mean_diff``."""
        return self.sd_diff / math.sqrt(self.n)


def paired_t(
    control: Sequence[float], experimental: Sequence[float], confidence: float = 0.95
) -> PairedTest:
    """Paired t test of H1: the experimental arm has the lower loss, seed by seed.

    Arms that share seeds share the data order (and the init of shared weights), so
    their losses are correlated; the per-seed differences remove that shared part,
    which is why a paired test has more power than Welch on the same runs. The inputs
    must be aligned (element i of both arms is the same seed) and of equal length
    n >= 2. Equals ``scipy.stats.ttest_rel(control, experimental,
    alternative="greater")``. ``ci`` is the two-sided ``confidence`` t interval of the
    mean difference. When every difference is equal (sd_diff == 0), t and d_z are
    +inf / -inf / 0.0 by the sign of the mean difference, p is 0.0 / 1.0 / 0.5 and the
    interval is the single point ``mean_diff``.
    """
    confidence = _check_confidence(confidence)
    c, e = _two_arms(control, experimental)
    if c.size != e.size:
        raise ValueError(f"a paired test needs one experimental run per control seed, got "
                         f"{c.size} control and {e.size} experimental values")
    diff = c - e
    n = int(diff.size)
    mean = float(np.mean(diff))
    sd = math.sqrt(_var(diff))
    se = sd / math.sqrt(n)
    t = _signed_ratio(mean, se)
    half = float(sps.t.ppf(0.5 + confidence / 2.0, n - 1)) * se
    return PairedTest(n=n, mean_diff=mean, sd_diff=sd, d_z=_signed_ratio(mean, sd), t=t, df=n - 1,
                      p_one_sided=_p_from_t(t, n - 1 if sd > 0 else math.nan), ci=(mean - half, mean + half))


def one_sided_lower_bound(test: PairedTest | WelchTest, alpha: float) -> float:
    """One-sided (1 - alpha) lower confidence bound of the mean improvement, in nats.

    ``mean_diff - t_{1-alpha, df} * se``. It is > 0 exactly when the test's one-sided
    p-value is < alpha, so "the improvement is at least this many nats" says the same
    as the p-value, in the units a paper reports. With zero standard error the bound is
    ``mean_diff`` itself. alpha must lie in (0, 0.5]: below 50% confidence a "lower
    bound" sits above the estimate.
    """
    alpha = float(alpha)
    if not 0.0 < alpha <= 0.5:
        raise ValueError(f"alpha must be in (0, 0.5], got {alpha}")
    if not test.se > 0:
        return test.mean_diff
    return test.mean_diff - float(sps.t.ppf(1.0 - alpha, test.df)) * test.se


def improvement_interval(test: PairedTest | WelchTest, confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided ``confidence`` t interval of a test's mean improvement, in nats.

    ``mean_diff -+ t_{(1+confidence)/2, df} * se`` for either test. With zero standard
    error it is the single point ``mean_diff``.
    """
    confidence = _check_confidence(confidence)
    if not test.se > 0:
        return (test.mean_diff, test.mean_diff)
    half = float(sps.t.ppf(0.5 + confidence / 2.0, test.df)) * test.se
    return (test.mean_diff - half, test.mean_diff + half)


# ---------------------------------------------------------------------------
# Batch versions for simulation (last axis = seeds)
# ---------------------------------------------------------------------------


def _var_batch(x: np.ndarray) -> np.ndarray:
    """Sample variance along the last axis, exactly 0.0 where all values are identical (as :func:`_var`)."""
    return np.where(np.all(x == x[..., :1], axis=-1), 0.0, np.var(x, axis=-1, ddof=1))


def _signed_ratio_batch(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Elementwise :func:`_signed_ratio`."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = num / den
    return np.where(den > 0, ratio, np.where(num > 0, math.inf, np.where(num < 0, -math.inf, 0.0)))


def _p_from_t_batch(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Elementwise :func:`_p_from_t`."""
    certain = np.where(t > 0, 0.0, np.where(t < 0, 1.0, 0.5))
    return np.where(np.isnan(df), certain, sps.t.sf(t, np.where(np.isnan(df), 1.0, df)))


def _batch_arms(control, experimental) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(control, dtype=np.float64)
    e = np.asarray(experimental, dtype=np.float64)
    if c.shape[-1] < 2 or e.shape[-1] < 2:
        raise ValueError(f"each arm needs at least 2 seeds on the last axis, got {c.shape} and {e.shape}")
    return c, e


def cohens_d_batch(control: np.ndarray, experimental: np.ndarray) -> np.ndarray:
    """:func:`cohens_d` along the last axis of arrays shaped (..., n1) and (..., n2).

    Leading axes broadcast, so one control arm can be compared with several
    experimental arms at once. Same formula and degenerate convention as the scalar
    function, which the tests check to 1e-12.
    """
    c, e = _batch_arms(control, experimental)
    n1, n2 = c.shape[-1], e.shape[-1]
    pooled = np.sqrt(((n1 - 1) * _var_batch(c) + (n2 - 1) * _var_batch(e)) / (n1 + n2 - 2))
    return _signed_ratio_batch(np.mean(c, axis=-1) - np.mean(e, axis=-1), pooled)


def _paired_batch(control, experimental) -> tuple[np.ndarray, np.ndarray, int]:
    """(mean, sd, n) of the per-seed differences along the last axis."""
    c, e = _batch_arms(control, experimental)
    if c.shape[-1] != e.shape[-1]:
        raise ValueError(f"paired arms need the same seeds, got {c.shape[-1]} and {e.shape[-1]}")
    diff = c - e
    return np.mean(diff, axis=-1), np.sqrt(_var_batch(diff)), diff.shape[-1]


def paired_p_batch(control: np.ndarray, experimental: np.ndarray) -> np.ndarray:
    """:func:`paired_t`'s one-sided p along the last axis (same degenerate convention)."""
    mean, sd, n = _paired_batch(control, experimental)
    t = _signed_ratio_batch(mean, sd / math.sqrt(n))
    return _p_from_t_batch(t, np.where(sd > 0, n - 1.0, math.nan))


def paired_dz_batch(control: np.ndarray, experimental: np.ndarray) -> np.ndarray:
    """:func:`paired_t`'s d_z along the last axis (same degenerate convention)."""
    mean, sd, _ = _paired_batch(control, experimental)
    return _signed_ratio_batch(mean, sd)


# ---------------------------------------------------------------------------
# Power and seed counts
# ---------------------------------------------------------------------------


# The largest seed count per arm :func:`seeds_for_power` searches by default.
MAX_POWER_N = 10_000


def t_test_power(d: float, n: int, alpha: float = 0.05, one_sided: bool = True, paired: bool = False) -> float:
    """Power of a t-test with ``n`` seeds per arm at true standardized effect ``d``.

    The one power computation of the project (exact noncentral t). Two independent arms:
    ``df = 2n - 2``, ``ncp = d sqrt(n/2)``. ``paired=True``, n pairs and d the paired
    d_z (mean difference over the sd of the differences): ``df = n - 1``,
    ``ncp = d sqrt(n)``. With ``one_sided=False`` the two-sided test's power (both
    rejection tails) is returned. d = +inf has power 1, -inf power 0 (one-sided); NaN
    raises. n must be an integer >= 2: one run per arm has no variance to test against
    (the formula would silently give NaN).
    """
    if int(n) != n or n < 2:
        raise ValueError(f"n must be an integer >= 2 seeds per arm, got n={n}")
    d = float(d)
    if math.isnan(d):
        raise ValueError("d is NaN: the power at an undefined effect is undefined")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if math.isinf(d):
        return 1.0 if d > 0 or not one_sided else 0.0
    df, ncp = (n - 1, d * math.sqrt(n)) if paired else (2 * n - 2, d * math.sqrt(n / 2.0))
    if one_sided:
        crit = float(sps.t.ppf(1.0 - alpha, df))
        return float(sps.nct.sf(crit, df, ncp))
    crit = float(sps.t.ppf(1.0 - alpha / 2.0, df))
    return float(sps.nct.sf(crit, df, ncp)) + _nct_cdf(-crit, df, ncp)


def seeds_for_power(
    d: float,
    alpha: float = 0.05,
    power: float = 0.80,
    one_sided: bool = True,
    max_n: int = MAX_POWER_N,
    paired: bool = False,
) -> int | None:
    """Smallest n per arm (equal arms, n >= 2) whose t-test power reaches ``power``.

    Uses :func:`t_test_power` (exact noncentral t; ``paired`` as there). Textbook check
    at d = 0.5, alpha = 0.05, power 0.8: 51 per arm one-sided, 64 two-sided; paired at
    d_z = 1, one-sided: 8 pairs. Returns None when d <= 0 (no number of seeds detects a
    non-improvement) or when ``max_n`` is not enough. Power grows with n, so a doubling
    search plus bisection is used.
    """
    d = float(d)
    if math.isnan(d):
        raise ValueError("d is NaN: cannot size an experiment from an undefined effect")
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise ValueError(f"alpha and power must be in (0, 1), got alpha={alpha}, power={power}")
    if d <= 0.0 or max_n < 2:
        return None
    if math.isinf(d):
        return 2

    def enough(n: int) -> bool:
        return t_test_power(d, n, alpha, one_sided, paired) >= power

    if not enough(max_n):
        return None
    lo, hi = 1, 2  # invariant: not enough(lo) (n=1 is not a valid design), enough(hi) once found
    while not enough(hi):
        lo, hi = hi, min(2 * hi, max_n)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if enough(mid):
            hi = mid
        else:
            lo = mid
    return hi


@functools.lru_cache(maxsize=256)
def minimum_detectable_effect(
    n: int, alpha: float = 0.05, power: float = 0.80, one_sided: bool = True, paired: bool = False
) -> float:
    """The smallest true standardized effect that :func:`t_test_power` detects with
    probability ``power`` at ``n`` seeds per arm: the d with ``t_test_power(d, n, ...) ==
    power``. One-sided two-sample at alpha 0.05 and 80% power: 2.48 at 3 seeds per arm,
    1.72 at 5. ``power`` must exceed the test's false-positive rate (alpha one-sided).
    """
    if int(n) != n or n < 2:
        raise ValueError(f"n must be an integer >= 2 seeds per arm, got n={n}")
    if not alpha < power < 1.0:
        raise ValueError(f"power must be in (alpha, 1), got alpha={alpha}, power={power}")
    return float(optimize.brentq(lambda d: t_test_power(d, n, alpha, one_sided, paired) - power, 0.0, 1000.0,
                                 xtol=1e-10))


# ---------------------------------------------------------------------------
# Run-to-run variability
# ---------------------------------------------------------------------------


def prediction_interval(values: Iterable[float], confidence: float = 0.95) -> tuple[float, float]:
    """Interval expected to hold ONE new run of the same code (Normal data).

    ``mean +/- t_{(1+c)/2, n-1} * s * sqrt(1 + 1/n)``; needs at least 2 values.
    """
    confidence = _check_confidence(confidence)
    arr = _as_values(values, min_n=2)
    n = arr.size
    half = float(sps.t.ppf((1.0 + confidence) / 2.0, n - 1)) * math.sqrt(_var(arr) * (1.0 + 1.0 / n))
    mean = float(np.mean(arr))
    return (mean - half, mean + half)


def prob_within_k_sigma(n: int, k: float = 1.0) -> float:
    """Probability that a fresh run lands within k sample sigmas of an n-run mean.

    For Normal data ``(X - mean) / (s sqrt(1 + 1/n))`` follows t with n-1 df, so
    ``P(|X - mean| <= k s) = 2 F_t(k / sqrt(1 + 1/n); n - 1) - 1``. With n = 5 and
    k = 1 this is 0.587: "within 1 sigma of the baseline" fails 41% of the time for
    unchanged code.
    """
    if int(n) != n or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n}")
    if not k >= 0:
        raise ValueError(f"k must be >= 0, got {k}")
    return float(2.0 * sps.t.cdf(k / math.sqrt(1.0 + 1.0 / n), int(n) - 1) - 1.0)


def prob_within_k_sigma_in_sample(n: int, k: float = 1.0) -> float:
    """Probability that one of the n runs itself lies within k sample sigmas of the n-run mean.

    Different from :func:`prob_within_k_sigma`: a run that is part of the sample pulls
    the mean and the sigma towards itself. Its internally studentized residual
    ``r = (X_i - mean) / s`` satisfies ``r^2 n / (n-1)^2 ~ Beta(1/2, (n-2)/2)`` for Normal
    data, so ``P(|r| <= k) = Beta(1/2, (n-2)/2).cdf(min(1, k^2 n / (n-1)^2))``; |r| can
    never exceed (n-1)/sqrt(n). With n = 5 and k = 1 this is 0.673 (a fresh run: 0.587).
    At n = 2 both runs sit exactly 1/sqrt(2) sigma from their mean.
    """
    if int(n) != n or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n}")
    if not k >= 0:
        raise ValueError(f"k must be >= 0, got {k}")
    x = min(1.0, k * k * n / (n - 1) ** 2)
    if n == 2:  # Beta(1/2, 0) is the point mass at 1
        return 1.0 if x >= 1.0 else 0.0
    return float(sps.beta.cdf(x, 0.5, (n - 2) / 2.0))


def prob_improvement(control: Sequence[float], experimental: Sequence[float]) -> float:
    """Probability of improvement (rliable): P(random experimental run < random control run).

    The fraction of all (control, experimental) pairs with experimental < control;
    ties count 1/2. 0.5 means no tendency either way.
    """
    c = _as_values(control, "control")
    e = _as_values(experimental, "experimental")
    diff = c[:, None] - e[None, :]
    return float((np.sum(diff > 0) + 0.5 * np.sum(diff == 0)) / diff.size)


# ---------------------------------------------------------------------------
# Everything a report needs in one object
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """Control vs experimental, all signed so that positive = experimental is better.

    ``delta`` is in nats. ``d_ci`` is the exact 95% interval of the standardized effect
    delta that d and g both estimate (see :func:`effect_size_ci`).
    ``seeds_for_power`` is the n per arm needed for 80% power at the observed d with a
    one-sided alpha of 0.05; when it is None, ``power_note`` says why (it is "" when
    ``seeds_for_power`` is a number). ``baseline_std`` and ``delta_in_baseline_sigmas``
    are None unless baseline runs were given.
    """

    control: Summary
    experimental: Summary
    delta: float
    cohens_d: float
    hedges_g: float
    d_ci: tuple[float, float]
    welch_t: float
    welch_df: float
    p_one_sided: float
    seeds_for_power: int | None
    power_note: str
    baseline_std: float | None
    delta_in_baseline_sigmas: float | None
    prob_improvement: float

def _power_note(d: float, n: int | None) -> str:
    """Why :func:`seeds_for_power` gave no number (its two reasons), or "" when it did."""
    if n is not None:
        return ""
    if d <= 0:
        return "d <= 0: no number of seeds detects a non-improvement"
    return f"more than {MAX_POWER_N:,} seeds per arm"


def compare_arms(
    control: Sequence[float],
    experimental: Sequence[float],
    baseline: Sequence[float] | None = None,
) -> Comparison:
    """Compute every statistic of :class:`Comparison` for two arms of runs.

    ``baseline`` (at least 2 values) supplies the sigma for ``delta_in_baseline_sigmas``;
    a zero baseline sigma follows the same +inf/-inf/0.0 convention as :func:`cohens_d`.
    """
    c, e = _two_arms(control, experimental)
    summary_c, summary_e = summarize(c), summarize(e)
    delta = summary_c.mean - summary_e.mean
    d = cohens_d(c, e)
    welch = welch_test(c, e)
    power_n = seeds_for_power(d)
    baseline_std = ratio = None
    if baseline is not None:
        baseline_std = math.sqrt(_var(_as_values(baseline, "baseline", min_n=2)))
        ratio = _signed_ratio(delta, baseline_std)
    return Comparison(
        control=summary_c,
        experimental=summary_e,
        delta=delta,
        cohens_d=d,
        hedges_g=hedges_g(c, e),
        d_ci=effect_size_ci(c, e),
        welch_t=welch.t,
        welch_df=welch.df,
        p_one_sided=welch.p_one_sided,
        seeds_for_power=power_n,
        power_note=_power_note(d, power_n),
        baseline_std=baseline_std,
        delta_in_baseline_sigmas=ratio,
        prob_improvement=prob_improvement(c, e),
    )
