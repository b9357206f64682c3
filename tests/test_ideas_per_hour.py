"""benchmarks/ideas_per_hour.py at the tiny preset: it drives phase 1 and two phase-2
studies through pytest (built-in ideas in-process; one model-written idea, served by the
scripted OpenAI-compatible server, trained in the bubblewrap sandbox) and its figures must
agree with the workspaces it leaves behind: the run records and the journals."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KEYS = {"preset", "tokens", "device", "sandbox", "confirm", "agent_seed", "phase1_wall_s", "model_tasks",
        "ideas_judged", "confirmations", "phase2_wall_s", "ideas_per_hour", "confirmation_runs_s",
        "ideas_per_hour_without_confirmation", "seconds_per_run", "time_split_s", "studies", "workdir"}


@pytest.fixture(scope="module")
def figures(tmp_path_factory, data_dir, require_sandbox):
    pytest.importorskip("openai", reason="needs the [agent] extra: pip install 'research_harness[agent]'")
    work = tmp_path_factory.mktemp("iph") / "work"
    out = work.parent / "figures.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ideas_per_hour.py"), "--preset", "tiny",
                           "--tokens", "2048", "--device", "cpu", "--no-confirm", "--workdir", str(work),
                           "--json", str(out)], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text()), proc.stdout, work


def test_the_figures_have_every_key_and_ideas_were_judged(figures):
    fig, stdout, _ = figures
    assert set(fig) == KEYS
    assert fig["preset"] == "tiny" and fig["tokens"] == 2048 and fig["device"]["type"] == "cpu"
    assert fig["ideas_judged"] > 0 and fig["confirmations"] == 0 and fig["confirmation_runs_s"] == 0
    assert fig["ideas_per_hour"] == pytest.approx(3600 * fig["ideas_judged"] / fig["phase2_wall_s"])
    assert f"{fig['ideas_per_hour']:.1f} ideas judged per hour" in stdout
    assert {"propose", "review", "refine", "implement"} <= set(fig["model_tasks"])


def test_both_kinds_of_run_have_positive_seconds_and_their_parts_sum(figures):
    fig, _, _ = figures
    runs = [r for s in fig["studies"] for r in s["runs"]]
    for kind, parts in (("in-process", {"setup", "compile", "training", "evaluation"}),
                        ("sandboxed", {"sandbox_start", "child_start_up", "setup", "compile", "training", "export",
                                       "parent_evaluation"})):
        mine = [r for r in runs if r["kind"] == kind]
        k = fig["seconds_per_run"][kind]
        assert k["runs"] == len(mine) > 0 and k["mean_s"] > 0 and k["min_s"] > 0
        assert k["total_s"] == pytest.approx(sum(r["seconds"] for r in mine))
        assert set(k["parts_s"]) == parts
        for r in mine:
            assert set(r["parts"]) == parts and r["seconds"] > 0
            assert sum(r["parts"].values()) == pytest.approx(r["seconds"], abs=1e-9)
        assert sum(k["parts_s"].values()) == pytest.approx(k["total_s"])
    sandboxed = [r for r in runs if r["kind"] == "sandboxed"]
    assert all(r["parts"][p] > 0 for r in sandboxed for p in ("sandbox_start", "export", "parent_evaluation"))
    # The study process's clock bounds what the records say: phase 2's wall is their sum plus
    # what no record explains, and that remainder is not negative.
    split = fig["time_split_s"]
    assert sum(split.values()) == pytest.approx(fig["phase2_wall_s"])
    assert split["other"] > 0 and split["sandbox_jobs"] > 0 and split["model_calls"] > 0
    for s in fig["studies"]:
        assert s["run_s"] + s["sandbox_jobs_s"] + s["model_calls_s"] + s["other_s"] == pytest.approx(s["wall_s"])


def test_the_figures_are_those_of_the_workspaces_records_and_journals(figures):
    fig, _, work = figures
    builtin, model = fig["studies"]
    assert (builtin["name"], model["name"]) == ("built-in", "model-written")
    assert all(r["kind"] == "in-process" for r in builtin["runs"])
    assert {i["written_by"] for i in builtin["ideas"]} == {"built-in"}
    journal = json.loads((work / "model-written" / "docs" / "research" / "journal_2048.json").read_text())
    entry = journal["entries"][0]
    assert entry["implementation"]["generated"] and [i["idea"] for i in model["ideas"]] == [entry["idea"]]
    # Exactly the model's idea trained in the sandbox: its verification rerun and its experimental arm.
    exp_keys = set(entry["runs"]["exp"].values())
    assert {r["run_key"] for r in model["runs"] if r["kind"] == "sandboxed"} == exp_keys | {
        entry["verification"]["rerun_key"]}
    record = json.loads((work / "model-written" / "runs" / f"{sorted(exp_keys)[0]}.json").read_text())
    assert record["executor"] == "sandbox" and record["sandbox"]["child_s"] > 0 and record["sandbox"]["export_s"] > 0
    assert math.isclose(record["wall_time"]["eval_s"], record["sandbox"]["evaluation_s"], abs_tol=1e-3)
    judged = sum(any(d["look"] == 1 or d["look"] == 0 and d["decision"] != "suggestive" for d in e["decisions"])
                 for w in ("builtin", "model-written")
                 for e in json.loads((work / w / "docs/research/journal_2048.json").read_text())["entries"])
    assert fig["ideas_judged"] == judged == builtin["ideas_judged"] + model["ideas_judged"]
    # The baseline trained once, in phase 1: no phase-2 run is a baseline run of a gate seed.
    assert not [r for s in fig["studies"] for r in s["runs"] if r["arm"] == "baseline" and r["seed"] < 10_000]
