"""The pytest plugin: options, the phase marker, fixtures, hooks and the end-of-session
report and summary. Registered through the `pytest11` entry point, so it loads in every
pytest session of an environment where research_harness is installed: it imports nothing
heavy here (torch arrives with the first research fixture that trains or plans a run)."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import pytest

from research_harness.workspace import (
    CONFIRMATION_SEEDS,
    MAX_CONFIRM_SEEDS,
    MIN_CONFIRM_SEEDS,
    PHASES,
    RESEARCH_TOKENS,
    Settings,
    Workspace,
)

_STATE = pytest.StashKey["ResearchState"]()
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


class ResearchState:
    """The controller's view of this session: settings, the workspace, the runner (built
    on first use) and what tests reported."""

    def __init__(self, settings: Settings, config: pytest.Config, terminal_write):
        self.settings = settings
        self.config = config
        self.workspace = Workspace(settings.research_dir)
        self.log = terminal_write
        self._runner = None
        self._seen: set[str] = set()
        self.rows: list[dict] = []
        self.written: list[Path] = []
        self.notes: list[str] = []

    @property
    def runner(self):
        if self._runner is None:
            from research_harness.executors import make_executor  # noqa: PLC0415 - torch arrives here, not at load
            from research_harness.runner import Runner  # noqa: PLC0415

            s = self.settings
            executor = make_executor(s.executor, address=s.ray_address, cpus_per_run=s.ray_cpus, log=self.log) \
                if s.executor != "local" else make_executor("local")
            self._runner = Runner(s, self.workspace, log=self.log, executor=executor, on_record=self._stored,
                                  on_decision=lambda idea, decision: self.config.hook.pytest_research_decision(
                                      idea=idea, decision=decision, config=self.config))
        return self._runner

    def _stored(self, record: dict) -> None:
        if record["run_key"] not in self._seen:  # once per run and session, however often a test asks
            self._seen.add(record["run_key"])
            self.config.hook.pytest_research_run_stored(record=record, config=self.config)

    def close(self) -> None:
        if self._runner is not None:
            self._runner.executor.close()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from research_harness import hookspec  # noqa: PLC0415

    pluginmanager.add_hookspecs(hookspec)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("research", "research_harness: the autonomous research workflow")
    group.addoption("--research-report", action="store_true", default=None,
                    help="write the markdown reports under docs/research/ at the end of the session")
    group.addoption("--research-dir", default=None,
                    help="workspace holding docs/research, docs/papers, runs, checkpoints, archive (default: rootdir)")
    group.addoption("--research-tokens", default=None,
                    help=f"training tokens per run (default {RESEARCH_TOKENS}: the workflow's scale; anything else is "
                         "labelled as not the research scale in every report)")
    group.addoption("--research-preset", default=None, help="trainer preset (default: gpu-88m on CUDA, cpu-small otherwise)")
    group.addoption("--research-device", default=None, help="cpu, cuda, cuda:N, mps or auto (default auto)")
    group.addoption("--research-agent", default=None,
                    help="the research agent: catalogue (default: offline, the built-in and your ideas), openai "
                         "(any OpenAI-compatible endpoint: RESEARCH_LLM_BASE_URL, RESEARCH_LLM_MODEL, "
                         "RESEARCH_LLM_API_KEY; needs the [agent] extra), anthropic (the Messages API: "
                         "RESEARCH_LLM_MODEL, ANTHROPIC_API_KEY, optional ANTHROPIC_BASE_URL; needs the [anthropic] "
                         "extra), or a registered backend (docs/AGENT.md)")
    group.addoption("--research-agent-seed", default=None,
                    help="seeds the catalogue's proposal and tie-break draws (default 0)")
    group.addoption("--research-no-confirm", action="store_true", default=None,
                    help="skip the confirmation on fresh seeds that follows a gate that proceeds: the workflow's budget "
                         "exactly, and the best evidence level is preliminary")
    group.addoption("--research-max-confirm-seeds", default=None,
                    help=f"the most fresh seeds per arm a confirmation may use (default {MAX_CONFIRM_SEEDS}, at least "
                         f"{MIN_CONFIRM_SEEDS}); the count is sized by power for the plan's expected effect")
    # The old confirm mode's options: one usage error naming what replaced them (see _settings).
    group.addoption("--research-confirm", action="store_true", default=None, help=argparse.SUPPRESS)
    group.addoption("--research-max-seeds", default=None, help=argparse.SUPPRESS)
    group.addoption("--research-calibration-studies", default=None,
                    help="A/A repetitions of the built-in null idea under -m research_calibration (default 10)")
    group.addoption("--research-executor", default=None,
                    help="local (default: one run at a time, so wall times compare) or ray (each run a Ray task on "
                         "its own GPU; needs the [ray] extra)")
    group.addoption("--research-ray-address", default=None,
                    help="join this Ray cluster (default: $RAY_ADDRESS, else start a local Ray)")
    group.addoption("--research-ray-cpus", default=None,
                    help="CPUs per run when the Ray cluster has no GPU (default 1)")
    group.addoption("--research-sandbox", default=None,
                    help="where model-written code runs: bwrap (default: a bubblewrap sandbox with no network, no "
                         "secrets and one writable folder; refused with the fix when none can start) or none (runs it "
                         "without a sandbox: your choice, printed in the journal, every report and the paper)")
    group.addoption("--research-mlflow", nargs="?", const="", default=None, metavar="URI",
                    help="export every stored run, report and the paper to MLflow (needs the [mlflow] extra); "
                         "without URI a local store in the workspace (mlflow.db), so `mlflow ui` shows it")
    parser.addini("research_dir", "default for --research-dir (relative to the ini file)", type="paths")
    parser.addini("research_tokens", "default for --research-tokens")
    parser.addini("research_preset", "default for --research-preset")
    parser.addini("research_device", "default for --research-device")
    parser.addini("research_report", "default for --research-report", type="bool", default=False)
    parser.addini("research_agent", "default for --research-agent")
    parser.addini("research_agent_seed", "default for --research-agent-seed")
    parser.addini("research_no_confirm", "default for --research-no-confirm", type="bool", default=False)
    parser.addini("research_max_confirm_seeds", "default for --research-max-confirm-seeds")
    parser.addini("research_calibration_studies", "default for --research-calibration-studies")
    parser.addini("research_executor", "default for --research-executor")
    parser.addini("research_ray_address", "default for --research-ray-address")
    parser.addini("research_ray_cpus", "default for --research-ray-cpus")
    parser.addini("research_sandbox", "default for --research-sandbox (bwrap or none)")
    parser.addini("research_mlflow", "default for --research-mlflow (a tracking URI; 'workspace' for the local store)")


def _option(config: pytest.Config, name: str):
    value = config.getoption(f"--research-{name}")
    if value is None:
        value = config.getini(f"research_{name.replace('-', '_')}") or None
    return value


def _require_extra(module: str, extra: str, option: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise pytest.UsageError(f"{option} needs the optional package {module!r}: pip install "
                                f"'research_harness[{extra}]'") from None


def _positive_int(name: str, value, default: int) -> int:
    if value is None:
        return default
    try:
        number = int(str(value).replace("_", ""))
    except ValueError:
        raise pytest.UsageError(f"--research-{name} must be a whole number, got {value!r}") from None
    if number <= 0:
        raise pytest.UsageError(f"--research-{name} must be positive, got {number}")
    return number


def _settings(config: pytest.Config) -> Settings:
    tokens = _positive_int("tokens", _option(config, "tokens"), RESEARCH_TOKENS)
    preset = _option(config, "preset")
    from trainer.config import PRESETS  # noqa: PLC0415 - torch-free

    if preset is not None and preset not in PRESETS:
        raise pytest.UsageError(f"--research-preset {preset!r} is unknown; choose one of: {', '.join(PRESETS)}")
    device = _option(config, "device")
    if device is not None:
        if not _DEVICE.match(device):
            raise pytest.UsageError(f"--research-device {device!r} is not one of: auto, cpu, cuda, cuda:N, mps")
        if device.startswith("cuda"):
            import torch  # noqa: PLC0415 - only when a GPU was asked for

            if not torch.cuda.is_available():
                raise pytest.UsageError(f"--research-device {device} was asked for, but torch sees no CUDA GPU "
                                        f"(torch {torch.__version__}); use --research-device cpu or auto")
    cli_dir = config.getoption("--research-dir")
    if cli_dir:
        root = Path(cli_dir).resolve()
    else:
        ini_dirs = config.getini("research_dir")
        root = Path(ini_dirs[0]).resolve() if ini_dirs else Path(config.rootpath)
    from research_harness.executors import EXECUTORS  # noqa: PLC0415 - names only

    executor = _option(config, "executor") or "local"
    if executor not in EXECUTORS:
        raise pytest.UsageError(f"--research-executor {executor!r} is unknown; choose one of: {', '.join(EXECUTORS)}")
    if executor == "ray":
        _require_extra("ray", "ray", "--research-executor ray")
    mlflow_uri = _option(config, "mlflow")
    if mlflow_uri is not None:
        _require_extra("mlflow", "mlflow", "--research-mlflow")
        mlflow_uri = "" if mlflow_uri == "workspace" else mlflow_uri
    from research_harness.agent.backends import agent_names, requirement  # noqa: PLC0415 - names only, no client loaded

    agent = _option(config, "agent") or "catalogue"
    if agent not in agent_names():
        raise pytest.UsageError(f"--research-agent {agent!r} is unknown; choose one of: {', '.join(agent_names())}")
    if (needs := requirement(agent)) is not None:
        _require_extra(*needs, f"--research-agent {agent}")
    agent_seed = _option(config, "agent-seed")
    try:
        agent_seed = int(agent_seed) if agent_seed is not None else 0
    except ValueError:
        raise pytest.UsageError(f"--research-agent-seed must be a whole number, got {agent_seed!r}") from None
    from research_harness.sandbox import SANDBOX_MODES  # noqa: PLC0415 - names only

    sandbox = _option(config, "sandbox") or "bwrap"
    if sandbox not in SANDBOX_MODES:
        raise pytest.UsageError(f"--research-sandbox {sandbox!r} is unknown; choose one of: {', '.join(SANDBOX_MODES)} "
                                "(none runs model-written code without a sandbox, and every report says so)")
    if config.getoption("--research-confirm") or config.getoption("--research-max-seeds") is not None:
        raise pytest.UsageError("--research-confirm and --research-max-seeds are gone: confirmation on fresh seeds is "
                                "now the default (skip it with --research-no-confirm; cap its seeds with "
                                "--research-max-confirm-seeds N)")
    max_confirm = _positive_int("max-confirm-seeds", _option(config, "max-confirm-seeds"), MAX_CONFIRM_SEEDS)
    if not MIN_CONFIRM_SEEDS <= max_confirm <= len(CONFIRMATION_SEEDS):
        raise pytest.UsageError(f"--research-max-confirm-seeds must be between {MIN_CONFIRM_SEEDS} and "
                                f"{len(CONFIRMATION_SEEDS)}, got {max_confirm}")
    return Settings(research_dir=root, tokens=tokens, preset=preset, device=device, agent=agent,
                    agent_seed=agent_seed, confirm=not (config.getoption("--research-no-confirm")
                                                            or config.getini("research_no_confirm")),
                    max_confirm_seeds=max_confirm, calibration_studies=_positive_int(
                        "calibration-studies", _option(config, "calibration-studies"), 10),
                    write_reports=bool(config.getoption("--research-report") or config.getini("research_report")),
                    executor=executor, ray_address=_option(config, "ray-address") or os.environ.get("RAY_ADDRESS"),
                    ray_cpus=_positive_int("ray-cpus", _option(config, "ray-cpus"), 1), mlflow_uri=mlflow_uri,
                    sandbox=sandbox)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "research_phase(name): the research workflow phase a test belongs to; "
                                       f"selects as -m research_<name> ({', '.join(PHASES)})")
    for phase in PHASES:
        config.addinivalue_line("markers", f"research_{phase}: set from research_phase('{phase}')")
    settings = _settings(config)

    def write(line: str) -> None:
        """Progress of long work (a run trains for minutes) reaches the terminal at once, past
        pytest's output capture, as live logging does."""
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        capture = config.pluginmanager.get_plugin("capturemanager")
        if reporter is None:
            print(line)
        elif capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(line)
        else:
            reporter.write_line(line)

    state = ResearchState(settings, config, write)
    config.stash[_STATE] = state
    if not hasattr(config, "workerinput"):  # reports are built on the controller only
        config.pluginmanager.register(ResearchReporter(state), "research_harness_reporter")
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(_XdistGuard(), "research_harness_xdist_guard")
        if settings.mlflow_uri is not None:
            from research_harness.exporters.mlflow_exporter import MlflowExporter  # noqa: PLC0415

            config.pluginmanager.register(MlflowExporter(settings, state.workspace, write),
                                          "research_harness_mlflow")


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is not None:
        state.close()


