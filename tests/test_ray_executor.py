"""The ray executor against a real local Ray (2 CPUs) on the tiny preset: runs trained as
Ray tasks are bit-identical to local runs, the plugin drives it end to end, a worker
killed mid-run is retried and resumes from its checkpoint (or, without retries, fails
clearly and stores nothing), a diverged run comes back with its record, a worker that
rebuilds a different run refuses to train, and a missing install is a one-line error."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="needs the [ray] extra: pip install 'research_harness[ray]'")

from research_harness.executors.local import LocalExecutor  # noqa: E402
from research_harness.executors.ray_executor import PID_FILE, RayExecutor, RunKeyMismatch, run_spec  # noqa: E402
from research_harness.executors.spec import _idea_dirs_here  # noqa: E402
from research_harness.runner import Arm, Runner  # noqa: E402
from research_harness.workspace import BASELINE_SEEDS, Settings, Workspace  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--research-tokens", "3000", "--research-preset", "tiny", "-p", "no:cacheprovider"]
TOKENS = 3000
LONG_TOKENS = 60_000  # a few seconds on the tiny preset: room to kill a worker after its first checkpoint
BASELINE = Arm("baseline")

EXPLODE_IDEA = '''
from trainer.ideas.base import Idea


class Explode(Idea):
    """Poisons the third training loss with NaN: a run that diverges on purpose."""

    def patch_model(self, model):
        base, calls = model.loss_fn, {"n": 0}

        def poisoned(logits, targets):
            calls["n"] += 1
            loss = base(logits, targets)
            return loss * float("nan") if calls["n"] == 3 else loss

        model.loss_fn = poisoned


IDEA = Explode(name="explode", title="Explode", category="training-dynamics", pitch="diverges", math="x",
               why_it_might_work="-", why_it_might_not="-", references=[])
'''


def make_runner(root: Path, data_dir: str, executor=None, tokens: int = TOKENS) -> Runner:
    settings = Settings(research_dir=root, tokens=tokens, preset="tiny", device="cpu", data_dir=Path(data_dir))
    return Runner(settings, Workspace(root), log=lambda *a: None, executor=executor or LocalExecutor())


@pytest.fixture(scope="module")
def ray_executor(data_dir):
    """One local Ray for the module (starting one costs ~8 s); other executors join it."""
    executor = RayExecutor(cpus_per_run=1, num_cpus=2, log=lambda *a: None)
    executor._ensure_ray()
    # Ray's token authentication: a driver joining this cluster reads the token from here
    # (pytester gives its sessions another HOME).
    executor.token_path = Path.home() / ".ray" / "auth_token"
    yield executor
    executor.close()


@pytest.fixture(scope="module")
def local_records(data_dir, tmp_path_factory):
    """Local-executor records of the five baseline seeds, the reference for every comparison."""
    runner = make_runner(tmp_path_factory.mktemp("local"), data_dir)
    return {seed: runner.get_or_train(BASELINE, seed)[0] for seed in BASELINE_SEEDS}


@pytest.fixture(scope="module")
def long_reference(data_dir, tmp_path_factory):
    """An uninterrupted local run of LONG_TOKENS: what a killed-and-resumed run must equal."""
    return make_runner(tmp_path_factory.mktemp("long"), data_dir, tokens=LONG_TOKENS).get_or_train(BASELINE, 42)[0]


def same_numbers(a: dict, b: dict) -> bool:
    return a["val_loss"] == b["val_loss"] and a["history"] == b["history"] and a["train_loss_history"] == b["train_loss_history"]


def test_ray_runs_are_bit_identical_to_local_runs_and_overlap(ray_executor, local_records, data_dir, tmp_path):
    runner = make_runner(tmp_path, data_dir, ray_executor)
    runner.prefetch(BASELINE, BASELINE_SEEDS)  # what a seed test does first: every seed starts at once
    started = dict(ray_executor._pending)
    assert len(started) == len(BASELINE_SEEDS)
    runner.prefetch(BASELINE, BASELINE_SEEDS)  # already started: nothing is submitted twice
    assert ray_executor._pending == started
    records = {seed: runner.get_or_train(BASELINE, seed) for seed in BASELINE_SEEDS}
    assert all(trained for _, trained in records.values())
    for seed, (record, _) in records.items():
        assert same_numbers(record, local_records[seed]), f"seed {seed}: ray {record['val_loss']!r} != local"
        assert record["run_key"] == local_records[seed]["run_key"]
        assert record["device"]["threads"] == 1
        assert record["code"]["git_commit"] == local_records[seed]["code"]["git_commit"]
    assert not ray_executor._pending
    assert len(list((tmp_path / "runs").glob("*.json"))) == len(BASELINE_SEEDS)  # the runner stored them
    spans = sorted((r["started"], r["finished"]) for r, _ in records.values())
    assert any(nxt[0] < cur[1] for cur, nxt in zip(spans, spans[1:])), f"two CPUs, yet no two runs overlapped: {spans}"
    # A second session finds every run stored: nothing goes to Ray.
    again = make_runner(tmp_path, data_dir, ray_executor)
    again.prefetch(BASELINE, BASELINE_SEEDS)
    assert not ray_executor._pending
    assert all(not again.get_or_train(BASELINE, seed)[1] for seed in BASELINE_SEEDS)


@pytest.fixture
def study(pytester, data_dir):
    shutil.copytree(ROOT / "experiments", pytester.path / "experiments", ignore=shutil.ignore_patterns("__pycache__"))
    return pytester


def test_plugin_baseline_phase_on_ray_matches_local(study, ray_executor, local_records, monkeypatch):
    import ray

    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(ray_executor.token_path))
    address = ray.get_runtime_context().gcs_address  # the session joins this cluster: --research-ray-address
    result = study.runpytest_subprocess("experiments", "-k", "baseline", "--research-executor", "ray",
                                        "--research-ray-address", address, "-s", *ARGS, timeout=240)
    assert result.ret == 0, result.stdout.str()[-3000:] + result.stderr.str()[-2000:]
    result.assert_outcomes(passed=7)
    result.stdout.fnmatch_lines([f"*joined the Ray cluster at {address}*", "*training baseline seed 42 on ray*"])
    ray_runs = {r["seed"]: r for r in map(json.loads, map(Path.read_text, (study.path / "runs").glob("*.json")))}
    assert sorted(ray_runs) == sorted(BASELINE_SEEDS)

    shutil.move(study.path / "runs", study.path / "runs_ray")
    shutil.rmtree(study.path / "docs")
    local = study.runpytest_subprocess("experiments", "-k", "baseline", *ARGS, timeout=240)
    local.assert_outcomes(passed=7)
    local_runs = {r["seed"]: r for r in map(json.loads, map(Path.read_text, (study.path / "runs").glob("*.json")))}
    for seed in BASELINE_SEEDS:
        assert ray_runs[seed]["val_loss"] == local_runs[seed]["val_loss"] == local_records[seed]["val_loss"], seed
        assert ray_runs[seed]["run_key"] == local_runs[seed]["run_key"]


def _kill_after_first_checkpoint(runner: Runner, seed: int) -> int:
    """Start the seed's task, wait for its first checkpoint, SIGKILL the worker training it."""
    runner.prefetch(BASELINE, [seed])
    key = runner.key(BASELINE, seed)
    out = runner.workspace.checkpoint_dir(BASELINE.name, runner.settings.label, seed, key)
    deadline = time.time() + 120
    while not (out / "checkpoint.pt").exists():
        assert time.time() < deadline, f"no checkpoint appeared in {out}"
        time.sleep(0.02)
    pid = json.loads((out / PID_FILE).read_text())["pid"]
    assert pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    return pid


