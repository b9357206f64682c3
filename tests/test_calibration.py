"""Tests of research_harness.calibration: the simulation is the workflow's own code, and
its figures match ANCHORS and the error-rate goal."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from research_harness.calibration import draw_studies, null_rates, run_studies, simulate_studies
from research_harness.gates import (
    SEED_SEQUENCE,
    Decision,
    EvidenceLevel,
    assess,
    confirmation_seeds,
    decide,
    evidence_test,
)
from research_harness.stats import cohens_d

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / "benchmarks" / "gate_calibration.py"


def _replay(control: np.ndarray, experimental: np.ndarray, confirm: bool, max_seeds: int) -> tuple[int, bool]:
    """One study through the scalar code, as the workflow runs it: (paper idea or -1, confirmed)."""
    others: list[float] = []
    for k in range(control.shape[0]):
        arms = [{s: float(v) for s, v in zip(SEED_SEQUENCE, arm[k])} for arm in (control, experimental)]

        def look(n: int):
            return tuple({s: arm[s] for s in SEED_SEQUENCE[:n]} for arm in arms)

        looks = [look(3)]
        gate = decide(cohens_d(*(list(arm.values()) for arm in looks[0])))
        if gate is Decision.SUGGESTIVE:
            looks.append(look(5))
            gate = decide(cohens_d(*(list(arm.values()) for arm in looks[1])))
        passed = gate is Decision.PROCEED
        evidence = assess(looks, confirm, other_ideas_p=others, passed_gate=passed)
        if not passed:
            others.append(evidence.p_look_adjusted)
            continue
        if confirm and evidence.level is EvidenceLevel.PRELIMINARY:
            last = evidence_test(*looks[-1])
            added = confirmation_seeds(list(last.seeds), last, max_seeds=max_seeds)
            if added:
                looks = [*looks, None][:2] + [look(len(last.seeds) + len(added))]
                evidence = assess(looks, confirm, other_ideas_p=others, passed_gate=True)
        return k, evidence.level is EvidenceLevel.CONFIRMED
    return -1, False


@pytest.mark.parametrize("confirm", [False, True])
@pytest.mark.parametrize("effect, rho, shared", [(0.0, 0.5, True), (1.0, 0.0, True), (1.5, 0.5, False)])
def test_simulation_replays_the_scalar_workflow(confirm, effect, rho, shared):
    control, experimental = draw_studies(effect, 150, rho=rho, max_seeds=10, seed=3, shared_control=shared)
    batch = run_studies(control, experimental, confirm=confirm, max_seeds=10)
    replayed = [_replay(c, e, confirm, 10) for c, e in zip(control, experimental)]
    assert batch["paper_idea"].tolist() == [k for k, _ in replayed]
    assert batch["confirmed"].tolist() == [ok for _, ok in replayed]
    assert 0 < batch["confirmed"].sum() < (batch["paper_idea"] >= 0).sum()  # the cases are not trivial


def test_holm_step_down_lets_a_later_idea_confirm():
    # Idea 0: every seed 0.01 lower, p ~ 2e-5 but d = 0.01 (noise). Idea 1: d = 0.88, p = 0.0101, so its
    # look-adjusted p is 0.0202: Holm (factor 2, second rank) confirms it, Bonferroni (factor 3) would not.
    c = np.array([0.0, 1.0, -1.0, 0.5, -0.5, 0.2, -0.2, 0.8, -0.8, 0.1])
    e0 = c - 0.01 - 1e-4 * np.array([0, 1, -1, 2, -2, 1, -1, 0, 1, -1])
    e1 = c - np.array([0.8, 1.0, 0.6, 0.9, 0.7, 0.8, 0.8, 0.8, 0.8, 0.8])
    control = np.broadcast_to(c, (1, 3, 10))
    experimental = np.stack([e0, e1, e1])[None]
    out = run_studies(control, experimental)
    assert out["paper_idea"].tolist() == [1] and out["confirmed"].tolist() == [True]
    assert _replay(control[0], experimental[0], False, 10) == (1, True)


def test_control_arm_is_shared_by_the_ideas_of_a_study():
    control, experimental = draw_studies(0.3, 50, rho=0.5, seed=1)
    assert control.shape == experimental.shape == (50, 3, 10)
    assert np.array_equal(control[:, 0], control[:, 2]) and not np.array_equal(experimental[:, 0], experimental[:, 1])
    independent, _ = draw_studies(0.3, 50, rho=0.5, seed=1, shared_control=False)
    assert not np.array_equal(independent[:, 0], independent[:, 1])


def test_between_arm_correlation_and_effect_sign():
    control, experimental = draw_studies(0.7, 20_000, rho=0.5, seed=2)
    c, e = control[:, 0].ravel(), experimental[:, 0].ravel()
    assert np.corrcoef(c, e)[0, 1] == pytest.approx(0.5, abs=0.02)
    assert c.mean() - e.mean() == pytest.approx(0.7, abs=0.02)  # effect > 0: the experimental loss is lower
    assert c.std() == pytest.approx(1.0, abs=0.02)


def test_anchors_gate_rates_under_no_effect():
    # ANCHORS: independent arms, 3 v 3 then 5 v 5: 31.9% of ideas and 68% of 3-idea studies write a paper.
    rates = simulate_studies(0.0, 100_000, rho=0.0, shared_control=False, seed=11)
    assert rates["p_paper_per_idea"] == pytest.approx(0.319, abs=0.015)
    assert rates["p_paper"] == pytest.approx(0.68, abs=0.015)
    # The workflow's shared baseline correlates the ideas: fewer studies reach a paper than 68%.
    shared = simulate_studies(0.0, 100_000, rho=0.0, seed=11)
    assert shared["p_paper_per_idea"] == pytest.approx(0.319, abs=0.015)
    assert shared["p_paper"] < 0.62
    # ANCHORS: a between-arm correlation of 0.5 lowers the gate's null pass rate to about 25%.
    assert simulate_studies(0.0, 50_000, rho=0.5, seed=12)["p_paper_per_idea"] == pytest.approx(0.25, abs=0.015)


@pytest.mark.parametrize("confirm", [False, True])
@pytest.mark.parametrize("rho", [0.0, 0.5])
def test_confirmed_claims_under_no_effect_stay_below_alpha(confirm, rho):
    n = 60_000
    rates = simulate_studies(0.0, n, confirm=confirm, rho=rho, seed=21)
    for key, bound in (("p_confirmed", 0.05), ("p_confirmed_per_idea", 0.05 / 3)):
        p = rates[key]
        assert p <= bound + 3 * math.sqrt(bound * (1 - bound) / n), (key, p)
    assert rates["p_paper"] > 10 * rates["p_confirmed"]  # the gate alone is no such guarantee


def test_confirm_mode_buys_power_at_a_large_effect():
    default = simulate_studies(2.0, 20_000, confirm=False, rho=0.5, seed=31)
    confirm = simulate_studies(2.0, 20_000, confirm=True, rho=0.5, seed=31)
    assert default["p_paper"] == confirm["p_paper"]  # the decision is the same in both modes
    assert confirm["p_confirmed"] > default["p_confirmed"] + 0.4
    assert confirm["mean_extra_control_runs"] > 0 == default["mean_extra_control_runs"]


def test_simulation_is_deterministic_and_validates_input():
    assert simulate_studies(0.5, 2000, seed=4) == simulate_studies(0.5, 2000, seed=4)
    assert simulate_studies(0.5, 2000, seed=4) != simulate_studies(0.5, 2000, seed=5)
    for kwargs, match in [({"n_studies": 0}, "n_studies"), ({"rho": 1.0}, "rho"), ({"rho": -0.1}, "rho"),
                          ({"max_seeds": 4}, "max_seeds"), ({"max_seeds": 51}, "max_seeds")]:
        args = {"effect": 0.0, "n_studies": 10, **kwargs}
        with pytest.raises(ValueError, match=match):
            simulate_studies(args.pop("effect"), args.pop("n_studies"), **args)


def test_null_rates_cached_fast_and_a_copy():
    start = time.perf_counter()
    rates = null_rates(rho=0.25)
    first = time.perf_counter() - start
    start = time.perf_counter()
    again = null_rates(rho=0.25)
    assert time.perf_counter() - start < 0.01 and first < 1.5
    assert rates == again and rates is not again and rates["effect"] == 0.0 and rates["n_studies"] == 20_000
    rates["p_paper"] = -1
    assert null_rates(rho=0.25)["p_paper"] >= 0


# --------------------------------------------------------------------------- the CLI


@pytest.fixture(scope="module")
def cli():
    """The CLI script loaded as a module, so most checks skip a new interpreter."""
    spec = importlib.util.spec_from_file_location("gate_calibration", CLI)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_help(cli, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--studies", "--rho", "--confirm", "--max-seeds", "--seed", "--json"):
        assert option in out


@pytest.mark.parametrize("args, option", [(("--studies", "-5"), "--studies"), (("--studies", "0"), "--studies"),
                                          (("--rho", "1.0"), "--rho"), (("--rho", "-0.2"), "--rho"),
                                          (("--max-seeds", "4"), "--max-seeds")])
def test_cli_rejects_bad_values(cli, capsys, args, option):
    with pytest.raises(SystemExit) as info:
        cli.main(list(args))
    err = capsys.readouterr().err
    assert info.value.code == 2 and f"argument {option}" in err and err.count("error:") == 1


def test_cli_json_and_table(cli, capsys):
    assert cli.main(["--studies", "3000", "--json"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert sorted(data) == ["0", "0.2", "0.5", "1", "2"] and "took" in captured.err
    for value in data.values():
        assert {"p_paper", "p_confirmed"} <= set(value) and {"p_paper", "p_confirmed"} <= set(value["confirm"])
    assert data["0"]["p_paper"] == simulate_studies(0.0, 3000, rho=0.5, seed=0)["p_paper"]
    assert data["0"]["confirm"]["p_confirmed"] == simulate_studies(0.0, 3000, confirm=True, rho=0.5)["p_confirmed"]
    assert cli.main(["--studies", "2000", "--confirm"]) == 0
    table = capsys.readouterr().out
    assert "P(confirmed) per study" in table and "confirm mode" in table and "default mode" not in table
    assert "took" in table


def test_cli_runs_as_a_script_from_the_repo_root():
    out = subprocess.run([sys.executable, "benchmarks/gate_calibration.py", "--studies", "500", "--json"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert set(json.loads(out.stdout)) == {"0", "0.2", "0.5", "1", "2"}
