"""The pytest plugin: options, phase markers, fixtures, and the end-of-session report
and summary. Registered through the `pytest11` entry point, so any pytest run in an
environment where research_harness is installed has it."""

from __future__ import annotations

from pathlib import Path

import pytest

from research_harness.runner import Runner
from research_harness.workspace import RESEARCH_TOKENS, Settings, Workspace

PHASES = ("smoke", "baseline", "discovery", "paper", "archive")
_STATE = pytest.StashKey["ResearchState"]()


class ResearchState:
    """The controller's view of this session: settings, the runner, and the runs reported by tests."""

    def __init__(self, settings: Settings, terminal_write):
        self.settings = settings
        self.workspace = Workspace(settings.research_dir)
        self.runner = Runner(settings, self.workspace, log=terminal_write)
        self.rows: list[dict] = []
        self.written: list[Path] = []
        self.notes: list[str] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("research", "research_harness: the autonomous research workflow")
    group.addoption("--research-report", action="store_true", default=None,
                    help="write the markdown reports under docs/research/ at the end of the session")
    group.addoption("--research-dir", default=None,
                    help="workspace holding docs/research, docs/papers, runs, checkpoints, archive (default: rootdir)")
    group.addoption("--research-tokens", type=int, default=None,
                    help=f"training tokens per run (default {RESEARCH_TOKENS}: the workflow's scale; anything else is "
                         "labelled as not the research scale in every report)")
    group.addoption("--research-preset", default=None, help="trainer preset (default: gpu-88m on CUDA, cpu-small otherwise)")
    group.addoption("--research-device", default=None, help="cpu, cuda or auto (default auto)")
    parser.addini("research_dir", "default for --research-dir")
    parser.addini("research_tokens", "default for --research-tokens")
    parser.addini("research_preset", "default for --research-preset")
    parser.addini("research_device", "default for --research-device")
    parser.addini("research_report", "default for --research-report", type="bool", default=False)


def _option(config: pytest.Config, name: str):
    value = config.getoption(f"--research-{name}")
    if value is None:
        value = config.getini(f"research_{name}") or None
    return value


def pytest_configure(config: pytest.Config) -> None:
    for phase in PHASES:
        config.addinivalue_line("markers", f"{phase}: research workflow phase '{phase}' (set by research_phase)")
    config.addinivalue_line("markers", "research_phase(name): the workflow phase a test belongs to")
    tokens = _option(config, "tokens")
    try:
        tokens = int(tokens) if tokens is not None else RESEARCH_TOKENS
    except ValueError:
        raise pytest.UsageError(f"--research-tokens must be a whole number, got {tokens!r}") from None
    if tokens <= 0:
        raise pytest.UsageError(f"--research-tokens must be positive, got {tokens}")
    preset = _option(config, "preset")
    from trainer.config import PRESETS  # noqa: PLC0415

    if preset is not None and preset not in PRESETS:
        raise pytest.UsageError(f"--research-preset {preset!r} is unknown; choose one of: {', '.join(PRESETS)}")
    root = _option(config, "dir")
    settings = Settings(
        research_dir=Path(root).resolve() if root else Path(config.rootpath),
        tokens=tokens, preset=preset, device=_option(config, "device"),
        write_reports=bool(config.getoption("--research-report") or config.getini("research_report")),
    )
    def write(line: str) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(line)
        else:
            print(line)

    state = ResearchState(settings, write)
    config.stash[_STATE] = state
    if not hasattr(config, "workerinput"):  # reports are built on the controller only
        config.pluginmanager.register(ResearchReporter(state), "research_harness_reporter")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # research_phase("baseline") also becomes the marker `baseline`, so -m baseline works.
    for item in items:
        marker = item.get_closest_marker("research_phase")
        if marker and marker.args:
            item.add_marker(getattr(pytest.mark, marker.args[0]))


def research_state(config: pytest.Config) -> ResearchState:
    return config.stash[_STATE]


@pytest.fixture(scope="session")
def research(request: pytest.FixtureRequest) -> ResearchState:
    """The session's research state: settings, workspace and runner."""
    return research_state(request.config)


@pytest.fixture(scope="session")
def research_settings(research: ResearchState) -> Settings:
    return research.settings


@pytest.fixture(scope="session")
def research_workspace(research: ResearchState) -> Workspace:
    return research.workspace


@pytest.fixture(scope="session")
def research_runner(research: ResearchState) -> Runner:
    return research.runner


@pytest.fixture
def record_run(record_property):
    """Attach a run's headline numbers to the test report (they travel with it to the
    controller, which builds the end-of-session table)."""

    def record(arm: str, record: dict, trained: bool | None = None) -> dict:
        record_property("research_run", {
            "arm": arm, "seed": record["seed"], "val_loss": record["val_loss"],
            "val_accuracy": record.get("val_accuracy"), "wall_time_s": record["wall_time"]["total_s"],
            "tokens_per_s": record.get("tokens_per_s"), "run_key": record["run_key"],
            "trained": trained,
        })
        return record

    return record


class ResearchReporter:
    """Per-session hooks, registered in pytest_configure on the controller: collects the
    runs that tests attach to their reports, writes reports at the end, prints the summary."""

    def __init__(self, state: ResearchState):
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == "research_run":
                self.state.rows.append({**value, "test": report.nodeid})
            elif name == "research_report_written":
                self.state.written.append(Path(value))
            elif name == "research_note":
                self.state.notes.append(str(value))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.state.settings.write_reports:
            from research_harness.reports.write import write_reports  # noqa: PLC0415

            self.state.written.extend(write_reports(self.state.runner))

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config: pytest.Config) -> None:
        state = self.state
        if not state.rows and not state.written and not state.notes:
            return
        tr = terminalreporter
        tr.section("research_harness")
        s = state.settings
        tr.write_line(f"workspace {s.research_dir} | {s.tokens:,} tokens per run"
                      + ("" if s.research_scale else " (NOT the research scale)")
                      + f" | preset {s.preset or 'default for the device'}")
        if state.rows:
            tr.write_line(f"{'arm':<14}{'seed':>6}{'val_loss':>11}{'wall (s)':>10}{'tok/s':>10}  source")
            for row in state.rows:
                source = "trained" if row.get("trained") else "stored"
                tr.write_line(f"{row['arm']:<14}{row['seed']:>6}{row['val_loss']:>11.4f}{row['wall_time_s']:>10.1f}"
                              f"{(row.get('tokens_per_s') or 0):>10,.0f}  {source} {row['run_key']}")
        for note in state.notes:
            tr.write_line(note)
        for path in dict.fromkeys(state.written):
            tr.write_line(f"report: {path}")
