"""Export a study to MLflow (`--research-mlflow [URI]`): every stored run as an MLflow run,
the gate's decisions as tags on the runs they judged, and the reports, idea log and paper
as artifacts of one study-level run.

The run store stays the source of truth; MLflow is a view of it for browsing and
comparing. So the export is idempotent (a run is found again by its `run_key` tag, an
artifact by its content hash: a rerun of the session adds only what is new and replaces
nothing), and an export failure never fails a research test: it is reported in one line
and the session goes on.

Where it goes: with no URI, a SQLite store in the workspace (`<workspace>/mlflow.db`,
artifacts under `<workspace>/mlartifacts`). MLflow 3 defaults to `sqlite:///mlflow.db`
itself and discourages the file store (`./mlruns`), and `mlflow ui` run in the workspace
opens this database with no arguments and no server to set up. A URI (`http://host:5000`,
`postgresql://...`, `sqlite:///...`) is used as it is, with that store's own artifact
location. The experiment is `research_harness`, or `$MLFLOW_EXPERIMENT_NAME` (MLflow's own
variable) when set; runs carry the workspace in their tags, so several studies can share a
remote server's experiment.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Callable

EXPERIMENT = "research_harness"
_TAG_KEY_BAD = re.compile(r"[^\w.\- /:]")  # MLflow accepts letters, digits, _ - . space / : in keys


def _ms(stamp: str | None) -> int | None:
    """An ISO timestamp (the record's started/finished) in epoch milliseconds."""
    if not stamp:
        return None
    try:
        return int(datetime.fromisoformat(stamp).timestamp() * 1000)
    except ValueError:
        return None


def _flatten(prefix: str, value, out: dict) -> dict:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = value
    return out


def _key(text: str) -> str:
    return _TAG_KEY_BAD.sub("_", text)[:250]


def _sha(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _quiet_mlflow() -> None:
    """MLflow and its database migrations log at INFO; the pytest session shows only our lines."""
    for name in ("mlflow", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")


class MlflowExporter:
    """A pytest plugin on the research hooks; see the module docstring."""

    def __init__(self, settings, workspace, write: Callable[[str], None] = print):
        self.settings = settings
        self.workspace = workspace
        self.write = write
        self.uri = settings.mlflow_uri or f"sqlite:///{Path(workspace.root).resolve() / 'mlflow.db'}"
        self.experiment_name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or EXPERIMENT
        self.workspace_id = hashlib.sha256(str(Path(workspace.root).resolve()).encode()).hexdigest()[:16]
        self._client = None
        self._experiment_id: str | None = None
        self._broken: str | None = None  # why the store cannot be used this session
        self._study_run: str | None = None
        self.counts = {"runs": 0, "runs_already_there": 0, "artifacts": 0, "tagged": 0}
        self.problems: list[str] = []

    # -- the hooks -----------------------------------------------------------------------------------
    def pytest_research_run_stored(self, record: dict, config) -> None:
        self._safely(f"run {record.get('run_key')}", self.export_run, record)

    def pytest_research_decision(self, idea: str, decision: dict, config) -> None:
        self._safely(f"the decision on {idea}", self.tag_decision, idea, decision)

    def pytest_research_report_written(self, path, config) -> None:
        self._safely(f"{path}", self.log_report, Path(path))

    def pytest_terminal_summary(self, terminalreporter) -> None:
        """Lines written during a test are captured; the summary says what was exported, and repeats any problem."""
        if self._client is None and not self.problems:
            return
        c = self.counts
        terminalreporter.write_line(
            f"[research] mlflow: {c['runs']} runs exported ({c['runs_already_there']} already there), "
            f"{c['artifacts']} artifacts, {c['tagged']} runs tagged with a decision, {len(self.problems)} problems; "
            f"browse: mlflow ui --backend-store-uri {self.uri}")
        for line in self.problems:
            terminalreporter.write_line(line)

    def _say_problem(self, line: str) -> None:
        self.problems.append(line)
        self.write(line)

    # -- plumbing ------------------------------------------------------------------------------------
    def _safely(self, what: str, fn, *args):
        if self._broken is not None:
            return None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return fn(*args)
        except _Quiet:
            return None
        except Exception as exc:  # noqa: BLE001 - an export never fails a research test
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            self._say_problem(f"[research] mlflow: could not export {what} to {self.uri} ({type(exc).__name__}: {first}); "
                       f"the session goes on. Fix the tracking store, then rerun: nothing is exported twice")
            return None

    def client(self):
        """The MLflow client and the experiment, made on first use (importing mlflow costs seconds)."""
        if self._client is not None:
            return self._client
        try:
            import mlflow  # noqa: F401, PLC0415 - the [mlflow] extra, only when exporting
            from mlflow.tracking import MlflowClient  # noqa: PLC0415

            _quiet_mlflow()
            client = MlflowClient(tracking_uri=self.uri)
            experiment = client.get_experiment_by_name(self.experiment_name)
            if experiment is None:
                location = None
                if not self.settings.mlflow_uri:  # the workspace's own store keeps its artifacts beside it
                    location = (Path(self.workspace.root).resolve() / "mlartifacts").as_uri()
                self._experiment_id = client.create_experiment(self.experiment_name, artifact_location=location)
            elif experiment.lifecycle_stage != "active":
                raise RuntimeError(f"the experiment {self.experiment_name!r} is deleted in this store; restore it "
                                   f"(mlflow experiments restore --experiment-id {experiment.experiment_id}) or set "
                                   f"MLFLOW_EXPERIMENT_NAME")
            else:
                self._experiment_id = experiment.experiment_id
        except Exception as exc:  # noqa: BLE001
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            self._broken = f"{type(exc).__name__}: {first}"
            self._say_problem(f"[research] mlflow: cannot open the tracking store {self.uri} ({self._broken}); nothing is "
                       f"exported this session, the research tests go on. Fix: check --research-mlflow's URI")
            raise _Quiet() from exc
        self._client = client
        self.write(f"[research] mlflow: exporting to {self.uri}, experiment {self.experiment_name!r} "
                   f"(browse: mlflow ui --backend-store-uri {self.uri})")
        return client

    def _lock(self):
        """Search-then-create must not race another session of the same workspace."""
        return self.workspace.lock("mlflow-export")

    def find_run(self, run_key: str):
        runs = self.client().search_runs([self._experiment_id], filter_string=f"tags.run_key = '{run_key}'",
                                         max_results=5)
        finished = [r for r in runs if r.info.status == "FINISHED"]
        return finished[0] if finished else (runs[0] if runs else None)

    # -- runs --------------------------------------------------------------------------------------
    def export_run(self, record: dict) -> str | None:
        """Log one stored run; returns its MLflow run id, or None when it was exported before."""
        from mlflow.entities import Metric, Param  # noqa: PLC0415

        client = self.client()
        key = record["run_key"]
        with self._lock():
            existing = self.find_run(key)
            if existing is not None and existing.info.status == "FINISHED":
                self.counts["runs_already_there"] += 1
                return None
            if existing is not None:  # an export that was cut off half-way: start it again
                client.delete_run(existing.info.run_id)
            arm = record.get("arm", "run")
            name = f"{arm} seed {record['seed']}" + (f" ({record['purpose']})" if record.get("purpose") else "")
            run = client.create_run(self._experiment_id, start_time=_ms(record.get("started")),
                                    tags=self._run_tags(record), run_name=name)
        run_id = run.info.run_id
        params = [Param(k, str(v)[:6000]) for k, v in self._run_params(record).items()]
        metrics = [Metric(k, float(v), ts, step) for k, v, ts, step in self._run_metrics(record)]
        for i in range(0, len(params), 100):
            client.log_batch(run_id, params=params[i : i + 100])
        for i in range(0, len(metrics), 1000):
            client.log_batch(run_id, metrics=metrics[i : i + 1000])
        client.set_terminated(run_id, "FINISHED", end_time=_ms(record.get("finished")))
        self.counts["runs"] += 1
        return run_id

    def _run_params(self, record: dict) -> dict:
        params = _flatten("", record.get("config", {}), {})
        flags = sorted(record.get("flags") or [])
        params.update({"seed": record["seed"], "arm": record.get("arm", ""), "preset": record.get("preset"),
                       "tokens": record.get("train_tokens"), "flags": ",".join(flags) or "none"})
        if record.get("purpose"):
            params["purpose"] = record["purpose"]
        for flag in flags:  # an idea that is off has no param: filter with params.use_<idea> = 'True'
            params[f"use_{flag}"] = True
        return {_key(k): v for k, v in params.items()}

    def _run_metrics(self, record: dict) -> list[tuple]:
        end = _ms(record.get("finished")) or int(time.time() * 1000)
        out = []
        for point in record.get("history", []):  # one point per evaluation, by optimizer step
            step = int(point["step"])
            out += [("val_loss", point["val_loss"], end, step), ("val_accuracy", point["val_accuracy"], end, step),
                    ("tokens", point["tokens"], end, step)]
        for point in record.get("train_loss_history", []):
            out.append(("train_loss_step", point["loss"], end, int(point["step"])))
        last = int(record.get("steps") or (record["history"][-1]["step"] if record.get("history") else 0))
        wall = record.get("wall_time", {})
        final = {"train_loss": record.get("train_loss"), "tokens_per_s": record.get("tokens_per_s"),
                 "params_total": (record.get("params") or {}).get("total"),
                 **{f"wall_{k}": v for k, v in wall.items()}}
        out += [(k, v, end, last) for k, v in final.items() if isinstance(v, (int, float))]
        return [(k, v, ts, step) for k, v, ts, step in out if v is not None and not (isinstance(v, float) and math.isnan(v))]

    def _run_tags(self, record: dict) -> dict:
        device, code = record.get("device") or {}, record.get("code") or {}
        tags = {"kind": "run", "run_key": record["run_key"], "arm": record.get("arm", ""),
                "code_fingerprint": record.get("code_fingerprint", ""),
                "data_fingerprint": (record.get("data") or {}).get("fingerprint", ""),
                "device": f"{device.get('type', '?')}: {device.get('name', '?')}", "host": device.get("host", ""),
                "git_commit": code.get("git_commit") or "unknown", "git_dirty": str(code.get("git_dirty")),
                "evidence_level": "n/a", "workspace": str(self.workspace.root), "workspace_id": self.workspace_id,
                "record_path": record.get("record_path", "")}
        if record.get("resumed_from_tokens"):
            tags["resumed_from_tokens"] = str(record["resumed_from_tokens"])
        return {k: str(v)[:8000] for k, v in tags.items()}

    # -- decisions -------------------------------------------------------------------------------------
    def tag_decision(self, idea: str, decision: dict) -> int:
        """Tag the runs the decision named; returns how many were tagged. Control runs can be
        shared by several ideas (the control arm is the baseline configuration), so the tags
        also go under per-idea keys that a later idea's decision leaves alone."""
        from mlflow.entities import RunTag  # noqa: PLC0415

        client = self.client()
        level = str(decision["evidence"]["level"])
        d = decision.get("d")
        common = {"evidence_level": level, "decision": str(decision["decision"]),
                  "cohens_d": f"{d:.4f}" if isinstance(d, (int, float)) else str(d),
                  "decision_seeds": ",".join(str(s) for s in decision.get("seeds", [])),
                  "decision_status": str(decision.get("status")), "decision_idea": idea}
        tagged, missing = 0, []
        for role in ("experimental", "control"):
            for key in decision["run_keys"].get(role, []):
                run = self.find_run(key)
                if run is None:
                    missing.append(key)
                    continue
                tags = {**common, _key(f"evidence_level.{idea}"): level, _key(f"role.{idea}"): role}
                client.log_batch(run.info.run_id, tags=[RunTag(k, v) for k, v in tags.items()])
                tagged += 1
        self.counts["tagged"] += tagged
        if missing:
            self._say_problem(f"[research] mlflow: the decision on {idea} names runs not in {self.uri}: {', '.join(missing)} "
                       f"(an earlier export failed?); their tags were not set")
        return tagged

    # -- reports, idea log, paper ------------------------------------------------------------------
    def study_run(self) -> str:
        """The study-level run (tag kind=study) of this workspace, made on first use."""
        if self._study_run is not None:
            return self._study_run
        client = self.client()
        with self._lock():
            runs = client.search_runs([self._experiment_id], max_results=1, order_by=["attributes.start_time ASC"],
                                      filter_string=f"tags.kind = 'study' and tags.workspace_id = '{self.workspace_id}'")
            if runs:
                self._study_run = runs[0].info.run_id
            else:
                run = client.create_run(self._experiment_id, run_name=f"study {Path(self.workspace.root).name}",
                                        tags={"kind": "study", "workspace": str(self.workspace.root),
                                              "workspace_id": self.workspace_id})
                client.set_terminated(run.info.run_id, "FINISHED")
                self._study_run = run.info.run_id
        return self._study_run

    def log_report(self, path: Path) -> list[str]:
        """Log a written file (or every file of a written folder) as an artifact of the study
        run, at its path relative to the workspace. Content already logged is skipped (its
        hash is in the tag `sha.<path>`); a changed file goes under revisions/<hash>/, so
        nothing logged before is replaced. Returns the artifact paths logged now."""
        if not path.exists():
            return []
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        client = self.client()
        run_id = self.study_run()
        root = Path(self.workspace.root).resolve()
        logged = []
        for file in files:
            resolved = file.resolve()
            rel = resolved.relative_to(root) if resolved.is_relative_to(root) else Path(resolved.name)
            tag = _key(f"sha.{rel.as_posix()}")
            seen = [h for h in client.get_run(run_id).data.tags.get(tag, "").split(",") if h]
            digest = _sha(resolved)
            if digest in seen:
                continue
            folder = rel.parent if not seen else Path("revisions") / digest / rel.parent
            client.log_artifact(run_id, str(resolved), artifact_path=folder.as_posix() if folder.parts else None)
            client.set_tag(run_id, tag, ",".join([*seen, digest])[-8000:])
            logged.append((folder / rel.name).as_posix())
        self.counts["artifacts"] += len(logged)
        return logged


class _Quiet(Exception):
    """Raised after the store's failure was already reported in its one line."""