def test_killed_worker_is_retried_and_resumes_from_its_checkpoint(ray_executor, long_reference, data_dir, tmp_path):
    assert ray_executor.max_retries == 1
    runner = make_runner(tmp_path, data_dir, ray_executor, tokens=LONG_TOKENS)
    killed = _kill_after_first_checkpoint(runner, 42)
    record, trained = runner.get_or_train(BASELINE, 42)
    assert trained and record["resumed_from_tokens"], "the retry should have resumed from the checkpoint"
    assert same_numbers(record, long_reference)
    assert runner.store.get(record["run_key"]) is not None
    pid_file = Path(record["checkpoint_dir"]) / PID_FILE
    assert not pid_file.exists() and killed  # removed once the run finished


def test_killed_worker_without_retries_fails_clearly_and_stores_nothing(ray_executor, long_reference, data_dir, tmp_path):
    no_retry = RayExecutor(cpus_per_run=1, max_retries=0, log=lambda *a: None)  # joins the module's Ray
    runner = make_runner(tmp_path, data_dir, no_retry, tokens=LONG_TOKENS)
    _kill_after_first_checkpoint(runner, 42)
    key = runner.key(BASELINE, 42)
    with pytest.raises(RuntimeError, match=rf"baseline seed 42 \(run {key}\) did not finish in 1 try .*"
                                           r"Nothing was stored as finished; rerun the session to resume"):
        runner.get_or_train(BASELINE, 42)
    assert runner.store.get(key) is None and not list((tmp_path / "runs").glob("*.json"))
    no_retry.close()
    assert ray_executor._ray.is_initialized(), "an executor that joined Ray must not shut it down"
    # The next session resumes the killed run from its checkpoint and gets the uninterrupted numbers.
    record, _ = make_runner(tmp_path, data_dir, ray_executor, tokens=LONG_TOKENS).get_or_train(BASELINE, 42)
    assert record["resumed_from_tokens"] and same_numbers(record, long_reference)


