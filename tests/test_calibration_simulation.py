"""Tests of research_harness.calibration: the simulation is the workflow's own code, and
its figures match ANCHORS and the error-rate goal."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from research_harness.calibration import (
    PRIOR_SIGMAS,
    STUDY_SEEDS,
    draw_studies,
    null_rates,
    run_studies,
    simulate_studies,
)
from research_harness.gates import Decision, EvidenceLevel, assess, confirmation_size, decide
from research_harness.stats import cohens_d
from research_harness.workspace import BASELINE_SEEDS

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / "benchmarks" / "gate_calibration.py"


def _replay(control: np.ndarray, experimental: np.ndarray, confirm: bool, n_confirm: int) -> tuple[int, str]:
    """One study through the scalar code, as the workflow runs it: (idea that proceeded or -1, evidence level)."""
    others: list[float] = []
    for k in range(control.shape[0]):
        arms = [{s: float(v) for s, v in zip(STUDY_SEEDS, arm[k])} for arm in (control, experimental)]

        def look(seeds):
            return tuple({s: arm[s] for s in seeds} for arm in arms)

        looks = [look(BASELINE_SEEDS[:3])]
        gate = decide(cohens_d(*(list(arm.values()) for arm in looks[0])))
        if gate is Decision.SUGGESTIVE:
            looks.append(look(BASELINE_SEEDS))
            gate = decide(cohens_d(*(list(arm.values()) for arm in looks[1])))
        passed = gate is Decision.PROCEED
        evidence = assess(looks, confirm, other_ideas_p=others, passed_gate=passed)
        if not passed:
            others.append(evidence.p_look_adjusted)
            continue
        if confirm:
            fresh = look(STUDY_SEEDS[len(BASELINE_SEEDS):len(BASELINE_SEEDS) + n_confirm])
            evidence = assess([*looks, None][:2] + [fresh], confirm, other_ideas_p=others, passed_gate=True)
        return k, evidence.level.value
    return -1, EvidenceLevel.NOT_SUPPORTED.value


@pytest.mark.parametrize("confirm", [False, True])
@pytest.mark.parametrize("effect, rho, shared", [(0.0, 0.5, True), (1.0, 0.0, True), (1.5, 0.5, False)])
def test_simulation_replays_the_scalar_workflow(confirm, effect, rho, shared):
    control, experimental = draw_studies(effect, 150, rho=rho, n_fresh=8, seed=3, shared_control=shared)
    batch = run_studies(control, experimental, confirm=confirm, n_confirm=7)
    replayed = [_replay(c, e, confirm, 7) for c, e in zip(control, experimental)]
    assert batch["paper_idea"].tolist() == [k for k, _ in replayed]
    assert batch["confirmed"].tolist() == [level == "confirmed" for _, level in replayed]
    assert batch["not_confirmed"].tolist() == [level == "not confirmed" for _, level in replayed]
    if confirm:  # the cases are not trivial
        assert 0 < batch["confirmed"].sum() < (batch["paper_idea"] >= 0).sum()
    else:
        assert not batch["confirmed"].any() and {level for _, level in replayed} <= {"preliminary", "not supported"}


def test_the_confirmation_uses_only_fresh_seeds():
    """Exploratory seeds that look excellent do not confirm; the fresh seeds alone decide."""
    c = np.zeros((1, 3, 11))
    e = np.zeros((1, 3, 11))
    e[0, 0, :5] = [-1.0, -1.1, -0.9, -1.0, -1.0]  # the gate's seeds: a huge improvement
    e[0, 0, 5:] = [0.1, -0.1, 0.2, -0.2, 0.05, -0.05]  # fresh seeds: nothing
    out = run_studies(np.broadcast_to(c, e.shape), e, n_confirm=6)
    assert out["paper_idea"].tolist() == [0] and out["not_confirmed"].tolist() == [True]
    e[0, 0, 5:] += 1.0  # fresh seeds all worse: reversed
    out = run_studies(np.broadcast_to(c, e.shape), e, n_confirm=6)
    assert out["reversed"].tolist() == [True] and not out["confirmed"].any()


def test_control_arm_is_shared_by_the_ideas_of_a_study():
    control, experimental = draw_studies(0.3, 50, rho=0.5, seed=1)
    assert control.shape == experimental.shape == (50, 3, 15)
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


@pytest.mark.parametrize("rho", [0.0, 0.5])
def test_confirmed_claims_under_no_effect_stay_below_alpha(rho):
    n = 60_000
    rates = simulate_studies(0.0, n, rho=rho, seed=21)
    bound = 0.05
    assert rates["p_confirmed"] <= bound + 3 * math.sqrt(bound * (1 - bound) / n), rates["p_confirmed"]
    # The fresh seeds make it exact: P(confirmed) = P(paper) * alpha, whatever the gate selected.
    expected = rates["p_paper"] * 0.05
    assert rates["p_confirmed"] == pytest.approx(expected, abs=4 * math.sqrt(expected / n))
    assert abs(rates["mean_fresh_d_of_papers"]) < 0.02 < 0.8 < rates["mean_gate_d_of_papers"]  # selection bias
    skipped = simulate_studies(0.0, 20_000, confirm=False, rho=rho, seed=21)
    assert skipped["p_confirmed"] == 0 and skipped["p_paper"] > 0.4  # the gate alone is no guarantee


def test_the_default_confirms_a_true_one_sigma_improvement_half_the_time():
    """Done-when of issue 15: 1 sigma, arms correlated 0.5, sized from the catalogue's prior."""
    rates = simulate_studies(1.0, 50_000, rho=0.5, seed=31)
    assert rates["planned_sigmas"] == PRIOR_SIGMAS and rates["n_confirm"] == confirmation_size(PRIOR_SIGMAS)[0]
    assert rates["p_confirmed"] >= 0.5
    assert rates["mean_extra_control_runs"] > 0 == simulate_studies(1.0, 5000, confirm=False)["mean_extra_control_runs"]


