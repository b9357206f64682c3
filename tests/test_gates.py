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
    Decision,
    EvidenceLevel,
    GateError,
    assert_valid_variance,
    assess,
    confirmation_power,
    confirmation_size,
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
from research_harness.workspace import CONFIRMATION_SEEDS, MAX_CONFIRM_SEEDS, MIN_CONFIRM_SEEDS

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
    assert [list(Decision)[c] for c in codes.tolist()] == [decide(d) for d in ds]  # codes in order


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


def test_look_weights_split_alpha_over_the_gates_two_looks():
    assert look_weights() == (0.5, 0.5) and sum(look_weights()) == 1.0


@pytest.mark.parametrize(
    "pvalues, expected",
    [([0.03], (0.06, 0)), ([0.03, 0.02], (0.04, 1)), ([0.6, 0.9], (1.0, 0)), ([None, 0.004], (0.008, 1))],
)
def test_look_adjusted_p(pvalues, expected):
    p, j = look_adjusted_p(pvalues)
    assert (p, j) == (pytest.approx(expected[0]), expected[1])


def test_look_adjusted_p_rejects_looks_the_gate_does_not_take():
    with pytest.raises(ValueError, match="allows 2"):
        look_adjusted_p([0.1, 0.1, 0.1])
    with pytest.raises(ValueError, match="no look"):
        look_adjusted_p([None, None])


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


FRESH = CONFIRMATION_SEEDS[:6]
FRESH_CONTROL = {s: 3.2 + 0.1 * math.sin(s) for s in FRESH}
FRESH_BETTER = {s: v - 0.1 - 0.01 * math.cos(s) for s, v in FRESH_CONTROL.items()}  # every fresh seed ~0.1 lower
FRESH_WORSE = {s: v + 0.1 + 0.01 * math.cos(s) for s, v in FRESH_CONTROL.items()}  # reversed


def test_the_gates_seeds_never_confirm():
    """Exploratory seeds chose the idea: even p ~ 1e-4 on them leaves the result preliminary."""
    ev = assess([(CONTROL3, STRONG3)])
    p = evidence_test(CONTROL3, STRONG3).p
    assert ev.level is EvidenceLevel.PRELIMINARY and ev.decided_by == "paired t" and ev.deciding_look == 0
    assert ev.p_look_adjusted == pytest.approx(2 * p)  # look 0 of the gate's two gets half of alpha
    assert ev.p_family_adjusted == pytest.approx(6 * p) and ev.p_family_adjusted < ALPHA  # Holm over 3 pre-registered ideas, 2 untried
    assert ev.alpha_effective == pytest.approx(0.05 / 6)
    assert ev.lower_bound == pytest.approx(one_sided_lower_bound(evidence_test(CONTROL3, STRONG3).paired, 0.05 / 6))
    assert "has not run yet" in ev.reason and "descriptive" in ev.reason and not ev.confirmation
    skipped = assess([(CONTROL3, STRONG3)], confirm=False)
    assert skipped.level is EvidenceLevel.PRELIMINARY and "--research-no-confirm" in skipped.reason


def test_confirmation_on_fresh_seeds_decides_alone_at_alpha():
    ev = assess([(CONTROL3, WEAK3), None, (FRESH_CONTROL, FRESH_BETTER)])
    ref = sps.ttest_rel([FRESH_CONTROL[s] for s in FRESH], [FRESH_BETTER[s] for s in FRESH], alternative="greater")
    assert ev.level is EvidenceLevel.CONFIRMED and ev.confirmation and ev.deciding_look == 2
    assert ev.p_look_adjusted == ev.p_family_adjusted == pytest.approx(ref.pvalue)  # one test: no correction
    assert ev.alpha_effective == ALPHA and not ev.reversed
    paired = evidence_test(FRESH_CONTROL, FRESH_BETTER).paired
    assert ev.lower_bound == pytest.approx(one_sided_lower_bound(paired, ALPHA)) and ev.lower_bound > 0
    assert ev.effect_nats == pytest.approx(paired.mean_diff) and "fresh seeds" in ev.reason
    # The other ideas' exploratory p do not enter the confirmatory test.
    assert assess([(CONTROL3, WEAK3), None, (FRESH_CONTROL, FRESH_BETTER)], other_ideas_p=[0.9, 0.9]) == ev


def test_a_reversed_confirmation_is_reported_as_reversed():
    ev = assess([(CONTROL3, STRONG3), None, (FRESH_CONTROL, FRESH_WORSE)])
    assert ev.level is EvidenceLevel.NOT_CONFIRMED and ev.reversed and ev.effect_nats < 0
    assert "reversed" in ev.reason and ev.lower_bound < 0
    noisy = {s: FRESH_CONTROL[s] + (0.05 if i % 2 else -0.06) for i, s in enumerate(FRESH)}  # lost, not reversed
    lost = assess([(CONTROL3, STRONG3), None, (FRESH_CONTROL, noisy)])
    assert lost.level is EvidenceLevel.NOT_CONFIRMED and not lost.reversed and "not confirmed" in lost.reason
    assert verdict_words("proceed", "not confirmed", True) == "not confirmed: the effect reversed on fresh seeds"