def test_diverged_run_comes_back_with_its_record_and_is_kept_as_failed(ray_executor, data_dir, tmp_path):
    from trainer.run import TrainingDiverged

    ideas = tmp_path / "experiments" / "ideas"
    ideas.mkdir(parents=True)
    (ideas / "explode.py").write_text(EXPLODE_IDEA)  # a user idea: the worker must load it from its file
    runner = make_runner(tmp_path, data_dir, ray_executor)
    arm = Arm("exp", ("explode",))
    with pytest.raises(TrainingDiverged, match="step 3") as info:
        runner.get_or_train(arm, 42)
    assert info.value.record["status"] == "failed" and info.value.record["failure"]["step"] == 3
    assert runner.store.get_failed(runner.key(arm, 42))["status"] == "failed"
    assert runner.lookup(arm, 42) is None


def test_worker_refuses_to_train_a_different_run_than_the_driver_asked_for(ray_executor, data_dir, tmp_path):
    runner = make_runner(tmp_path, data_dir, ray_executor)
    plan = runner.plan(BASELINE)  # the driver's plan has no purpose; the arm the worker rebuilds has one
    with pytest.raises(RunKeyMismatch, match=r"the worker's configuration differ\(s\) from the driver's. Fix: install") as info:
        ray_executor.train(runner, Arm("baseline", purpose="other"), plan, 42, tmp_path / "out", True)
    assert type(info.value) is RunKeyMismatch  # the worker's exception itself, not Ray's wrapper
    assert not list((tmp_path / "runs").glob("*.json"))


