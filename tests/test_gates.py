"""Tests of research_harness.gates: every boundary and every failure message."""

from __future__ import annotations

import math

import numpy as np
import pytest

from research_harness.gates import (
    PEEKING_CAVEAT,
    Decision,
    GateError,
    assert_valid_variance,
    assert_within_sigma,
    decide,
    sequential_false_positive_rate,
    verdict,
)


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


@pytest.mark.parametrize(
    "d, expected",
    [
        (0.5, "WINNER"),
        (below(0.5), "NEUTRAL"),
        (0.0, "NEUTRAL"),
        (float(np.nextafter(-0.2, 0.0)), "NEUTRAL"),
        (-0.2, "LOSER"),
        (-2.0, "LOSER"),
    ],
)
def test_verdict_boundaries(d, expected):
    assert verdict(d) == expected


@pytest.mark.parametrize("gate", [decide, verdict])
def test_nan_effect_raises(gate):
    with pytest.raises(ValueError, match="NaN"):
        gate(math.nan)


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


def test_peeking_caveat_mentions_the_numbers():
    assert "6.9%" in PEEKING_CAVEAT and "5%" in PEEKING_CAVEAT and "3 seeds" in PEEKING_CAVEAT


def test_sequential_false_positive_rate_near_anchor():
    rate = sequential_false_positive_rate(3, 5, alpha=0.05, sims=20_000, seed=0)
    assert rate == sequential_false_positive_rate(3, 5, alpha=0.05, sims=20_000, seed=0)
    assert rate == pytest.approx(0.069, abs=0.006)  # ANCHORS: about 6.9%
    assert rate > 0.05 + 0.01  # clearly above the nominal level


def test_sequential_rate_bad_looks():
    with pytest.raises(ValueError):
        sequential_false_positive_rate(5, 3)