def test_a_confirmation_needs_the_gate_and_the_design():
    assert assess([(CONTROL3, STRONG3), None, (FRESH_CONTROL, FRESH_BETTER)],
                  passed_gate=False).level is EvidenceLevel.NOT_SUPPORTED
    with pytest.raises(ValueError, match="no-confirm"):
        assess([(CONTROL3, STRONG3), None, (FRESH_CONTROL, FRESH_BETTER)], confirm=False)


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


def test_assess_second_look_enters_the_exploratory_p():
    control5 = {**CONTROL3, 512: 3.2, 1024: 3.4}
    exp5 = {**WEAK3, 512: 3.0, 1024: 3.2}
    ev = assess([(CONTROL3, WEAK3), (control5, exp5)])
    p3, p5 = evidence_test(CONTROL3, WEAK3).p, evidence_test(control5, exp5).p
    assert ev.p_look_adjusted == pytest.approx(min(1.0, 2 * p3, 2 * p5))


@PROPS
@given(st.lists(st.floats(-0.3, 0.3), min_size=6, max_size=6), st.floats(-0.2, 0.4), st.booleans(),
       st.lists(st.floats(0.0, 1.0), max_size=2))
def test_confirmed_exactly_when_the_gate_passed_and_the_fresh_test_rejects(noise, shift, passed, others):
    fresh_exp = {s: FRESH_CONTROL[s] - shift + 0.05 * z for s, z in zip(FRESH, noise)}
    test = evidence_test(FRESH_CONTROL, fresh_exp)
    assume(test.paired.sd_diff > 1e-9 and abs(test.p - ALPHA) > 1e-9)
    ev = assess([(CONTROL3, STRONG3), None, (FRESH_CONTROL, fresh_exp)], other_ideas_p=others, passed_gate=passed)
    assert (ev.level is EvidenceLevel.CONFIRMED) == (passed and test.p < ALPHA)
    assert (ev.level is EvidenceLevel.NOT_CONFIRMED) == (passed and test.p >= ALPHA)
    if passed:
        assert (ev.lower_bound > 0) == (ev.level is EvidenceLevel.CONFIRMED)


@pytest.mark.parametrize(
    "decision, level, final, status",
    [
        ("proceed", "confirmed", False, "Validated"),
        ("proceed", "not confirmed", False, "Not confirmed"),
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
    for level in ("confirmed", "not confirmed"):
        with pytest.raises(ValueError, match=f"cannot carry {level}"):
            journal_status(Decision.NOISE, level)
        with pytest.raises(ValueError, match=f"cannot carry {level}"):
            verdict_words(Decision.SUGGESTIVE, level)


def test_verdict_words_claim_only_confirmed_improvements():
    assert verdict_words(Decision.PROCEED, EvidenceLevel.CONFIRMED) == "confirmed improvement (on fresh seeds)"
    assert verdict_words(Decision.PROCEED, EvidenceLevel.PRELIMINARY) == (
        "preliminary: passed the workflow's gate, not confirmed")
    for decision in ("noise", "suggestive"):
        words = verdict_words(decision, "not supported")
        assert words.startswith("not supported") and decision in words
    for decision, level in [("proceed", "preliminary"), ("proceed", "not confirmed"), ("noise", "not supported"),
                            ("suggestive", "not supported")]:
        assert "WINNER" not in verdict_words(decision, level) and "confirmed improvement" not in verdict_words(
            decision, level)


# --------------------------------------------------------------------------- sizing the confirmation


def test_confirmation_seeds_are_fresh():
    from research_harness.discovery.aa import SEED_BASE
    from research_harness.workspace import BASELINE_SEEDS

    assert len(CONFIRMATION_SEEDS) == len(set(CONFIRMATION_SEEDS)) == 50
    assert not set(CONFIRMATION_SEEDS) & set(BASELINE_SEEDS) and max(CONFIRMATION_SEEDS) < SEED_BASE


def _paired_power(d_z: float, n: int) -> float:
    return sps.nct.sf(sps.t.ppf(0.95, n - 1), n - 1, d_z * math.sqrt(n))


@pytest.mark.parametrize("sigmas", [0.9, 1.2, 1.5, 2.0])
def test_confirmation_size_is_the_smallest_n_with_80_percent_power(sigmas):
    d_z = sigmas / math.sqrt(2)  # sized for independent arms
    n, why = confirmation_size(sigmas, 50)
    assert _paired_power(d_z, n) >= 0.8 and (n == MIN_CONFIRM_SEEDS or _paired_power(d_z, n - 1) < 0.8)
    assert confirmation_power(d_z, n) == pytest.approx(_paired_power(d_z, n))
    assert f"{n} seeds per arm" in why and f"{sigmas:.3g} baseline sigma" in why


def test_confirmation_size_textbook_and_bounds():
    # d_z = 1 (sigmas sqrt 2): 8 pairs give 81.5% power one-sided at 0.05 (G*Power), 7 give 75.4%.
    assert confirmation_size(math.sqrt(2))[0] == 8
    assert confirmation_size(10.0)[0] == MIN_CONFIRM_SEEDS  # a large planned effect: the minimum
    n, why = confirmation_size(0.3)
    assert n == MAX_CONFIRM_SEEDS and "capped" in why
    for planned in (None, 0.0, -1.0, math.nan):
        assert confirmation_size(planned, 12)[0] == 12
    with pytest.raises(ValueError, match="max_seeds"):
        confirmation_size(1.0, 5)
    with pytest.raises(ValueError, match="max_seeds"):
        confirmation_size(1.0, 51)