def test_cpus_per_run_sets_the_worker_thread_count(ray_executor, data_dir, tmp_path):
    two = RayExecutor(cpus_per_run=2, log=lambda *a: None)  # joins the module's Ray (2 CPUs)
    record, _ = make_runner(tmp_path, data_dir, two).get_or_train(BASELINE, 42)
    assert record["device"]["threads"] == 2
    # More CPUs per run than the local Ray has: a clear refusal, not a task that waits forever.
    too_many = RayExecutor(cpus_per_run=4, log=lambda *a: None)
    with pytest.raises(RuntimeError, match=r"baseline seed 137 needs 4 CPU per run, but the Ray cluster has 0 GPUs "
                                           r"and 2 CPUs; fix: .*a smaller --research-ray-cpus"):
        make_runner(tmp_path, data_dir, too_many).get_or_train(BASELINE, 137)


def test_idea_sources_travel_to_a_node_without_the_driver_files(data_dir, tmp_path, monkeypatch):
    """A node that does not see the driver's idea files loads the shipped sources, and
    rebuilds the same run key."""
    from trainer.run import plan_run

    ideas = tmp_path / "experiments" / "ideas"
    ideas.mkdir(parents=True)
    (ideas / "explode.py").write_text(EXPLODE_IDEA)
    runner = make_runner(tmp_path, data_dir)
    arm = Arm("exp", ("explode",))
    spec = run_spec(runner, arm, runner.plan(arm), 42, tmp_path / "out", True)
    assert spec["user_ideas"] == [{"name": "explode", "path": str(ideas / "explode.py"), "source": EXPLODE_IDEA,
                                   "untrusted": False}]
    assert _idea_dirs_here(spec) == (spec["idea_dirs"], spec["untrusted_dirs"])  # this node sees the files
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "node"))
    shutil.rmtree(ideas)  # now it does not
    dirs, untrusted = _idea_dirs_here(spec)
    assert dirs != spec["idea_dirs"] and Path(dirs[0]).is_relative_to(tmp_path / "node")
    assert Path(untrusted[0]).name == "generated"  # a model-written module stays model-written on the node
    rebuilt = plan_run("tiny", train_tokens=TOKENS, flags=["explode"], device="cpu", idea_dirs=dirs)
    rebuilt.bind_data(runner.data(rebuilt.model_cfg.vocab_size))
    assert rebuilt.key(42) == spec["run_key"]


def test_a_model_written_run_is_a_ray_task_that_trains_in_the_sandbox(ray_executor, require_sandbox, data_dir,
                                                                      tmp_path):
    """The task starts the sandbox on its node and evaluates the export there, outside it: the
    same numbers as the same code trained in this process."""
    ideas = tmp_path / "experiments" / "ideas"
    (ideas / "generated").mkdir(parents=True)
    source = (ROOT / "trainer" / "ideas" / "z_loss.py").read_text()
    (ideas / "zl_here.py").write_text(source.replace('name="z_loss"', 'name="zl_here"'))
    (ideas / "generated" / "zl_there.py").write_text(source.replace('name="z_loss"', 'name="zl_there"'))
    runner = make_runner(tmp_path, data_dir, ray_executor)
    runner.configured["zl_there"] = {}  # what the implementation step validated in the sandbox
    there, _ = runner.get_or_train(Arm("exp", ("zl_there",)), 42)
    here, _ = make_runner(tmp_path, data_dir).get_or_train(Arm("exp", ("zl_here",)), 42)
    assert there["executor"] == "sandbox" and there["sandbox"]["mode"] == "bwrap"
    assert there["val_loss"] == here["val_loss"]
    assert [h["val_loss"] for h in there["history"]] == [h["val_loss"] for h in here["history"]]


def test_missing_ray_is_a_one_line_usage_error_naming_the_extra(pytester, monkeypatch):
    pytester.makeconftest("import sys\nsys.modules['ray'] = None  # as if ray were not installed\n")
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("--research-executor", "ray", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if "ray" in line]
    assert errors == ["ERROR: --research-executor ray needs the optional package 'ray': "
                      "pip install 'research_harness[ray]'"], result.stderr.lines
    # The executor says the same if it is reached without Ray (a script, not the plugin).
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"fix: pip install 'research_harness\[ray\]'"):
        RayExecutor()._ensure_ray()
