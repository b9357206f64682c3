"""The MLflow exporter against the real mlflow package and a SQLite store in the
workspace: the baseline phase exports its five runs (params, per-evaluation metrics,
tags, times) and its report, a second session exports nothing twice, a decision tags the
runs it judged, and a broken store costs one line, never a test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("mlflow", reason="needs the [mlflow] extra: pip install 'research_harness[mlflow]'")
# Imported here, before any pytester test: pytester drops modules first imported during a test,
# and SQLAlchemy's compiled extensions do not survive being imported a second time.
import warnings  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # SQLAlchemy's deprecation notes about MLflow's mappers
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    from mlflow.tracking import MlflowClient

from research_harness.exporters.mlflow_exporter import MlflowExporter, _ms  # noqa: E402
from research_harness.runner import Arm, Runner  # noqa: E402
from research_harness.workspace import BASELINE_SEEDS, Settings, Workspace  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--research-tokens", "3000", "--research-preset", "tiny", "-p", "no:cacheprovider"]


def client_for(root: Path):
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("research_harness")
    assert experiment is not None, "no research_harness experiment in the workspace's store"
    return client, experiment.experiment_id


def runs_of(client, experiment_id, kind: str):
    return client.search_runs([experiment_id], filter_string=f"tags.kind = '{kind}'", max_results=100)


def artifact_files(client, run_id: str, path: str | None = None) -> list[str]:
    out = []
    for info in client.list_artifacts(run_id, path):
        out += artifact_files(client, run_id, info.path) if info.is_dir else [info.path]
    return out


@pytest.fixture
def study(pytester, data_dir):
    shutil.copytree(ROOT / "experiments", pytester.path / "experiments", ignore=shutil.ignore_patterns("__pycache__"))
    return pytester


def test_baseline_phase_is_exported_once_with_its_report(study):
    first = study.runpytest_subprocess("experiments", "-k", "baseline", "--research-mlflow", "--research-report",
                                       *ARGS, timeout=300)
    assert first.ret == 0, first.stdout.str()[-3000:] + first.stderr.str()[-2000:]
    first.assert_outcomes(passed=7)
    first.stdout.fnmatch_lines(["[[]research[]] mlflow: 5 runs exported (0 already there), 1 artifacts, 0 runs tagged "
                                "with a decision, 0 problems; browse: mlflow ui --backend-store-uri sqlite:///*/mlflow.db"])
    root = study.path
    records = {r["run_key"]: r for r in map(json.loads, map(Path.read_text, (root / "runs").glob("*.json")))}
    assert len(records) == len(BASELINE_SEEDS)
    client, experiment_id = client_for(root)

    runs = runs_of(client, experiment_id, "run")
    assert sorted(r.data.tags["run_key"] for r in runs) == sorted(records)
    for run in runs:
        record = records[run.data.tags["run_key"]]
        params, tags, metrics = run.data.params, run.data.tags, run.data.metrics
        assert run.info.run_name == f"baseline seed {record['seed']}" and run.info.status == "FINISHED"
        assert (run.info.start_time, run.info.end_time) == (_ms(record["started"]), _ms(record["finished"]))
        assert params["seed"] == str(record["seed"]) and params["arm"] == "baseline" and params["flags"] == "none"
        assert params["preset"] == "tiny" and params["tokens"] == "3000"
        assert params["model.n_layers"] == str(record["config"]["model"]["n_layers"])
        assert params["train.batch_size"] == str(record["config"]["train"]["batch_size"])
        assert tags["code_fingerprint"] == record["code_fingerprint"]
        assert tags["data_fingerprint"] == record["data"]["fingerprint"]
        assert tags["device"].startswith("cpu: ") and tags["evidence_level"] == "n/a"
        assert tags["git_commit"] == (record["code"]["git_commit"] or "unknown")
        history = client.get_metric_history(run.info.run_id, "val_loss")
        assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == \
            [(h["step"], h["val_loss"]) for h in record["history"]]
        assert len(history) == record["eval"]["evals"]  # one point per evaluation
        tokens = sorted(client.get_metric_history(run.info.run_id, "tokens"), key=lambda m: m.step)
        assert [m.value for m in tokens] == [h["tokens"] for h in record["history"]]
        assert metrics["val_loss"] == record["val_loss"] and metrics["val_accuracy"] == record["val_accuracy"]
        assert metrics["train_loss"] == record["train_loss"] and metrics["tokens_per_s"] == record["tokens_per_s"]
        assert metrics["wall_total_s"] == record["wall_time"]["total_s"]
        assert metrics["wall_train_s"] == record["wall_time"]["train_s"]

    (study_run,) = runs_of(client, experiment_id, "study")
    report = root / "docs/research/baseline_variance_3k.md"
    assert "docs/research/baseline_variance_3k.md" in artifact_files(client, study_run.info.run_id)
    downloaded = client.download_artifacts(study_run.info.run_id, "docs/research/baseline_variance_3k.md",
                                           str(root / "download"))
    assert Path(downloaded).read_text() == report.read_text()
    before = {r.info.run_id for r in runs}, artifact_files(client, study_run.info.run_id)

    # A second session: the report is rebuilt from the stored runs, each of which reaches the hook again.
    report.unlink()
    second = study.runpytest_subprocess("experiments", "-k", "baseline", "--research-mlflow", "--research-report",
                                        *ARGS, timeout=300)
    second.assert_outcomes(passed=7)
    assert second.stdout.str().count(" stored ") == len(BASELINE_SEEDS)
    second.stdout.fnmatch_lines(["*mlflow: 0 runs exported (5 already there)*0 problems*"])
    runs_again = runs_of(client, experiment_id, "run")
    assert {r.info.run_id for r in runs_again} == before[0], "a stored run was exported twice"
    assert len(runs_of(client, experiment_id, "study")) == 1
    files = artifact_files(client, study_run.info.run_id)
    if report.read_text() == Path(downloaded).read_text():
        assert files == before[1], "an unchanged report was logged twice"
    else:  # a changed report goes beside the first version, which stays as it was
        assert set(before[1]) < set(files) and all(f.startswith("revisions/") for f in set(files) - set(before[1]))


def test_decision_tags_the_runs_it_judged(data_dir, tmp_path):
    settings = Settings(research_dir=tmp_path, tokens=3000, preset="tiny", device="cpu", data_dir=Path(data_dir),
                        mlflow_uri="")
    workspace = Workspace(tmp_path)
    lines: list[str] = []
    exporter = MlflowExporter(settings, workspace, lines.append)
    runner = Runner(settings, workspace, log=lambda *a: None,
                    on_record=lambda record: exporter.pytest_research_run_stored(record=record, config=None))
    control = [runner.get_or_train(Arm("control"), seed)[0]["run_key"] for seed in (42, 137)]
    experimental = [runner.get_or_train(Arm("exp"), seed, tokens=2000)[0]["run_key"] for seed in (42, 137)]
    unrelated = runner.get_or_train(Arm("control"), 256)[0]["run_key"]
    decision = {"seeds": [42, 137], "d": 0.8123, "decision": "proceed", "status": "proceed",
                "evidence": {"level": "suggestive", "p": 0.04},
                "run_keys": {"control": control, "experimental": experimental}}
    exporter.pytest_research_decision(idea="widget", decision=decision, config=None)
    assert not [line for line in lines if "could not" in line or "not in" in line], lines

    client, _ = client_for(tmp_path)
    for key in control + experimental:
        tags = exporter.find_run(key).data.tags
        role = "control" if key in control else "experimental"
        assert tags["evidence_level"] == "suggestive" and tags["decision"] == "proceed", (key, tags)
        assert tags["cohens_d"] == "0.8123" and tags["decision_seeds"] == "42,137" and tags["decision_idea"] == "widget"
        assert tags["evidence_level.widget"] == "suggestive" and tags["role.widget"] == role
    assert exporter.find_run(unrelated).data.tags["evidence_level"] == "n/a"

    # A later idea judged against the same control runs leaves the first idea's own tags alone.
    later = {**decision, "d": 0.1, "decision": "noise", "evidence": {"level": "none"},
             "run_keys": {"control": control, "experimental": []}}
    exporter.pytest_research_decision(idea="gadget", decision=later, config=None)
    tags = exporter.find_run(control[0]).data.tags
    assert tags["evidence_level"] == "none" and tags["evidence_level.gadget"] == "none"
    assert tags["evidence_level.widget"] == "suggestive"
    assert exporter.find_run(experimental[0]).data.tags["evidence_level"] == "suggestive"

    # A run named by a decision but never exported is one line, not an error.
    exporter.pytest_research_decision(idea="gizmo", decision={**later, "run_keys": {"control": ["0" * 20],
                                                                                       "experimental": []}}, config=None)
    assert [line for line in lines if "0" * 20 in line] and lines[-1].startswith("[research] mlflow:")

    # The experiment deleted under a running session (in the UI, say): each export that fails is one line.
    client.delete_experiment(exporter._experiment_id)
    record = {**runner.lookup(Arm("control"), 256), "run_key": "f" * 20}
    assert exporter.pytest_research_run_stored(record=record, config=None) is None
    assert lines[-1].startswith(f"[research] mlflow: could not export run {'f' * 20} to sqlite:///{tmp_path}/mlflow.db (")
    assert lines[-1].endswith("the session goes on. Fix the tracking store, then rerun: nothing is exported twice")


def test_a_broken_store_is_one_line_and_never_an_error(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the database's folder should be")
    settings = Settings(research_dir=tmp_path, mlflow_uri=f"sqlite:///{blocker / 'mlflow.db'}")
    lines: list[str] = []
    exporter = MlflowExporter(settings, Workspace(tmp_path), lines.append)
    record = {"run_key": "0123456789abcdef0123", "seed": 42, "history": []}
    assert exporter.pytest_research_run_stored(record=record, config=None) is None
    exporter.pytest_research_report_written(path=blocker, config=None)
    exporter.pytest_research_decision(idea="x", decision={"evidence": {"level": "none"}, "decision": "noise",
                                                          "run_keys": {"control": [], "experimental": []}}, config=None)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"[research] mlflow: cannot open the tracking store sqlite:///{blocker}/mlflow.db (")
    assert "the research tests go on. Fix: check --research-mlflow's URI" in lines[0]
