"""The pytest plugin end to end with pytester: options, phase selection, the baseline
report in the workflow's format, reuse of stored runs, and a kill between seeds."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--research-tokens", "3000", "--research-preset", "tiny", "-p", "no:cacheprovider"]


@pytest.fixture
def study(pytester, data_dir):
    """A fresh workspace holding the project's phase modules."""
    shutil.copytree(ROOT / "experiments", pytester.path / "experiments", ignore=shutil.ignore_patterns("__pycache__"))
    return pytester


def test_options_are_registered(pytester):
    result = pytester.runpytest("--help")
    for option in ("--research-report", "--research-dir", "--research-tokens", "--research-preset", "--research-device"):
        result.stdout.fnmatch_lines([f"*{option}*"])


def test_bad_option_values_are_usage_errors(pytester):
    result = pytester.runpytest("--research-tokens", "-3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--research-tokens must be positive*"])
    result = pytester.runpytest("--research-preset", "huge")
    result.stderr.fnmatch_lines(["*--research-preset 'huge' is unknown*"])


def test_k_baseline_selects_phase_1_with_seed_ids(study):
    result = study.runpytest_subprocess("experiments", "-k", "baseline", "--collect-only", "-q", *ARGS)
    out = result.stdout.str()
    assert "test_baseline[seed=137]" in out and "test_smoke_run" not in out and "TestIdea1" not in out
    result = study.runpytest_subprocess("experiments", "-m", "research_baseline", "--collect-only", "-q", *ARGS)
    out = result.stdout.str()
    assert "test_baseline[seed=1024]" in out and "test_smoke_run" not in out


def test_baseline_phase_writes_the_seed_report_then_reuses_everything(study):
    result = study.runpytest_subprocess("experiments", "-k", "baseline", "--research-report", *ARGS)
    result.assert_outcomes(passed=7)
    report = (study.path / "docs/research/baseline_variance_3k.md").read_text()
    lines = report.splitlines()
    assert lines[0] == "# Baseline Variance Report: 3k Tokens"
    assert lines[1] == "| Metric | Mean | Std | Min | Max |"
    assert lines[2] == "|--------|------|-----|-----|-----|"
    assert lines[3].startswith("| val_loss | ") and len(lines[3].split("|")[2].strip().split(".")[1]) == 4
    assert lines[4].startswith("| wall_time (s) | ") and len(lines[4].split("|")[2].strip().split(".")[1]) == 2
    assert "Seeds used: 42, 137, 256, 512, 1024" in report
    assert "Not the research scale" in report
    records = list((study.path / "runs").glob("*.json"))
    assert len(records) == 5
    assert not list((study.path / "checkpoints").glob("baseline_*"))  # cleaned up; records stay
    stamps = {p: p.stat().st_mtime_ns for p in records}

    again = study.runpytest_subprocess("experiments", "-k", "baseline", "-rs", *ARGS)
    again.assert_outcomes(passed=2, skipped=5)
    again.stdout.fnmatch_lines(["*holds valid 5-seed data of this code and data: phase 1 is skipped*"])
    assert {p: p.stat().st_mtime_ns for p in records} == stamps

    # A report made by other code is not reused: the session says why, and phase 1 runs (from the store).
    report_path = study.path / "docs/research/baseline_variance_3k.md"
    text = report_path.read_text()
    code_fp = re.search(r"Code fingerprint: `(\w+)`", text).group(1)
    first_key = re.search(r"\| 42 \|.*`(\w+)` \|", text).group(1)
    report_path.write_text(text.replace(code_fp, "0123456789abcdef").replace(first_key, "f" * 20))
    other = study.runpytest_subprocess("experiments", "-k", "baseline", *ARGS)
    other.assert_outcomes(passed=7)
    other.stdout.fnmatch_lines(["*not reused*its code fingerprint is not the current*phase 1 runs again*"])
    assert "0123456789abcdef" not in report_path.read_text()

    # An invalid report is named and rebuilt from the stored records, without training.
    (study.path / "docs/research/baseline_variance_3k.md").write_text("# Baseline Variance Report\nnonsense\n")
    rebuilt = study.runpytest_subprocess("experiments", "-k", "baseline", *ARGS)
    rebuilt.assert_outcomes(passed=7)
    rebuilt.stdout.fnmatch_lines(["*baseline*42*stored*"])
    assert "trained" not in " ".join(l for l in rebuilt.stdout.lines if l.startswith("baseline "))
    assert "Seeds used: 42, 137, 256, 512, 1024" in (study.path / "docs/research/baseline_variance_3k.md").read_text()


