"""Where a study lives, and how a run is named on disk (the workflow's directory names)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

RESEARCH_TOKENS = 1_000_000
BASELINE_SEEDS = (42, 137, 256, 512, 1024)
ARM_SEEDS = (42, 137, 256)
EXTENSION_SEEDS = (512, 1024)
MAX_IDEAS = 3
# Fresh seeds of the confirmation (the first n, n fixed before any trains): disjoint from the
# gate's seeds above and from the A/A phase's blocks (research_harness.discovery.aa, >= 100000).
CONFIRMATION_SEEDS = tuple(range(10_001, 10_051))
MIN_CONFIRM_SEEDS = 6  # fewer fresh pairs leave the paired t too few degrees of freedom
MAX_CONFIRM_SEEDS = 10  # default of --research-max-confirm-seeds
PHASES = ("smoke", "baseline", "discovery", "paper", "archive", "calibration")
# The checkout research_harness (and the trainer beside it) was loaded from: built-in and
# user idea modules live here, so a report names them relative to it.
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def seed_order(seed: int) -> tuple[int, int]:
    """The workflow's seed order (42, 137, 256, 512, 1024), then any other seed by value
    (the confirmation's fresh seeds in their sequence's order)."""
    return (BASELINE_SEEDS.index(seed), seed) if seed in BASELINE_SEEDS else (len(BASELINE_SEEDS), seed)


def token_label(tokens: int) -> str:
    """1000000 -> '1M', 100000 -> '100k', 1500 -> '1500'."""
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if tokens >= size and tokens % size == 0:
            return f"{tokens // size}{unit}"
    if tokens >= 1_000_000:
        return f"{tokens / 1_000_000:g}M"
    return str(tokens)


@dataclass(frozen=True)
class Settings:
    research_dir: Path
    tokens: int = RESEARCH_TOKENS
    preset: str | None = None
    device: str | None = None
    write_reports: bool = False
    data_dir: Path | None = None
    executor: str = "local"  # "local" (sequential) or "ray"
    ray_address: str | None = None  # an existing cluster; None starts a local Ray
    ray_cpus: int = 1  # CPUs per run on a CPU-only Ray cluster
    mlflow_uri: str | None = None  # --research-mlflow: where runs are exported (None: off)
    agent: str = "catalogue"  # the research agent's backend
    agent_seed: int = 0  # seeds the catalogue's proposal and tie-break draws
    confirm: bool = True  # confirmation on fresh seeds when the gate proceeds (--research-no-confirm: False)
    max_confirm_seeds: int = MAX_CONFIRM_SEEDS  # --research-max-confirm-seeds: the most fresh seeds per arm
    calibration_studies: int = 10  # A/A repetitions of `-m research_calibration`
    sandbox: str = "bwrap"  # where model-written code runs: "bwrap", or "none" (the user's explicit opt-out)

    @property
    def research_scale(self) -> bool:
        return self.tokens == RESEARCH_TOKENS

    @property
    def label(self) -> str:
        return token_label(self.tokens)

    def scale_note(self) -> str:
        if self.research_scale:
            return ""
        return (f"**Not the research scale:** these runs used {self.tokens:,} training tokens, not the "
                f"workflow's {RESEARCH_TOKENS:,}. Do not compare them with 1M-token results.")


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def research_docs(self) -> Path:
        return self.root / "docs" / "research"

    @property
    def papers(self) -> Path:
        return self.root / "docs" / "papers"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    def journal_json(self, label: str) -> Path:
        """One journal per token budget: a test study at 100k tokens never mixes with the 1M study."""
        return self.research_docs / ("journal.json" if label == token_label(RESEARCH_TOKENS) else f"journal_{label}.json")

    def idea_log(self, label: str) -> Path:
        """docs/research/idea_log.md at the research scale (the workflow's name), idea_log_<label>.md otherwise."""
        return self.research_docs / ("idea_log.md" if label == token_label(RESEARCH_TOKENS) else f"idea_log_{label}.md")

    def baseline_report(self, label: str) -> Path:
        return self.research_docs / f"baseline_variance_{label}.md"

    def experiment_report(self, idea: str, label: str) -> Path:
        return self.research_docs / f"experiment_{idea}_{label}.md"

    def data_dir(self, settings: Settings) -> Path:
        if settings.data_dir:
            return Path(settings.data_dir)
        env = os.environ.get("RESEARCH_DATA_DIR")
        return Path(env) if env else self.root / "processed_data"

    def checkpoint_dir(self, arm: str, label: str, seed: int, key: str) -> Path:
        """The workflow's name (so `rm -rf checkpoints/baseline_1M_seed*` still works) plus the
        run key, so two configurations never share, resume or delete each other's checkpoint."""
        return self.checkpoints / f"{arm}_{label}_seed{seed}_{key}"

    def shown_path(self, path: str | Path) -> str:
        """A path as reports, papers and the journal print it: relative to the workspace,
        else to the project root, else the file's name alone. An absolute path would
        print the author's home directory and break when the study moves."""
        if not path:
            return ""
        path = Path(path)
        if not path.is_absolute():
            return path.as_posix()
        for root in (self.root, PROJECT_ROOT):
            if path.resolve().is_relative_to(Path(root).resolve()):
                return path.resolve().relative_to(Path(root).resolve()).as_posix()
        return path.name

    @staticmethod
    def checkpoint_key(folder: Path) -> str:
        """The run key a `checkpoint_dir` folder is named by (its name's last part)."""
        return folder.name.rsplit("_", 1)[-1]

    def lock(self, name: str):
        """A file lock for a read-change-write of a shared workspace file (the journal)."""
        from filelock import FileLock  # noqa: PLC0415

        path = self.root / "runs" / ".locks" / f"{name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(path))
