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

import math
from dataclasses import asdict, dataclass
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
    "effect_size_ci_normal",
    "hedges_g_ci",
    "welch_t",
    "welch_one_sided_p",
    "t_test_power",
    "seeds_for_power",
    "prediction_interval",
    "prob_within_k_sigma",
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
    """Noncentral t cdf that survives scipy's far-tail NaNs.

    scipy's nct.cdf returns NaN in some far tails (e.g. x=-3, df=10, nc=10) where the
    mirrored form P(T <= x | nc) = P(T >= -x | -nc) is still computed, so fall back on it.
    """
    p = float(sps.nct.cdf(x, df, nc))
    if math.isnan(p):
        p = float(sps.nct.sf(-x, df, -nc))
    return p


def _ncp_for_cdf(t_obs: float, df: float, target: float) -> float:
    """Noncentrality ``nc`` with ``nct.cdf(t_obs, df, nc) == target``.

    The cdf is strictly decreasing in nc, so a bracket is grown around t_obs until it
    changes sign and brentq does the rest.
    """
    def f(nc: float) -> float:
        return _nct_cdf(t_obs, df, nc) - target

    width = 10.0 + abs(t_obs)
    lo, hi = t_obs - width, t_obs + width
    for _ in range(60):
        if f(lo) > 0 and f(hi) < 0:
            return float(optimize.brentq(f, lo, hi, xtol=1e-10))
        width *= 2.0
        lo, hi = t_obs - width, t_obs + width
    raise ArithmeticError(f"could not bracket the noncentrality for t={t_obs}, df={df}")


def effect_size_ci(
    control: Sequence[float], experimental: Sequence[float], confidence: float = 0.95
) -> tuple[float, float]:
    """Exact confidence interval for Cohen's d by inverting the noncentral t.

    The pooled t statistic ``t = d / sqrt(1/n1 + 1/n2)`` follows a noncentral t with
    ``df = n1 + n2 - 2`` and noncentrality ``delta / sqrt(1/n1 + 1/n2)``. The bounds
    are the noncentralities at which the observed t sits at the upper and lower
    ``(1 - confidence) / 2`` tails, mapped back to the d scale. This method reproduces
    the reference interval for d = 0.5 at 3 vs 3 seeds: [-1.16, 2.11], i.e. about
    [-1.2, 2.1]. When the pooled sd is zero (d infinite or 0 by convention) no interval
    exists and (nan, nan) is returned.
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


def effect_size_ci_normal(
    d: float, n1: int, n2: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Large-sample normal interval for d (Hedges & Olkin 1985).

    ``var(d) = (n1 + n2) / (n1 n2) + d^2 / (2 (n1 + n2))``. At 3 vs 3 seeds and
    d = 0.5 it gives [-1.13, 2.13]; prefer :func:`effect_size_ci` at small n.
    """
    confidence = _check_confidence(confidence)
    if not math.isfinite(d):
        raise ValueError(f"d must be finite, got {d!r}")
    if n1 < 2 or n2 < 2:
        raise ValueError(f"each arm needs at least 2 values, got n1={n1}, n2={n2}")
    se = math.sqrt((n1 + n2) / (n1 * n2) + d * d / (2.0 * (n1 + n2)))
    z = float(sps.norm.ppf(0.5 + confidence / 2.0))
    return (d - z * se, d + z * se)


def hedges_g_ci(
    control: Sequence[float], experimental: Sequence[float], confidence: float = 0.95
) -> tuple[float, float]:
    """Interval for Hedges' g: the exact d interval with both ends multiplied by J."""
    c, e = _two_arms(control, experimental)
    j = hedges_correction(c.size, e.size)
    lo, hi = effect_size_ci(c, e, confidence)
    return (j * lo, j * hi)


# ---------------------------------------------------------------------------
# Welch's test
# ---------------------------------------------------------------------------


