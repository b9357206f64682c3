"""Tests of research_harness.gates: every boundary and every failure message."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from research_harness import gates as G
from research_harness.gates import (
    ALPHA,
    DECISIONS,
    SEED_SEQUENCE,
    Decision,
    EvidenceLevel,
    GateError,
    assert_valid_variance,
    assert_within_sigma,
    assess,
    confirmation_n_batch,
    confirmation_seeds,
    decide,
    decide_batch,
    evidence_test,
    format_effect,
    holm,
    holm_batch,
    journal_status,
    look_adjusted_p,
    look_weights,
    peeking_caveat,
    verdict_words,
)
from research_harness.stats import one_sided_lower_bound

PROPS = settings(max_examples=100, deadline=None)


def below(x: float) -> float:
    return float(np.nextafter(x, -math.inf))


@pytest.mark.parametrize(
    "d, expected",
    [
        (-math.inf, Decision.NOISE),
        (-1.0, Decision.NOISE),
        (0.0, Decision.NOISE),
        (below(0.2), Decision.NOISE),
        (0.2, Decision.SUGGESTIVE),
        (0.35, Decision.SUGGESTIVE),
        (below(0.5), Decision.SUGGESTIVE),
        (0.5, Decision.PROCEED),
        (3.0, Decision.PROCEED),
        (math.inf, Decision.PROCEED),
    ],
)
def test_decide_boundaries(d, expected):
    assert decide(d) is expected


def test_decision_values_are_strings():
    assert Decision.NOISE == "noise" and Decision("proceed") is Decision.PROCEED


def test_nan_effect_raises():
    with pytest.raises(ValueError, match="NaN"):
        decide(math.nan)
    with pytest.raises(ValueError, match="NaN"):
        decide_batch(np.array([0.3, math.nan]))


_d = st.one_of(st.floats(allow_nan=False), st.sampled_from([0.2, 0.5, -0.2, below(0.2), below(0.5), 0.0]))


@PROPS
@given(st.lists(_d, min_size=1, max_size=20))
def test_decide_batch_agrees_with_decide(ds):
    codes = decide_batch(np.array(ds))
    assert codes.dtype == np.int8
    assert [DECISIONS[c] for c in codes.tolist()] == [decide(d) for d in ds]


def test_decide_batch_keeps_shape():
    assert decide_batch(np.array([[0.1, 0.3], [0.5, -1.0]])).tolist() == [[0, 1], [2, 0]]


@pytest.mark.parametrize(
    "d, text",
    [(0.496, "0.496"), (0.5, "0.50"), (0.1999, "0.1999"), (1.234, "1.23"), (0.2, "0.20"), (-0.2, "-0.20"),
     (-0.1999, "-0.1999"), (0.49961234, "0.4996"), (0.19951, "0.1995"), (-0.1999951, "-0.199995"),
     (0.4999999, "0.4999999"), (below(0.5), repr(below(0.5))), (0.0, "0.00"),
     (math.inf, "inf"), (-math.inf, "-inf"), (math.nan, "n/a")],
)
def test_format_effect(d, text):
    assert format_effect(d) == text


def _sides(x: float) -> tuple[bool, bool, bool]:
    return (x >= 0.2, x >= 0.5, x <= -0.2)


@PROPS
@given(st.one_of(st.floats(allow_nan=False), st.floats(-0.21, 0.51), st.sampled_from([below(0.2), below(0.5)])))
def test_format_effect_never_crosses_a_threshold(d):
    text = format_effect(d)
    assert _sides(float(text)) == _sides(d)
    if math.isfinite(d) and abs(d) < 1e6:
        assert float(text) == pytest.approx(d, abs=0.005)


BASELINE = [3.30, 3.32, 3.31, 3.29, 3.33]  # mean 3.31, std 0.0158


def test_within_sigma_passes_and_returns_distance():
    std = np.std(BASELINE, ddof=1)
    assert assert_within_sigma(3.31, BASELINE) == pytest.approx(0.0, abs=1e-9)
    assert assert_within_sigma(3.31 + 0.5 * std, BASELINE) == pytest.approx(0.5)
    assert assert_within_sigma(3.31 - 1.5 * std, BASELINE, k=2.0) == pytest.approx(1.5)


def test_within_sigma_failure_message_shows_numbers():
    with pytest.raises(GateError) as info:
        assert_within_sigma(3.36, BASELINE, k=1.0, what="flag-off val_loss")
    msg = str(info.value)
    for part in ("flag-off val_loss", "3.36", "3.31", "0.01581", "n=5", "k=1", "3.162 sigma", "Fix:"):
        assert part in msg, (part, msg)
    assert isinstance(info.value, AssertionError)


def test_within_sigma_non_finite_value():
    with pytest.raises(GateError, match="nan is not finite"):
        assert_within_sigma(math.nan, BASELINE)


def test_within_sigma_zero_std_baseline():
    assert assert_within_sigma(3.0, [3.0, 3.0, 3.0]) == 0.0
    with pytest.raises(GateError, match="inf sigma"):
        assert_within_sigma(3.1, [3.0, 3.0, 3.0])


def test_within_sigma_needs_two_baseline_runs():
    with pytest.raises(GateError, match="at least 2"):
        assert_within_sigma(3.0, [3.0])


def test_valid_variance_passes():
    s = assert_valid_variance(BASELINE)
    assert s.n == 5 and s.std > 0


def test_valid_variance_wrong_count():
    with pytest.raises(GateError, match="expected exactly 5 runs, got 3"):
        assert_valid_variance([1.0, 2.0, 3.0])
    assert assert_valid_variance([1.0, 2.0, 3.0], n=3).n == 3


def test_valid_variance_zero_std_message():
    with pytest.raises(GateError) as info:
        assert_valid_variance([3.3] * 5)
    msg = str(info.value)
    assert "std across 5 runs is 0" in msg and "mean 3.3" in msg and "Fix:" in msg


def test_valid_variance_non_finite():
    with pytest.raises(GateError, match="non-finite value nan"):
        assert_valid_variance([3.3, 3.2, math.nan, 3.1, 3.0])


NULL_RATES = {"rho": 0.5, "p_paper_first_look_per_idea": 0.2345, "p_paper_per_idea": 0.2512, "p_paper": 0.5818,
              "p_confirmed": 0.0061}


def test_peeking_caveat_words_the_measured_figures():
    text = peeking_caveat(NULL_RATES)
    for part in ("23.4%", "25.1%", "58.2%", "0.6%", "correlation 0.5", "3 seeds", "Cohen's d", "alpha = 0.05"):
        assert part in text, (part, text)
    assert "6.9% instead of 5%" in text and "does not" in text  # the p-value figure is named as not applying
    changed = peeking_caveat({**NULL_RATES, "p_paper": 0.7})
    assert "70.0%" in changed and "58.2%" not in changed


# --------------------------------------------------------------------------- the evidence test of a look

CONTROL3 = {42: 3.30, 137: 3.10, 256: 3.50}
STRONG3 = {42: 3.10, 137: 2.899, 256: 3.301}  # every seed about 0.2 nats lower: d ~ 1, paired p ~ 1e-4
WEAK3 = {42: 3.05, 137: 3.15, 256: 3.15}  # d ~ 0.9 but the per-seed differences disagree: p ~ 0.2


def test_evidence_test_is_paired_when_the_arms_share_seeds():
    look = evidence_test(CONTROL3, STRONG3)
    seeds = [42, 137, 256]
    ref = sps.ttest_rel([CONTROL3[s] for s in seeds], [STRONG3[s] for s in seeds], alternative="greater")
    assert look.decided_by == "paired t" and look.test is look.paired and look.seeds == (42, 137, 256)
    assert look.p == pytest.approx(ref.pvalue) and look.power_effect == look.paired.d_z
    assert look.welch.p_one_sided == pytest.approx(
        sps.ttest_ind(list(CONTROL3.values()), list(STRONG3.values()), equal_var=False, alternative="greater").pvalue)


def test_evidence_test_pairs_by_seed_not_by_insertion_order():
    shuffled = {256: STRONG3[256], 42: STRONG3[42], 137: STRONG3[137]}
    assert evidence_test(CONTROL3, shuffled).p == evidence_test(CONTROL3, STRONG3).p


def test_evidence_test_pairs_only_the_same_seeds():
    other_seeds = {42: 3.10, 137: 2.899, 512: 3.301}  # as many runs, but seed 512 instead of 256
    look = evidence_test(CONTROL3, other_seeds)
    assert look.paired is None and look.decided_by == "Welch t" and look.seeds == (42, 137, 256, 512)


def test_evidence_test_falls_back_to_welch_when_seeds_differ():
    diverged = {42: 3.10, 137: 2.899}  # seed 256 diverged
    look = evidence_test(CONTROL3, diverged)
    assert look.paired is None and look.decided_by == "Welch t" and look.test is look.welch
    assert look.seeds == (42, 137, 256) and look.power_effect == look.cohens_d
    assert look.p == pytest.approx(sps.ttest_ind(list(CONTROL3.values()), list(diverged.values()),
                                                 equal_var=False, alternative="greater").pvalue)
    with pytest.raises(ValueError, match="at least 2 seeds"):
        evidence_test(CONTROL3, {42: 3.1})


# --------------------------------------------------------------------------- looks and the idea family


def test_look_weights_are_pre_registered_and_spend_alpha_once():
    assert look_weights(False) == (0.5, 0.5)
    assert look_weights(True) == (0.25, 0.25, 0.5)
    assert sum(look_weights(False)) == sum(look_weights(True)) == 1.0


@pytest.mark.parametrize(
    "pvalues, confirm, expected",
    [([0.03], False, (0.06, 0)), ([0.03, 0.02], False, (0.04, 1)), ([0.6, 0.9], False, (1.0, 0)),
     ([0.01, None, 0.004], True, (0.008, 2)), ([0.001, 0.5, 0.004], True, (0.004, 0))],
)
def test_look_adjusted_p(pvalues, confirm, expected):
    p, j = look_adjusted_p(pvalues, confirm)
    assert (p, j) == (pytest.approx(expected[0]), expected[1])


def test_look_adjusted_p_rejects_looks_the_design_does_not_allow():
    with pytest.raises(ValueError, match="allows 2"):
        look_adjusted_p([0.1, 0.1, 0.1], confirm=False)
    with pytest.raises(ValueError, match="no look"):
        look_adjusted_p([None, None], confirm=False)


@pytest.mark.parametrize(
    "pvalues, m, expected",
    [
        # Textbook: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.06.
        ((0.01, 0.04, 0.03, 0.005), None, (0.03, 0.06, 0.06, 0.02)),
        ((0.01,), 3, (0.03,)),  # one idea tried of 3: Bonferroni's factor 3
        ((0.02, 0.5), 3, (0.06, 1.0)),
        ((0.04, 0.01), 3, (0.08, 0.03)),  # 3 * 0.01, then max(0.03, 2 * 0.04)
        ((0.2, 0.2, 0.2), None, (0.6, 0.6, 0.6)),  # ties share the first rank's factor
        ((), 3, ()),
    ],
)
def test_holm_textbook(pvalues, m, expected):
    assert holm(pvalues, m) == pytest.approx(expected)
    assert holm_batch(np.array([pvalues]).reshape(1, len(pvalues)), m)[0].tolist() == pytest.approx(list(expected))


def test_holm_rejects_bad_input():
    with pytest.raises(ValueError, match="3 members but 4"):
        holm([0.1] * 4, 3)
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        holm([0.1, math.nan])


def _step_down_rejects(p: list[float], alpha: float) -> set[int]:
    """Holm (1979) as a procedure: reject in increasing p while p_(i) <= alpha / (m - i)."""
    rejected = set()
    for i, idx in enumerate(sorted(range(len(p)), key=lambda k: p[k])):
        if p[idx] > alpha / (len(p) - i):
            break
        rejected.add(idx)
    return rejected


_pvals = st.lists(st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 0.01, 0.05, 1.0])), min_size=1, max_size=6)


@PROPS
@given(_pvals, st.integers(0, 3))
def test_holm_properties(p, extra):
    m = len(p) + extra
    adjusted = holm(p, m)
    assert all(raw <= adj <= 1.0 for raw, adj in zip(p, adjusted))
    order = sorted(range(len(p)), key=lambda i: p[i])
    assert all(adjusted[a] <= adjusted[b] for a, b in zip(order, order[1:]))
    assert holm(p, m) == holm([*p, *[1.0] * extra])[: len(p)]  # missing members are p = 1
    assert holm_batch(np.array([p]), m)[0].tolist() == list(adjusted)


@PROPS
@given(_pvals, st.sampled_from([0.01, 0.05, 0.1, 0.2]))
def test_holm_adjusted_p_reproduces_the_step_down_procedure(p, alpha):
    adjusted = holm(p)
    assume(all(abs(a - alpha) > 1e-12 for a in adjusted))
    assert {i for i, a in enumerate(adjusted) if a <= alpha} == _step_down_rejects(p, alpha)


# --------------------------------------------------------------------------- the evidence level


def test_assess_confirms_a_consistent_strong_improvement():
    ev = assess([(CONTROL3, STRONG3)])
    p = evidence_test(CONTROL3, STRONG3).p
    assert ev.level is EvidenceLevel.CONFIRMED and ev.decided_by == "paired t" and ev.deciding_look == 0
    assert ev.p_look_adjusted == pytest.approx(2 * p)  # look 0 of (3, 5) gets half of alpha
    assert ev.p_family_adjusted == pytest.approx(6 * p)  # Holm over 3 pre-registered ideas, 2 untried
    assert ev.alpha_effective == pytest.approx(0.05 / 6)
    assert ev.lower_bound == pytest.approx(one_sided_lower_bound(evidence_test(CONTROL3, STRONG3).paired, 0.05 / 6))
    assert ev.lower_bound > 0 and "nats" in ev.reason


def test_assess_gate_pass_without_evidence_is_preliminary():
    assert decide(evidence_test(CONTROL3, WEAK3).cohens_d) is Decision.PROCEED
    ev = assess([(CONTROL3, WEAK3)])
    assert ev.level is EvidenceLevel.PRELIMINARY and ev.p_family_adjusted >= ALPHA and ev.lower_bound <= 0
    assert "not confirmed" in ev.reason


def test_assess_failed_gate_is_not_supported_whatever_the_p():
    ev = assess([(CONTROL3, STRONG3)], passed_gate=False)
    assert ev.level is EvidenceLevel.NOT_SUPPORTED and ev.p_family_adjusted < ALPHA
    small = {s: v - 0.01 for s, v in CONTROL3.items()}  # every seed 0.01 lower: d = 0.05, p = 0
    assert assess([(CONTROL3, small)]).level is EvidenceLevel.NOT_SUPPORTED


def test_assess_other_ideas_enter_holm():
    p_look = assess([(CONTROL3, STRONG3)]).p_look_adjusted
    ev = assess([(CONTROL3, STRONG3)], other_ideas_p=[p_look / 10, 0.9])
    assert ev.p_family_adjusted == pytest.approx(max(3 * p_look / 10, 2 * p_look))
    assert ev.alpha_effective == pytest.approx(0.5 * 0.05 / 2)  # second rank: Holm's factor 2
    with pytest.raises(ValueError, match="at most 3 ideas"):
        assess([(CONTROL3, STRONG3)], other_ideas_p=[0.5, 0.5, 0.5])


def test_assess_holm_step_down_needs_the_smaller_idea_first():
    # p = 0.0101 at 3 seeds: look-adjusted 0.0202 < 0.05 and its own factor-2 bound is positive, but the
    # idea with the smaller p (0.018) is not significant (3 * 0.018 >= 0.05), so Holm stops before this one.
    experimental = {42: 3.10, 137: 2.85, 256: 3.35}
    ev = assess([(CONTROL3, experimental)], other_ideas_p=[0.018])
    assert ev.p_look_adjusted == pytest.approx(0.0202, abs=2e-4) and ev.lower_bound > 0
    assert ev.p_family_adjusted == pytest.approx(0.054) and ev.level is EvidenceLevel.PRELIMINARY
    # With a clearly significant smaller idea (3 * 0.001 < 0.05) Holm's factor 2 confirms it; alone
    # (first rank, factor 3: 0.0606) it would not be.
    assert assess([(CONTROL3, experimental)], other_ideas_p=[0.001]).level is EvidenceLevel.CONFIRMED
    assert assess([(CONTROL3, experimental)]).level is EvidenceLevel.PRELIMINARY


def test_assess_second_and_confirmation_looks():
    control5 = {**CONTROL3, 512: 3.2, 1024: 3.4}
    exp5 = {**WEAK3, 512: 3.0, 1024: 3.2}
    ev = assess([(CONTROL3, WEAK3), (control5, exp5)])
    p3, p5 = evidence_test(CONTROL3, WEAK3).p, evidence_test(control5, exp5).p
    assert ev.p_look_adjusted == pytest.approx(min(1.0, 2 * p3, 2 * p5))
    seeds = SEED_SEQUENCE[:8]
    control8 = {s: 3.2 + 0.1 * math.sin(s) for s in seeds}
    exp8 = {s: v - 0.1 - 0.01 * math.cos(s) for s, v in control8.items()}
    ev = assess([(CONTROL3, WEAK3), None, (control8, exp8)], confirm=True)
    p8 = evidence_test(control8, exp8).p
    assert ev.deciding_look == 2 and ev.p_look_adjusted == pytest.approx(2 * p8)
    assert ev.alpha_effective == pytest.approx(0.5 * 0.05 / 3) and ev.level is EvidenceLevel.CONFIRMED
    with pytest.raises(ValueError, match="allows 2"):
        assess([(CONTROL3, WEAK3), None, (control8, exp8)], confirm=False)


@PROPS
@given(st.lists(st.floats(-0.3, 0.3), min_size=3, max_size=3), st.floats(-0.2, 0.4),
       st.lists(st.floats(0.0, 1.0), max_size=2))
def test_confirmed_needs_both_the_gate_and_the_family_adjusted_p(noise, shift, others):
    experimental = {s: CONTROL3[s] - shift + 0.05 * z for s, z in zip(CONTROL3, noise)}
    look = evidence_test(CONTROL3, experimental)
    assume(look.paired.sd_diff > 1e-9)
    ev = assess([(CONTROL3, experimental)], other_ideas_p=others)
    assume(abs(ev.p_family_adjusted - ALPHA) > 1e-9)
    passed = decide(look.cohens_d) is Decision.PROCEED
    assert (ev.level is EvidenceLevel.CONFIRMED) == (passed and ev.p_family_adjusted < ALPHA)
    assert (ev.level is EvidenceLevel.NOT_SUPPORTED) == (not passed)
    if ev.level is EvidenceLevel.CONFIRMED:
        assert ev.lower_bound > 0


@pytest.mark.parametrize(
    "decision, level, final, status",
    [
        ("proceed", "confirmed", False, "Validated"),
        ("proceed", "preliminary", False, "Proceeded (preliminary)"),
        ("proceed", "preliminary", True, "Proceeded (preliminary)"),
        ("noise", "not supported", False, "Failed"),
        ("noise", "not supported", True, "Failed"),
        ("suggestive", "not supported", False, "Testing"),
        ("suggestive", "not supported", True, "Inconclusive"),
    ],
)
def test_journal_status(decision, level, final, status):
    assert journal_status(Decision(decision), EvidenceLevel(level), final=final) == status
    assert journal_status(decision, level, final) == status


def test_confirmed_level_needs_a_proceeding_gate():
    with pytest.raises(ValueError, match="cannot carry confirmed"):
        journal_status(Decision.NOISE, EvidenceLevel.CONFIRMED)
    with pytest.raises(ValueError, match="cannot carry confirmed"):
        verdict_words(Decision.SUGGESTIVE, EvidenceLevel.CONFIRMED)


def test_verdict_words_claim_only_confirmed_improvements():
    assert verdict_words(Decision.PROCEED, EvidenceLevel.CONFIRMED) == "confirmed improvement"
    assert verdict_words(Decision.PROCEED, EvidenceLevel.PRELIMINARY) == (
        "preliminary: passed the seed's gate, not confirmed")
    for decision in ("noise", "suggestive"):
        words = verdict_words(decision, "not supported")
        assert words.startswith("not supported") and decision in words
    for decision, level in [("proceed", "preliminary"), ("noise", "not supported"), ("suggestive", "not supported")]:
        assert "WINNER" not in verdict_words(decision, level) and "confirmed improvement" not in verdict_words(
            decision, level)


# --------------------------------------------------------------------------- sizing the confirmation look


def test_seed_sequence_extends_the_workflow_seeds():
    assert SEED_SEQUENCE[:10] == (42, 137, 256, 512, 1024, 2048, 3072, 4096, 5120, 6144)
    assert len(SEED_SEQUENCE) == len(set(SEED_SEQUENCE)) == 50


def _paired_power(d_z: float, n: int, alpha: float) -> float:
    return sps.nct.sf(sps.t.ppf(1 - alpha, n - 1), n - 1, d_z * math.sqrt(n))


def test_confirmation_seeds_smallest_n_with_80_percent_power():
    control = {s: 3.2 + 0.05 * math.sin(s) for s in SEED_SEQUENCE[:5]}
    experimental = {s: v - 0.05 - 0.03 * math.cos(3 * s) for s, v in control.items()}
    observed = evidence_test(control, experimental)
    alpha = 0.5 * 0.05 / 3
    d_z = observed.paired.d_z
    n = next(n for n in range(6, 11) if _paired_power(d_z, n, alpha) >= 0.8)
    assert _paired_power(d_z, n - 1, alpha) < 0.8  # the textbook check of the choice
    added = confirmation_seeds(list(control), observed, max_seeds=10)
    assert added == list(SEED_SEQUENCE[5:n]) and 6 <= n <= 10


def test_confirmation_seeds_caps_and_weak_effects():
    weak = evidence_test(CONTROL3, WEAK3)
    assert confirmation_seeds([42, 137, 256], weak, max_seeds=10) == list(SEED_SEQUENCE[3:10])
    assert confirmation_seeds(SEED_SEQUENCE[:10], weak, max_seeds=10) == []
    worse = evidence_test(WEAK3, CONTROL3)
    assert confirmation_seeds([42, 137, 256], worse, max_seeds=7) == list(SEED_SEQUENCE[3:7])
    with pytest.raises(ValueError, match="max_seeds"):
        confirmation_seeds([42], weak, max_seeds=51)


def test_confirmation_seeds_welch_uses_the_two_sample_power():
    diverged = {42: 3.10, 137: 2.95}
    observed = evidence_test(CONTROL3, diverged)
    alpha = 0.5 * 0.05 / 3

    def power(n: int) -> float:
        return sps.nct.sf(sps.t.ppf(1 - alpha, 2 * n - 2), 2 * n - 2, observed.cohens_d * math.sqrt(n / 2))

    n = next((n for n in range(4, 21) if power(n) >= 0.8), 20)
    assert len(confirmation_seeds([42, 137, 256], observed, max_seeds=20)) == n - 3


def _observed(effect: float, paired: bool) -> G.EvidenceTest:
    """An EvidenceTest whose power effect is ``effect`` (only that field matters for sizing)."""
    look = evidence_test(CONTROL3, STRONG3 if paired else {42: 3.1, 137: 2.9})
    if paired:
        return replace(look, paired=replace(look.paired, d_z=effect))
    return G.EvidenceTest(seeds=look.seeds, paired=None, welch=look.welch, cohens_d=effect)


@PROPS
@given(st.lists(st.one_of(st.floats(-3, 12), st.sampled_from([0.0, math.inf, -math.inf, math.nan])), min_size=1,
                max_size=8), st.sampled_from([3, 5, 9, 10]), st.booleans(), st.sampled_from([5, 10, 20]))
def test_confirmation_batch_agrees_with_scalar(effects, current, paired, max_seeds):
    observed = [_observed(e, paired) for e in effects]
    current_seeds = list(SEED_SEQUENCE[:current])
    batch = confirmation_n_batch(np.array(effects), current, paired=paired, max_seeds=max_seeds)
    for n, obs in zip(batch.tolist(), observed):
        assert n == current + len(confirmation_seeds(current_seeds, obs, max_seeds=max_seeds))