def test_kill_between_seeds_loses_no_finished_seed(study):
    cmd = [sys.executable, "-m", "pytest", "experiments", "-k", "baseline", *ARGS]
    runs = study.path / "runs"
    proc = subprocess.Popen(cmd, cwd=study.path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ}, start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and len(list(runs.glob("*.json"))) < 1:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p: p.read_text() for p in runs.glob("*.json")}
    assert 1 <= len(finished) < 5, "the kill should land between seeds"
    result = study.runpytest_subprocess("experiments", "-k", "baseline", *ARGS)
    result.assert_outcomes(passed=7)
    out = result.stdout.str()
    assert out.count(" stored ") == len(finished) and out.count(" trained ") == 5 - len(finished)
    for path, text in finished.items():
        assert path.read_text() == text  # finished seeds are neither retrained nor rewritten


def test_corrupt_record_is_reported_by_path_and_left_alone(study):
    study.runpytest_subprocess("experiments/test_phase1_baseline.py::test_baseline[seed=42]", *ARGS).assert_outcomes(passed=1)
    record = next((study.path / "runs").glob("*.json"))
    record.write_text("{ not json")
    result = study.runpytest_subprocess("experiments/test_phase1_baseline.py::test_baseline[seed=42]", *ARGS)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*run record {record}*cannot be read*delete it to retrain*"])
    assert record.read_text() == "{ not json"


def test_loading_the_plugin_imports_no_torch(pytester):
    probe = subprocess.run([sys.executable, "-c", "import research_harness.plugin, sys; print('torch' in sys.modules)"],
                           capture_output=True, text=True, timeout=120)
    assert probe.stdout.strip() == "False", probe.stderr
    # An unrelated project's session pays nothing for the installed plugin either.
    pytester.makepyfile("import sys\n\ndef test_light():\n    assert 'torch' not in sys.modules\n")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


@pytest.mark.parametrize("args, message", [
    (["--research-device", "tpu"], "--research-device 'tpu' is not one of: auto, cpu, cuda, cuda:N, mps"),
    (["--research-tokens", "lots"], "--research-tokens must be a whole number, got 'lots'"),
    (["--research-tokens", "0"], "--research-tokens must be positive, got 0"),
    (["--research-agent", "oracle"], "--research-agent 'oracle' is unknown; choose one of: catalogue, anthropic, openai"),
    (["--research-agent-seed", "x"], "--research-agent-seed must be a whole number, got 'x'"),
    (["--research-max-confirm-seeds", "5"], "--research-max-confirm-seeds must be between 6 and 50, got 5"),
    (["--research-max-confirm-seeds", "51"], "--research-max-confirm-seeds must be between 6 and 50, got 51"),
    (["--research-confirm"], "confirmation on fresh seeds is now the default (skip it with --research-no-confirm"),
    (["--research-max-seeds", "8"], "cap its seeds with --research-max-confirm-seeds N"),
    (["--research-calibration-studies", "0"], "--research-calibration-studies must be positive, got 0"),
    (["--research-executor", "slurm"], "--research-executor 'slurm' is unknown; choose one of: local, ray"),
    (["--research-ray-cpus", "-1"], "--research-ray-cpus must be positive, got -1"),
    (["--research-sandbox", "docker"], "--research-sandbox 'docker' is unknown; choose one of: bwrap, none"),
])
def test_each_bad_option_value_is_one_usage_error(study, args, message):
    result = study.runpytest_subprocess("experiments", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert not (study.path / "runs").exists()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_a_gpu_is_a_usage_error(study):
    result = study.runpytest_subprocess("experiments", "--research-device", "cuda")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--research-device cuda was asked for, but torch sees no CUDA GPU*"])


def test_research_dir_in_the_ini_file_is_relative_to_it(pytester):
    pytester.makeini("[pytest]\nresearch_dir = workspace_here\n")
    sub = pytester.mkdir("sub")
    (sub / "test_where.py").write_text(
        "def test_where(research):\n    print('RESEARCH_DIR=' + str(research.settings.research_dir))\n")
    result = pytester.runpytest_subprocess(str(sub / "test_where.py"), "-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*RESEARCH_DIR={pytester.path / 'workspace_here'}"])