XDIST_REFUSAL = ("the research workflow runs sequentially (the workflow's rule: wall times must compare), so "
                 "pytest-xdist cannot run experiments/; drop -n for it (xdist is fine for tests/)")


class _XdistGuard:
    """On an xdist controller: stop before any research test runs on a worker."""

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids) -> None:
        for path in dict.fromkeys(i.split("::", 1)[0] for i in ids):
            if path.endswith(".py") and "research_phase(" in _read(Path(path)):
                pytest.exit(XDIST_REFUSAL, returncode=pytest.ExitCode.USAGE_ERROR)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    research = [item for item in items if item.get_closest_marker("research_phase")]
    for item in research:
        marker = item.get_closest_marker("research_phase")
        if marker.args:
            item.add_marker(getattr(pytest.mark, f"research_{marker.args[0]}"))
    # The A/A calibration trains many extra runs: it runs only when asked for by -m.
    if "calibration" not in (config.getoption("markexpr", "") or ""):
        calibration = [i for i in research if i.get_closest_marker("research_calibration")]
        if calibration:
            config.hook.pytest_deselected(items=calibration)
            items[:] = [i for i in items if i not in calibration]


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
def research_runner(research: ResearchState):
    return research.runner


@pytest.fixture
def record_run(record_property):
    """Attach a run's headline numbers to the test report (they travel with it to the
    controller, which builds the end-of-session table)."""

    def record(arm: str, record: dict, trained: bool) -> dict:
        record_property("research_run", {
            "arm": arm, "seed": record["seed"], "val_loss": record["val_loss"],
            "val_accuracy": record.get("val_accuracy"), "wall_time_s": record["wall_time"]["total_s"],
            "tokens_per_s": record.get("tokens_per_s"), "run_key": record["run_key"], "trained": trained,
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
        if self.state.settings.write_reports and (self.state.rows or self.state.workspace.runs.exists()):
            from research_harness.session_reports import write_reports  # noqa: PLC0415

            self.state.written.extend(write_reports(self.state.runner))
        for path in dict.fromkeys(self.state.written):
            session.config.hook.pytest_research_report_written(path=path, config=session.config)

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
