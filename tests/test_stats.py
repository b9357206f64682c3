"""Tests of research_harness.stats: scipy cross-checks, textbook values, properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from research_harness.stats import (
    Comparison,
    Summary,
    cohens_d,
    compare_arms,
    effect_size_ci,
    hedges_correction,
    hedges_g,
    minimum_detectable_effect,
    prediction_interval,
    prob_improvement,
    prob_within_k_sigma,
    seeds_for_power,
    summarize,
    t_test_power,
    welch_test,
)

# Arms of 2..8 losses with bounded magnitude; runs with almost no spread make every
# standardized statistic ill-conditioned, so they are filtered out.
_value = st.floats(min_value=-10.0, max_value=10.0, allow_nan=False, allow_infinity=False)
_arm = st.lists(_value, min_size=2, max_size=8).filter(lambda xs: np.std(xs, ddof=1) > 0.05)
PROPS = settings(max_examples=60, deadline=None)

# Control sd 1 and experimental = control - 0.5: d is exactly 0.5 at 3 vs 3.
CONTROL_D05 = [3.0, 4.0, 5.0]
EXPERIMENTAL_D05 = [2.5, 3.5, 4.5]


def close(a: float, b: float, rel: float = 1e-9, abs_: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


# --------------------------------------------------------------------------- summarize


def test_summarize_basic():
    s = summarize([1.0, 2.0, 3.0, 4.0])
    assert s == Summary(n=4, mean=2.5, std=pytest.approx(np.std([1, 2, 3, 4], ddof=1)), min=1.0, max=4.0)


def test_summarize_single_value_has_nan_std():
    s = summarize([3.2])
    assert s.n == 1 and s.mean == 3.2 and math.isnan(s.std)


def test_summarize_identical_values_has_exact_zero_std():
    assert summarize([0.1, 0.1, 0.1]).std == 0.0


def test_summarize_empty_raises():
    with pytest.raises(ValueError, match="empty"):
        summarize([])


@pytest.mark.parametrize("bad, shown", [(float("nan"), "nan"), (float("inf"), "inf"), (-math.inf, "-inf")])
def test_summarize_non_finite_names_value(bad, shown):
    with pytest.raises(ValueError, match=f"non-finite value {shown}.*index 1"):
        summarize([1.0, bad, 2.0])


@PROPS
@given(st.lists(_value, min_size=2, max_size=20))
def test_std_uses_n_minus_1(xs):
    assert summarize(xs).std == pytest.approx(np.std(xs, ddof=1), rel=1e-9, abs=1e-12)


# --------------------------------------------------------------------------- effect sizes


def test_cohens_d_sign_convention_lower_is_better():
    d = cohens_d(CONTROL_D05, EXPERIMENTAL_D05)
    assert d == pytest.approx(0.5)
    assert cohens_d(EXPERIMENTAL_D05, CONTROL_D05) == pytest.approx(-0.5)


def test_cohens_d_pooled_sd_unequal_n():
    c, e = [1.0, 2.0, 4.0, 7.0], [0.0, 1.0]
    s_pooled = math.sqrt((3 * np.var(c, ddof=1) + 1 * np.var(e, ddof=1)) / 4)
    assert cohens_d(c, e) == pytest.approx((np.mean(c) - np.mean(e)) / s_pooled)


def test_cohens_d_equal_n_is_root_mean_variance():
    c, e = [1.0, 2.5, 4.0], [0.0, 0.2, 1.0]
    s = math.sqrt((np.var(c, ddof=1) + np.var(e, ddof=1)) / 2)
    assert cohens_d(c, e) == pytest.approx((np.mean(c) - np.mean(e)) / s)


@pytest.mark.parametrize(
    "control, experimental, expected",
    [([2.0, 2.0], [1.0, 1.0], math.inf), ([1.0, 1.0], [2.0, 2.0], -math.inf), ([1.0, 1.0], [1.0, 1.0], 0.0)],
)
def test_cohens_d_zero_pooled_sd(control, experimental, expected):
    assert cohens_d(control, experimental) == expected


def test_two_sample_functions_need_two_values_per_arm():
    with pytest.raises(ValueError, match="at least 2"):
        cohens_d([1.0], [1.0, 2.0])


def test_hedges_correction_exact_at_3_vs_3():
    j = hedges_correction(3, 3)
    # Exact J(df=4) = Gamma(2) / (sqrt(2) Gamma(1.5)) = 2 / sqrt(2 pi) = 0.79788...
    assert j == pytest.approx(2 / math.sqrt(2 * math.pi), rel=1e-12)
    assert round(j, 3) == 0.798  # ANCHORS
    assert j != pytest.approx(1 - 3 / (4 * 4 - 1), abs=1e-3)  # the approximation (0.8000) is not what we use


def test_hedges_correction_tends_to_one_and_matches_approximation():
    js = [hedges_correction(n, n) for n in (2, 3, 5, 10, 50, 500)]
    assert all(a < b for a, b in zip(js, js[1:]))
    assert js[-1] == pytest.approx(1 - 3 / (4 * 998 - 1), rel=1e-6)


def test_hedges_correction_needs_df_2():
    with pytest.raises(ValueError):
        hedges_correction(2, 1)


def test_hedges_g_is_j_times_d():
    assert hedges_g(CONTROL_D05, EXPERIMENTAL_D05) == pytest.approx(0.5 * hedges_correction(3, 3))


def test_effect_size_ci_reproduces_anchor_at_3_vs_3():
    lo, hi = effect_size_ci(CONTROL_D05, EXPERIMENTAL_D05)
    assert (round(lo, 1), round(hi, 1)) == (-1.2, 2.1)  # ANCHORS: about [-1.2, 2.1]
    assert lo == pytest.approx(-1.1635, abs=1e-3) and hi == pytest.approx(2.1062, abs=1e-3)


def test_effect_size_ci_bounds_are_tail_inversions():
    c, e = [3.1, 3.3, 3.2, 3.5], [3.0, 3.05, 3.2]
    lo, hi = effect_size_ci(c, e, confidence=0.9)
    scale = math.sqrt(1 / 4 + 1 / 3)
    t = cohens_d(c, e) / scale
    assert sps.nct.sf(t, 5, lo / scale) == pytest.approx(0.05, abs=1e-7)
    assert sps.nct.cdf(t, 5, hi / scale) == pytest.approx(0.05, abs=1e-7)


def test_exact_ci_agrees_with_the_large_sample_normal_interval_at_large_n():
    # Hedges & Olkin (1985): var(d) = (n1 + n2) / (n1 n2) + d^2 / (2 (n1 + n2)).
    rng = np.random.default_rng(7)
    c, e = rng.normal(0.3, 1, 400), rng.normal(0.0, 1, 400)
    d = cohens_d(c, e)
    half = sps.norm.ppf(0.975) * math.sqrt(800 / 400**2 + d * d / 1600)
    assert effect_size_ci(c, e) == pytest.approx((d - half, d + half), abs=0.01)


def test_ci_degenerate_when_pooled_sd_zero():
    assert all(math.isnan(x) for x in effect_size_ci([2.0, 2.0], [1.0, 1.0]))


@pytest.mark.parametrize("confidence", [0.0, 1.0, -0.5, 95])
def test_bad_confidence_rejected(confidence):
    with pytest.raises(ValueError, match="confidence"):
        effect_size_ci(CONTROL_D05, EXPERIMENTAL_D05, confidence)


# --------------------------------------------------------------------------- Welch


WELCH_CASES = [
    ([3.1, 3.2, 3.3], [3.0, 3.05, 3.2]),
    ([2.9, 3.0, 3.4, 3.1, 3.05], [3.0, 3.02]),
    ([1.0, 2.0, 3.0], [4.0, 5.0, 7.0]),
    ([0.5, 0.51, 0.49, 0.50], [0.3, 0.9, 0.1, 0.6, 0.45, 0.2]),
    (list(np.random.default_rng(3).normal(3.3, 0.02, 5)), list(np.random.default_rng(4).normal(3.28, 0.03, 5))),
]


@pytest.mark.parametrize("control, experimental", WELCH_CASES)
def test_welch_matches_scipy(control, experimental):
    ref = sps.ttest_ind(control, experimental, equal_var=False, alternative="greater")
    test = welch_test(control, experimental)
    assert test.t == pytest.approx(ref.statistic, rel=1e-10)
    assert test.df == pytest.approx(ref.df, rel=1e-10)
    assert test.p_one_sided == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize(
    "control, experimental, p",
    [([2.0, 2.0, 2.0], [1.0, 1.0, 1.0], 0.0), ([1.0, 1.0], [2.0, 2.0], 1.0), ([1.0, 1.0], [1.0, 1.0], 0.5)],
)
def test_welch_zero_variance_both_arms(control, experimental, p):
    test = welch_test(control, experimental)
    assert test.p_one_sided == p and math.isnan(test.df)


def test_welch_zero_variance_one_arm_is_finite():
    test = welch_test([1.0, 1.0, 1.0], [0.5, 0.7, 0.6])
    assert math.isfinite(test.t) and test.df == pytest.approx(2.0)


# --------------------------------------------------------------------------- power


@pytest.mark.parametrize(
    "d, one_sided, n",
    # Cohen (1988) / G*Power, alpha 0.05, power 0.80, per arm.
    [(0.5, True, 51), (0.5, False, 64), (0.2, True, 310), (0.2, False, 394), (0.8, True, 21), (0.8, False, 26)],
)
def test_seeds_for_power_textbook(d, one_sided, n):
    assert seeds_for_power(d, one_sided=one_sided) == n
    assert t_test_power(d, n, one_sided=one_sided) >= 0.80 > t_test_power(d, n - 1, one_sided=one_sided)


def test_power_matches_monte_carlo():
    rng = np.random.default_rng(11)
    n, d, sims = 8, 1.0, 20_000
    c = rng.normal(d, 1, (sims, n))
    e = rng.normal(0, 1, (sims, n))
    crit = sps.t.ppf(0.95, 2 * n - 2)
    t = (c.mean(1) - e.mean(1)) / np.sqrt((c.var(1, ddof=1) + e.var(1, ddof=1)) / n)
    assert np.mean(t > crit) == pytest.approx(t_test_power(d, n), abs=0.015)


@pytest.mark.parametrize("d_z, n", [(0.5, 7), (1.0, 8), (1.3, 12)])
def test_paired_power_is_the_noncentral_t_of_the_differences(d_z, n):
    want = sps.nct.sf(sps.t.ppf(0.95, n - 1), n - 1, d_z * math.sqrt(n))
    assert t_test_power(d_z, n, paired=True) == pytest.approx(want, rel=1e-12)
    crit = sps.t.ppf(0.975, n - 1)
    both = sps.nct.sf(crit, n - 1, d_z * math.sqrt(n)) + sps.nct.cdf(-crit, n - 1, d_z * math.sqrt(n))
    assert t_test_power(d_z, n, one_sided=False, paired=True) == pytest.approx(both, rel=1e-9)


def test_paired_seeds_for_power_textbook():
    # G*Power, one-sided paired t at alpha 0.05: d_z = 1 needs 8 pairs (81.5%; 7 give 75.4%).
    assert seeds_for_power(1.0, paired=True) == 8
    assert t_test_power(1.0, 8, paired=True) == pytest.approx(0.815, abs=5e-4)
    assert t_test_power(1.0, 7, paired=True) == pytest.approx(0.754, abs=5e-4)


def test_power_at_infinite_and_undefined_effects():
    assert t_test_power(math.inf, 3) == 1.0 and t_test_power(-math.inf, 3) == 0.0
    assert t_test_power(-math.inf, 3, one_sided=False) == 1.0
    with pytest.raises(ValueError, match="NaN"):
        t_test_power(math.nan, 3)


@pytest.mark.parametrize("n", [2, 3, 5, 10, 20])
@pytest.mark.parametrize("one_sided, paired", [(True, False), (False, False), (True, True)])
def test_minimum_detectable_effect_is_where_power_reaches_the_target(n, one_sided, paired):
    mde = minimum_detectable_effect(n, 0.05, 0.80, one_sided, paired)
    assert t_test_power(mde, n, 0.05, one_sided, paired) == pytest.approx(0.80, abs=1e-8)
    # The seed count for an effect just above the MDE at n is at most n, just below it more than n.
    assert seeds_for_power(mde * 1.001, one_sided=one_sided, paired=paired) <= n
    assert seeds_for_power(mde * 0.999, one_sided=one_sided, paired=paired) > n


def test_minimum_detectable_effect_textbook_and_bounds():
    assert minimum_detectable_effect(3) == pytest.approx(2.48, abs=0.005)
    assert minimum_detectable_effect(64, one_sided=False) == pytest.approx(0.50, abs=0.005)  # Cohen: 64 per arm
    assert minimum_detectable_effect(3) > minimum_detectable_effect(5) > minimum_detectable_effect(20)
    with pytest.raises(ValueError, match="power"):
        minimum_detectable_effect(5, alpha=0.05, power=0.05)
    with pytest.raises(ValueError, match="n must be"):
        minimum_detectable_effect(1)


@pytest.mark.parametrize("d", [0.0, -0.3, 1e-4])
def test_seeds_for_power_none(d):
    assert seeds_for_power(d) is None


def test_seeds_for_power_edges():
    assert seeds_for_power(math.inf) == 2
    assert seeds_for_power(10.0) == 2
    with pytest.raises(ValueError, match="NaN"):
        seeds_for_power(math.nan)
    assert seeds_for_power(0.03) is None and seeds_for_power(0.03, max_n=20_000) > 10_000


@settings(max_examples=30, deadline=None)
@given(st.floats(0.05, 4.0), st.floats(0.05, 4.0))
def test_power_n_decreases_as_d_increases(d1, d2):
    small, large = sorted((d1, d2))
    assert seeds_for_power(small) >= seeds_for_power(large)


# --------------------------------------------------------------------------- variability


def test_prediction_interval_matches_scipy_t_interval():
    xs = [3.30, 3.28, 3.35, 3.31, 3.29]
    n, m, s = len(xs), np.mean(xs), np.std(xs, ddof=1)
    ref = sps.t.interval(0.95, n - 1, loc=m, scale=s * math.sqrt(1 + 1 / n))
    assert prediction_interval(xs) == pytest.approx(ref, rel=1e-12)


def test_prediction_interval_needs_two_values():
    with pytest.raises(ValueError, match="at least 2"):
        prediction_interval([1.0])


def test_prob_within_one_sigma_at_five_seeds():
    p = prob_within_k_sigma(5, 1.0)
    assert p == pytest.approx(0.587, abs=1e-3)  # ANCHORS: about 59%
    assert prob_within_k_sigma(10_000, 1.0) == pytest.approx(sps.norm.cdf(1) - sps.norm.cdf(-1), abs=1e-4)


def test_prob_within_k_sigma_matches_simulation():
    rng = np.random.default_rng(5)
    runs = rng.standard_normal((100_000, 6))
    base, fresh = runs[:, :5], runs[:, 5]
    hit = np.abs(fresh - base.mean(1)) <= base.std(1, ddof=1)
    assert hit.mean() == pytest.approx(prob_within_k_sigma(5, 1.0), abs=0.005)


def test_prob_within_k_sigma_bad_input():
    with pytest.raises(ValueError):
        prob_within_k_sigma(1)
    with pytest.raises(ValueError):
        prob_within_k_sigma(5, -1.0)


def test_prob_improvement_counts_ties_as_half():
    assert prob_improvement([2.0, 3.0], [1.0, 3.0]) == pytest.approx((1 + 1 + 0.5 + 0) / 4)


@pytest.mark.parametrize("control, experimental", WELCH_CASES)
def test_prob_improvement_is_mann_whitney_u_over_pairs(control, experimental):
    u = sps.mannwhitneyu(control, experimental).statistic
    assert prob_improvement(control, experimental) == pytest.approx(u / (len(control) * len(experimental)))


# --------------------------------------------------------------------------- properties


@PROPS
@given(_arm, _arm)
def test_swapping_arms_flips_signs(c, e):
    assert cohens_d(e, c) == pytest.approx(-cohens_d(c, e), rel=1e-9, abs=1e-12)
    assert hedges_g(e, c) == pytest.approx(-hedges_g(c, e), rel=1e-9, abs=1e-12)
    assert compare_arms(e, c).delta == pytest.approx(-compare_arms(c, e).delta, abs=1e-12)
    assert prob_improvement(e, c) == pytest.approx(1 - prob_improvement(c, e))


@PROPS
@given(_arm, _arm, st.floats(-1000.0, 1000.0))
def test_shift_invariance(c, e, shift):
    cs, es = np.add(c, shift), np.add(e, shift)
    assert cohens_d(cs, es) == pytest.approx(cohens_d(c, e), rel=1e-6, abs=1e-6)
    assert welch_test(cs, es).p_one_sided == pytest.approx(welch_test(c, e).p_one_sided, rel=1e-6, abs=1e-6)


@PROPS
@given(_arm, _arm, st.floats(0.01, 100.0))
def test_scale_invariance(c, e, k):
    cs, es = np.multiply(c, k), np.multiply(e, k)
    assert cohens_d(cs, es) == pytest.approx(cohens_d(c, e), rel=1e-9, abs=1e-9)
    assert welch_test(cs, es).p_one_sided == pytest.approx(welch_test(c, e).p_one_sided, rel=1e-9, abs=1e-12)


@PROPS
@given(_arm, _arm)
def test_p_value_range_and_complement(c, e):
    p, q = welch_test(c, e).p_one_sided, welch_test(e, c).p_one_sided
    assert 0.0 <= p <= 1.0
    assert p + q == pytest.approx(1.0, abs=1e-9)


@PROPS
@given(_arm, _arm, st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_ci_contains_point_estimate(c, e, confidence):
    d = cohens_d(c, e)
    assume(abs(d) < 50)
    lo, hi = effect_size_ci(c, e, confidence)
    assert lo < d < hi


# --------------------------------------------------------------------------- compare_arms


def test_compare_arms_fields_and_json():
    control = [3.30, 3.32, 3.31, 3.29, 3.33]
    experimental = [3.27, 3.28, 3.30, 3.26, 3.29]
    baseline = [3.30, 3.31, 3.32, 3.29, 3.31]
    cmp = compare_arms(control, experimental, baseline=baseline)
    assert isinstance(cmp, Comparison)
    assert cmp.delta == pytest.approx(np.mean(control) - np.mean(experimental))
    assert cmp.delta > 0 and cmp.cohens_d > 0 and cmp.p_one_sided < 0.05
    assert cmp.hedges_g == pytest.approx(hedges_correction(5, 5) * cmp.cohens_d)
    assert cmp.baseline_std == pytest.approx(np.std(baseline, ddof=1))
    assert cmp.delta_in_baseline_sigmas == pytest.approx(cmp.delta / cmp.baseline_std)
    assert cmp.seeds_for_power == seeds_for_power(cmp.cohens_d)
    assert cmp.p_one_sided == pytest.approx(
        sps.ttest_ind(control, experimental, equal_var=False, alternative="greater").pvalue
    )


def test_compare_arms_without_baseline_and_worse_idea():
    cmp = compare_arms([1.0, 1.1, 1.2], [1.3, 1.4, 1.5])
    assert cmp.baseline_std is None and cmp.delta_in_baseline_sigmas is None
    assert cmp.delta < 0 and cmp.seeds_for_power is None and cmp.p_one_sided > 0.5
    assert cmp.prob_improvement == 0.0


# --------------------------------------------------------------------------- bug fixes (failing before)

import research_harness.stats as S  # noqa: E402  (new names are looked up on the module)

NEAR_IDENTICAL = ([1.0, 1.0 + 1e-12, 1.0 - 1e-12], [0.9, 0.9 + 1e-12, 0.9])


def _arms_with_t(t: float) -> tuple[list[float], list[float]]:
    """3 v 3 arms with pooled sd 1 whose pooled t statistic is ``t``."""
    d = t * math.sqrt(2 / 3)
    control = [-1.0, 0.0, 1.0]
    return control, [x - d for x in control]


def test_effect_size_ci_near_identical_runs_does_not_raise():
    d = cohens_d(*NEAR_IDENTICAL)
    lo, hi = effect_size_ci(*NEAR_IDENTICAL)
    assert math.isfinite(lo) and math.isfinite(hi) and 0 < lo < d < hi


@pytest.mark.parametrize("t", [1e5, 1e6, 1e9, -1e6])
def test_effect_size_ci_huge_t_matches_asymptotic_inversion(t):
    control, experimental = _arms_with_t(t)
    d = cohens_d(control, experimental)
    lo, hi = effect_size_ci(control, experimental)
    assert math.isfinite(lo) and math.isfinite(hi) and lo < d < hi
    # Large noncentrality: T ~ nc / sqrt(V / df), V ~ chi2(df), written out independently.
    scale, df = math.sqrt(2 / 3), 4
    t_obs = d / scale
    if t_obs > 0:
        ref = (t_obs * math.sqrt(sps.chi2.ppf(0.025, df) / df), t_obs * math.sqrt(sps.chi2.ppf(0.975, df) / df))
    else:
        ref = (t_obs * math.sqrt(sps.chi2.ppf(0.975, df) / df), t_obs * math.sqrt(sps.chi2.ppf(0.025, df) / df))
    assert lo == pytest.approx(ref[0] * scale, rel=1e-5) and hi == pytest.approx(ref[1] * scale, rel=1e-5)


def _exact_ncp(t_obs: float, df: int, q: float) -> float:
    from scipy import optimize
    # Bracket on the near side of t_obs's sign: scipy's nct is NaN where nc and t have opposite signs.
    lo, hi = sorted((t_obs / 10, t_obs * 10))
    return optimize.brentq(lambda nc: sps.nct.cdf(t_obs, df, nc) - q, lo, hi, xtol=1e-12)


@pytest.mark.parametrize("t_obs, df", [(200.0, 4), (-200.0, 4), (200.0, 10), (500.0, 8)])
@pytest.mark.parametrize("q", [0.975, 0.025])
def test_asymptotic_inversion_agrees_with_exact_where_scipy_works(t_obs, df, q):
    assert S._ncp_asymptotic(t_obs, df, q) == pytest.approx(_exact_ncp(t_obs, df, q), rel=1e-3)


_tiny_arm = st.tuples(
    st.floats(-10, 10), st.sampled_from([1e-13, 1e-12, 1e-9, 1e-6, 1e-3, 1.0]),
    st.lists(st.integers(-3, 3), min_size=2, max_size=6),
).map(lambda a: [a[0] + a[1] * k for k in a[2]])


@settings(max_examples=80, deadline=None)
@given(_tiny_arm, _tiny_arm)
def test_effect_size_ci_never_raises_for_tiny_spread(c, e):
    c_arr, e_arr = np.asarray(c), np.asarray(e)
    assume(np.ptp(c_arr) > 0 or np.ptp(e_arr) > 0)
    d = cohens_d(c, e)
    lo, hi = effect_size_ci(c, e)
    assert math.isfinite(lo) and math.isfinite(hi) and lo <= d <= hi and lo < hi


@pytest.mark.parametrize("delta", [1.0, 2.0, 3.0])
def test_effect_size_ci_covers_the_standardized_effect_at_3_vs_3(delta):
    rng = np.random.default_rng(20240 + int(delta))
    draws = 4000
    control = rng.standard_normal((draws, 3)) + delta  # control loss higher by delta sigma: improvement delta
    experimental = rng.standard_normal((draws, 3))
    hits = 0
    for c, e in zip(control, experimental):
        lo, hi = effect_size_ci(c, e)
        hits += lo <= delta <= hi
    assert hits / draws >= 0.93


@pytest.mark.parametrize("n", [1, 0, -3])
def test_t_test_power_rejects_fewer_than_two_seeds(n):
    with pytest.raises(ValueError, match=r"n must be .*>= 2.*got"):
        t_test_power(0.5, n)


def test_power_note_explains_a_missing_seed_count():
    assert compare_arms([1.0, 1.1, 1.2], [1.3, 1.4, 1.5]).power_note == (
        "d <= 0: no number of seeds detects a non-improvement")
    tiny = compare_arms([-1.0, 0.0, 1.0, 0.02], [-1.0, 0.0, 1.0, 0.0])  # 0 < d < 0.035
    assert 0 < tiny.cohens_d < 0.035 and tiny.seeds_for_power is None
    assert tiny.power_note == "more than 10,000 seeds per arm"
    same = compare_arms([1.0, 2.0, 3.0], [3.0, 1.0, 2.0])  # d exactly 0
    assert same.cohens_d == 0.0 and same.power_note == "d <= 0: no number of seeds detects a non-improvement"
    fine = compare_arms(CONTROL_D05, EXPERIMENTAL_D05)
    assert fine.seeds_for_power == 51 and fine.power_note == ""


def test_prob_within_k_sigma_in_sample_textbook():
    # r^2 n / (n-1)^2 ~ Beta(1/2, (n-2)/2): at n=5, k=1, Beta(1/2, 3/2).cdf(5/16) = 0.673.
    assert S.prob_within_k_sigma_in_sample(5, 1.0) == pytest.approx(0.6727, abs=1e-4)
    assert S.prob_within_k_sigma_in_sample(5, 2.0) == 1.0  # |r| <= (n-1)/sqrt(n) = 1.789 always


def test_prob_within_k_sigma_in_sample_matches_simulation():
    rng = np.random.default_rng(17)
    runs = rng.standard_normal((200_000, 5))
    hit = np.abs(runs[:, 0] - runs.mean(1)) <= runs.std(1, ddof=1)
    assert hit.mean() == pytest.approx(S.prob_within_k_sigma_in_sample(5, 1.0), abs=0.005)
    assert hit.mean() > prob_within_k_sigma(5, 1.0) + 0.05  # an in-sample run is not a fresh run


# --------------------------------------------------------------------------- paired and Welch tests

_same_len_arms = st.integers(2, 8).flatmap(lambda n: st.tuples(st.lists(_value, min_size=n, max_size=n),
                                                               st.lists(_value, min_size=n, max_size=n)))


@PROPS
@given(_same_len_arms)
def test_paired_t_matches_scipy_ttest_rel(arms):
    c, e = arms
    diff = np.subtract(c, e)
    assume(np.std(diff, ddof=1) > 1e-6 * max(1.0, np.abs(diff).max()))
    ref = sps.ttest_rel(c, e, alternative="greater")
    test = S.paired_t(c, e)
    assert test.n == len(c) and test.df == len(c) - 1
    assert test.t == pytest.approx(ref.statistic, rel=1e-9, abs=1e-12)
    assert test.p_one_sided == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-15)
    assert test.mean_diff == pytest.approx(np.mean(diff), abs=1e-12)
    assert test.d_z == pytest.approx(np.mean(diff) / np.std(diff, ddof=1), rel=1e-9, abs=1e-12)
    half = sps.t.ppf(0.975, len(c) - 1) * np.std(diff, ddof=1) / math.sqrt(len(c))
    assert test.ci == pytest.approx((np.mean(diff) - half, np.mean(diff) + half), rel=1e-9, abs=1e-12)
    # scipy's interval for alternative="greater" is the one-sided one: (lower bound, inf).
    one_sided_low = ref.confidence_interval(0.95).low
    assert S.one_sided_lower_bound(test, 0.05) == pytest.approx(one_sided_low, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(
    "control, experimental, t, p",
    [([2.0, 3.0, 4.0], [1.0, 2.0, 3.0], math.inf, 0.0), ([1.0, 2.0], [2.0, 3.0], -math.inf, 1.0),
     ([1.0, 2.0, 5.0], [1.0, 2.0, 5.0], 0.0, 0.5)],
)
def test_paired_t_degenerate_differences(control, experimental, t, p):
    test = S.paired_t(control, experimental)
    assert test.t == t and test.d_z == t and test.p_one_sided == p and test.sd_diff == 0.0
    assert test.ci == (test.mean_diff, test.mean_diff)
    assert S.one_sided_lower_bound(test, 0.05) == test.mean_diff


def test_paired_t_needs_aligned_arms():
    with pytest.raises(ValueError, match="3 control and 2 experimental"):
        S.paired_t([1.0, 2.0, 3.0], [1.0, 2.0])


def test_paired_gains_power_from_shared_seeds():
    # Same per-seed shift on very different seeds: Welch sees the seed spread, the paired test does not.
    control = [3.30, 3.10, 3.50]
    experimental = [3.28, 3.07, 3.49]
    assert S.paired_t(control, experimental).p_one_sided < 0.05 < welch_test(control, experimental).p_one_sided


@pytest.mark.parametrize("control, experimental", WELCH_CASES)
def test_welch_test_fields(control, experimental):
    ref = sps.ttest_ind(control, experimental, equal_var=False, alternative="greater")
    test = S.welch_test(control, experimental)
    assert (test.n1, test.n2) == (len(control), len(experimental))
    assert test.mean_diff == pytest.approx(np.mean(control) - np.mean(experimental))
    assert test.se == pytest.approx(math.sqrt(np.var(control, ddof=1) / len(control)
                                              + np.var(experimental, ddof=1) / len(experimental)))
    assert test.t == pytest.approx(ref.statistic) and test.df == pytest.approx(ref.df)
    assert test.p_one_sided == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-15)
    assert S.one_sided_lower_bound(test, 0.05) == pytest.approx(ref.confidence_interval(0.95).low)


@settings(max_examples=100, deadline=None)
@given(_arm, _arm, st.sampled_from([0.001, 0.01, 0.025, 0.05, 0.2, 0.5]), st.booleans())
def test_lower_bound_positive_exactly_when_p_below_alpha(c, e, alpha, paired):
    if paired:
        n = min(len(c), len(e))
        c, e = c[:n], e[:n]
        assume(np.std(np.subtract(c, e), ddof=1) > 1e-6)
        test = S.paired_t(c, e)
    else:
        test = S.welch_test(c, e)
    assume(abs(test.p_one_sided - alpha) > 1e-9)  # away from the exact boundary
    assert (S.one_sided_lower_bound(test, alpha) > 0) == (test.p_one_sided < alpha)


@pytest.mark.parametrize("alpha", [0.0, 0.6, -0.1])
def test_lower_bound_alpha_range(alpha):
    with pytest.raises(ValueError, match="alpha"):
        S.one_sided_lower_bound(S.paired_t([1.0, 2.0, 3.0], [0.5, 1.0, 2.9]), alpha)


# --------------------------------------------------------------------------- batch versions

# Values on a coarse grid make ties, equal arms and zero-spread arms common.
_grid_value = st.one_of(_value, st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0]))


def _rows(rows: int, n: int):
    return st.lists(st.lists(_grid_value, min_size=n, max_size=n), min_size=rows, max_size=rows)


def _batch(paired=False):
    """A batch of 1-6 rows of (control, experimental) arms of 2-7 seeds each."""
    def build(shape):
        rows, n1, n2 = shape
        return st.tuples(_rows(rows, n1), _rows(rows, n1 if paired else n2))
    return st.tuples(st.integers(1, 6), st.integers(2, 7), st.integers(2, 7)).flatmap(build)


def _degenerate_rows(c, e):
    """Append rows with constant arms (experimental lower, equal, higher) and, for equal
    lengths, an experimental arm identical to the control."""
    c, e = np.asarray(c, dtype=float), np.asarray(e, dtype=float)
    n1, n2 = c.shape[1], e.shape[1]
    rows_c = [np.full(n1, 1.5)] * 3
    rows_e = [np.full(n2, v) for v in (0.5, 1.5, 2.5)]
    if n1 == n2:
        rows_c.append(c[0])
        rows_e.append(c[0])
    return np.vstack([c, *rows_c]), np.vstack([e, *rows_e])


def _agree(batch: np.ndarray, scalar: list[float]) -> None:
    for got, want in zip(batch.tolist(), scalar):
        if math.isinf(want) or want == 0.0:
            assert got == want
        else:
            assert got == pytest.approx(want, rel=1e-12, abs=0.0)


@PROPS
@given(_batch())
def test_cohens_d_batch_agrees_with_scalar(arms):
    c, e = _degenerate_rows(*arms)
    _agree(S.cohens_d_batch(c, e), [cohens_d(ci, ei) for ci, ei in zip(c, e)])


@PROPS
@given(_batch(paired=True))
def test_paired_batch_agrees_with_scalar(arms):
    c, e = _degenerate_rows(*arms)
    tests = [S.paired_t(ci, ei) for ci, ei in zip(c, e)]
    _agree(S.paired_p_batch(c, e), [t.p_one_sided for t in tests])
    _agree(S.paired_dz_batch(c, e), [t.d_z for t in tests])


def test_batch_broadcasts_one_control_over_several_arms():
    control = np.array([[3.0, 3.2, 3.1, 3.3]])
    experimental = np.array([[2.9, 3.1, 3.0, 3.1], [3.1, 3.3, 3.0, 3.4], [3.0, 3.2, 3.1, 3.3]])
    d = S.cohens_d_batch(control[:, None, :], experimental[None])
    assert d.shape == (1, 3) and d[0].tolist() == [cohens_d(control[0], x) for x in experimental]
    with pytest.raises(ValueError, match="same seeds"):
        S.paired_p_batch(control, experimental[:, :3])


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_improvement_interval_matches_scipy_for_both_tests(confidence):
    rng = np.random.default_rng(7)
    control, experimental = rng.normal(3.0, 0.02, 6), rng.normal(2.99, 0.03, 6)
    paired = sps.ttest_rel(control, experimental).confidence_interval(confidence)
    welch = sps.ttest_ind(control, experimental, equal_var=False).confidence_interval(confidence)
    assert S.improvement_interval(S.paired_t(control, experimental), confidence) == pytest.approx(
        (paired.low, paired.high), rel=1e-10)
    assert S.improvement_interval(S.welch_test(control, experimental), confidence) == pytest.approx(
        (welch.low, welch.high), rel=1e-10)
    same = [3.0, 3.1, 3.2]
    assert S.improvement_interval(S.paired_t(same, [x - 0.01 for x in same])) == pytest.approx((0.01, 0.01))