def test_xdist_is_refused_on_the_workflow(study):
    pytest.importorskip("xdist", reason="the [test] extra installs pytest-xdist")
    result = study.runpytest_subprocess("experiments", "-n", "2", *ARGS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "pytest-xdist cannot run experiments/" in result.stdout.str() + result.stderr.str()
    assert not (study.path / "runs").exists()


def test_two_sessions_on_one_workspace_train_each_run_once(study):
    """Two real pytest processes, the same selection, one workspace: every baseline run
    is trained by exactly one of them, the other waits and reuses it; neither errors."""
    cmd = [sys.executable, "-m", "pytest", "experiments", "-k", "baseline", *ARGS]
    procs = [subprocess.Popen(cmd, cwd=study.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    for proc, out in zip(procs, outs):
        assert proc.returncode == 0, out
    rows = [line for out in outs for line in out.splitlines() if re.match(r"baseline\s+\d+\s+\d", line)]
    assert len(rows) == 10  # each session reports all five seeds
    trained = [line.split()[-1] for line in rows if " trained " in line]
    assert sorted(trained) == sorted({line.split()[-1] for line in rows})  # each run key trained exactly once
    assert len(list((study.path / "runs").glob("*.json"))) == 5
    assert "Seeds used: 42, 137, 256, 512, 1024" in (study.path / "docs/research/baseline_variance_3k.md").read_text()


def test_hooks_see_each_stored_run_once_and_each_report(study):
    (study.path / "conftest.py").write_text(
        "import json\n"
        "def pytest_research_run_stored(record, config):\n"
        "    with open('stored.txt', 'a') as fh:\n"
        "        fh.write(record['run_key'] + ' ' + str(record['seed']) + '\\n')\n"
        "def pytest_research_report_written(path, config):\n"
        "    with open('reports.txt', 'a') as fh:\n"
        "        fh.write(str(path) + '\\n')\n")
    study.runpytest_subprocess("experiments", "-k", "baseline", "--research-report", *ARGS).assert_outcomes(passed=7)
    stored = (study.path / "stored.txt").read_text().split("\n")[:-1]
    assert len(stored) == 5 == len(set(stored))  # baseline_variance asks again: still once per run
    assert {line.split()[0] for line in stored} == {p.stem for p in (study.path / "runs").glob("*.json")}
    assert "baseline_variance_3k.md" in (study.path / "reports.txt").read_text()


def test_the_a_a_calibration_runs_only_when_asked_and_reports_its_false_positive_rate(study):
    collected = study.runpytest_subprocess("experiments", "--collect-only", "-q", *ARGS).stdout.str()
    assert "test_null_repetition" not in collected and "deselected" in collected
    result = study.runpytest_subprocess("experiments", "-m", "research_calibration", "--research-calibration-studies",
                                        "2", "-rs", *ARGS)
    result.assert_outcomes(passed=3)
    report = (study.path / "docs/research/calibration_3k.md").read_text()
    assert "| P(paper) per idea | " in report and "/2 = " in report and "Simulated decision code" in report
    results = json.loads((study.path / "docs/research/calibration/aa_3k.json").read_text())
    runs = {p.stem for p in (study.path / "runs").glob("*.json")}
    assert [r["rep"] for r in results["repetitions"]] == [1, 2]
    assert len(runs) == sum(2 * len(r["seeds"]) for r in results["repetitions"])  # both arms, each seed once
    assert all(r["seeds"][0] >= 100_000 for r in results["repetitions"])  # its own seeds, not the study's
