"""Hooks other plugins implement to react to the research workflow (an exporter such as
`research_harness.exporters.mlflow_exporter` is one). Implement them in a conftest.py or
a plugin; each is called on the controller process."""

import pluggy
import pytest

hookspec = pluggy.HookspecMarker("pytest")


@hookspec
def pytest_research_run_stored(record: dict, config: pytest.Config) -> None:
    """A run record this session obtained from the store: trained and stored now, or found
    stored by an earlier session. Called once per run and session, with the stored record
    (its `record_path` names the JSON file)."""


@hookspec
def pytest_research_report_written(path, config: pytest.Config) -> None:
    """A report, idea log, paper (markdown, LaTeX or PDF) or summary was written at `path`."""


@hookspec
def pytest_research_decision(idea: str, decision: dict, config: pytest.Config) -> None:
    """The gate judged `idea`: `decision` holds the look's seeds, Cohen's d, the workflow's
    decision (noise, suggestive, proceed), the evidence level with p and interval, and the
    journal status it set."""