def welch_t(control: Sequence[float], experimental: Sequence[float]) -> tuple[float, float]:
    """Welch's t statistic and Welch–Satterthwaite degrees of freedom.

    ``t = (mean(control) - mean(experimental)) / sqrt(s1^2/n1 + s2^2/n2)``, positive
    when the experimental arm is lower. If both arms have zero spread the standard
    error is zero: t is +inf / -inf by the sign of the difference (0.0 if equal) and
    df is NaN (0/0, undefined).
    """
    c, e = _two_arms(control, experimental)
    a, b = _var(c) / c.size, _var(e) / e.size
    se2 = a + b
    t = _signed_ratio(float(np.mean(c) - np.mean(e)), math.sqrt(se2))
    if se2 == 0.0:
        return (t, math.nan)
    df = se2**2 / (a**2 / (c.size - 1) + b**2 / (e.size - 1))
    return (t, float(df))


def welch_one_sided_p(control: Sequence[float], experimental: Sequence[float]) -> float:
    """One-sided Welch p-value for H1: mean(experimental) < mean(control).

    Equals ``scipy.stats.ttest_ind(control, experimental, equal_var=False,
    alternative="greater").pvalue``. With zero spread in both arms the answer is
    taken as certain: 0.0 if the experimental arm is strictly lower, 1.0 if higher,
    0.5 if the means are equal (scipy would give NaN for the last case).
    """
    t, df = welch_t(control, experimental)
    if math.isnan(df):
        return {math.inf: 0.0, -math.inf: 1.0}.get(t, 0.5)
    return float(sps.t.sf(t, df))


# ---------------------------------------------------------------------------
# Power and seed counts
# ---------------------------------------------------------------------------


def t_test_power(d: float, n: int, alpha: float = 0.05, one_sided: bool = True) -> float:
    """Power of a two-sample t-test with ``n`` per arm at true effect ``d``.

    Noncentral t with ``df = 2n - 2`` and ``ncp = d sqrt(n/2)``. With
    ``one_sided=False`` the two-sided test's power (both rejection tails) is returned.
    """
    df = 2 * n - 2
    ncp = d * math.sqrt(n / 2.0)
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
    max_n: int = 10_000,
) -> int | None:
    """Smallest n per arm (equal arms, n >= 2) whose t-test power reaches ``power``.

    Uses :func:`t_test_power` (exact noncentral t). Textbook check at d = 0.5,
    alpha = 0.05, power 0.8: 51 per arm one-sided, 64 two-sided. Returns None when
    d <= 0 (no number of seeds detects a non-improvement) or when ``max_n`` is not
    enough. Power grows with n, so a doubling search plus bisection is used.
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
        return t_test_power(d, n, alpha, one_sided) >= power

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

    ``delta`` is in nats. ``seeds_for_power`` is the n per arm needed for 80% power at
    the observed d with a one-sided alpha of 0.05 (None if d <= 0). ``baseline_std``
    and ``delta_in_baseline_sigmas`` are None unless baseline runs were given.
    """

    control: Summary
    experimental: Summary
    delta: float
    cohens_d: float
    hedges_g: float
    d_ci: tuple[float, float]
    g_ci: tuple[float, float]
    welch_t: float
    welch_df: float
    p_one_sided: float
    seeds_for_power: int | None
    baseline_std: float | None
    delta_in_baseline_sigmas: float | None
    prob_improvement: float

    def to_dict(self) -> dict:
        """Plain dict for ``json.dumps`` (tuples become lists; inf/NaN stay floats,
        which Python's json writes as Infinity/NaN)."""
        out = asdict(self)
        out["d_ci"] = list(self.d_ci)
        out["g_ci"] = list(self.g_ci)
        return out


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
    t, df = welch_t(c, e)
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
        g_ci=hedges_g_ci(c, e),
        welch_t=t,
        welch_df=df,
        p_one_sided=welch_one_sided_p(c, e),
        seeds_for_power=seeds_for_power(d),
        baseline_std=baseline_std,
        delta_in_baseline_sigmas=ratio,
        prob_improvement=prob_improvement(c, e),
    )