def test_simulation_is_deterministic_and_validates_input():
    assert simulate_studies(0.5, 2000, seed=4) == simulate_studies(0.5, 2000, seed=4)
    assert simulate_studies(0.5, 2000, seed=4) != simulate_studies(0.5, 2000, seed=5)
    for kwargs, match in [({"n_studies": 0}, "n_studies"), ({"rho": 1.0}, "rho"), ({"rho": -0.1}, "rho"),
                          ({"max_confirm_seeds": 5}, "max_seeds"), ({"max_confirm_seeds": 51}, "max_seeds")]:
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
    for option in ("--studies", "--rho", "--no-confirm", "--max-confirm-seeds", "--planned-sigmas", "--seed", "--json"):
        assert option in out


@pytest.mark.parametrize("args, option", [(("--studies", "-5"), "--studies"), (("--studies", "0"), "--studies"),
                                          (("--rho", "1.0"), "--rho"), (("--rho", "-0.2"), "--rho"),
                                          (("--max-confirm-seeds", "5"), "--max-confirm-seeds"),
                                          (("--planned-sigmas", "0"), "--planned-sigmas")])
def test_cli_rejects_bad_values(cli, capsys, args, option):
    with pytest.raises(SystemExit) as info:
        cli.main(list(args))
    err = capsys.readouterr().err
    assert info.value.code == 2 and f"argument {option}" in err and err.count("error:") == 1


def test_cli_json_and_table(cli, capsys):
    assert cli.main(["--studies", "3000", "--json"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert sorted(data) == ["0", "0.2", "0.5", "1", "2", "design"] and "took" in captured.err
    design = data["design"]
    assert design["confirm"] is True and design["planned_sigmas"] == PRIOR_SIGMAS
    assert design["n_confirm"] == confirmation_size(PRIOR_SIGMAS)[0] and "catalogue" in design["planned_from"]
    for key, value in data.items():
        if key != "design":
            assert {"p_paper", "p_confirmed", "p_reversed"} <= set(value) <= set(value) | {"no_confirm"}
            assert value["no_confirm"]["p_confirmed"] == 0
    assert data["0"]["p_confirmed"] == simulate_studies(0.0, 3000, rho=0.5, seed=0)["p_confirmed"]
    assert data["0"]["no_confirm"]["p_paper"] == simulate_studies(0.0, 3000, confirm=False)["p_paper"]
    assert cli.main(["--studies", "2000", "--no-confirm"]) == 0
    table = capsys.readouterr().out
    assert "P(confirmed) per study" in table and "--research-no-confirm" in table and "default:" not in table
    assert "took" in table


def test_cli_runs_as_a_script_from_the_repo_root():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's package, not another installed copy
    out = subprocess.run([sys.executable, "benchmarks/gate_calibration.py", "--studies", "500", "--json"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert set(json.loads(out.stdout)) == {"design", "0", "0.2", "0.5", "1", "2"}
