"""Facts about the runs behind a report (research_harness/facts.py): wall times may be
compared only when runs of identical code on the same device, one after another, ran at
throughputs within MAX_TPS_SPREAD of each other."""

from __future__ import annotations

from helpers.fixtures_paper import make_record

from research_harness.facts import MAX_TPS_SPREAD, run_facts

TPS = 5_000.0


def _runs(second_tps: float, *, flags=()) -> list[dict]:
    """Two sequential runs of identical code on one device, the second at `second_tps` tokens/s."""
    first = make_record(42, 5.1, started="2026-11-26T12:00:00+00:00", finished="2026-11-26T12:03:00+00:00")
    second = make_record(137, 5.2, flags=flags, started="2026-11-26T12:04:00+00:00",
                         finished="2026-11-26T12:07:00+00:00")
    first["tokens_per_s"], second["tokens_per_s"] = TPS, second_tps
    return [first, second]


def test_identical_code_within_the_throughput_spread_is_comparable():
    for tps in (TPS, TPS * MAX_TPS_SPREAD * 0.95, TPS / (MAX_TPS_SPREAD * 0.95)):
        facts = run_facts(_runs(tps))
        assert facts.same_hardware and facts.sequential
        assert facts.wall_times_comparable, tps
        assert facts.wall_time_reason() == ""


def test_identical_code_beyond_the_throughput_spread_is_not_comparable():
    for tps in (TPS * MAX_TPS_SPREAD * 1.05, TPS / (MAX_TPS_SPREAD * 1.05)):
        facts = run_facts(_runs(tps))
        assert facts.same_hardware and facts.sequential and len(facts.executors) == 1  # only the spread is wrong
        assert facts.tps_spread > MAX_TPS_SPREAD
        assert not facts.wall_times_comparable, tps
        assert facts.wall_time_reason() == "runs of identical code differ in throughput by more than the allowed factor"


def test_the_spread_is_taken_among_runs_of_identical_code_only():
    # An idea may well train at half the speed: that is a result, not a disturbed machine.
    facts = run_facts(_runs(TPS / 2, flags=("value_residual",)))
    assert facts.tps_spread == 1.0
    assert facts.wall_times_comparable
