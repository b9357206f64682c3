"""Getting runs: `Runner.get_or_train(arm, seed)` returns a run's record and whether it
was trained now. The run's identity is computed once, by its `RunPlan`; a stored record
is reused; a missing one is trained under a per-key file lock (so two processes sharing
a workspace never train the same run twice) by the session's executor, then stored."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import Callable

from trainer.data import TokenizedData, prepare_data
from trainer.run import RunPlan, TrainingDiverged, TrainingSession, plan_run

from research_harness.executors import Executor
from research_harness.executors.local import LocalExecutor
from research_harness.sandbox import runs_in_sandbox
from research_harness.store import RunStore, held
from research_harness.workspace import Settings, Workspace, token_label


@dataclass(frozen=True)
class Arm:
    """A configuration to train: its on-disk name (baseline, control, exp, ...), its
    idea flags, a purpose that keeps its runs apart (a verification rerun), and ideas
    whose modules are loaded with their flags off (what a verification rerun checks)."""

    name: str
    flags: tuple[str, ...] = ()
    purpose: str = ""
    load: tuple[str, ...] = ()


@dataclass
class Runner:
    settings: Settings
    workspace: Workspace
    log: Callable[[str], None] = print
    executor: Executor = field(default_factory=LocalExecutor)
    # Called with every record this runner returns (trained now or found stored): the plugin
    # turns it into the pytest_research_run_stored hook.
    on_record: Callable[[dict], None] | None = None
    # Called with (idea, decision) when the gate judges an idea: the pytest_research_decision hook.
    on_decision: Callable[[str, dict], None] | None = None
    # The validated configuration changes of model-written ideas ({idea: {"model": {...},
    # "train": {...}}}), made by their configure() in the sandbox; the journal keeps them.
    configured: dict = field(default_factory=dict)
    _data: dict = field(default_factory=dict)
    _plans: dict = field(default_factory=dict)

    @property
    def idea_dirs(self) -> list:
        """Researchers' ideas live under <workspace>/experiments/ideas/."""
        return [self.workspace.root / "experiments" / "ideas"]

    @property
    def generated_dir(self):
        """Where the research agent's modules live: read from their syntax tree, run only in the sandbox."""
        return self.workspace.root / "experiments" / "ideas" / "generated"
    @property
    def store(self) -> RunStore:
        return RunStore(self.workspace.runs)

    def data(self, vocab_size: int) -> TokenizedData:
        if vocab_size not in self._data:
            self._data[vocab_size] = prepare_data(vocab_size, cache_dir=self.workspace.data_dir(self.settings), log=self.log)
        return self._data[vocab_size]

    def plan(self, arm: Arm, tokens: int | None = None) -> RunPlan:
        """The arm's configuration with its data bound: the one place a run key comes from."""
        tokens = tokens or self.settings.tokens
        cache_key = (arm, tokens)
        if cache_key not in self._plans:
            plan = plan_run(self.settings.preset, train_tokens=tokens, flags=list(arm.flags), device=self.settings.device,
                            idea_dirs=self.idea_dirs, untrusted_dirs=[self.generated_dir], purpose=arm.purpose,
                            configured=self.configured, load=list(arm.load))
            self._plans[cache_key] = plan.bind_data(self.data(plan.model_cfg.vocab_size))
        return self._plans[cache_key]

    def forget_plans(self) -> None:
        """Drop cached plans, e.g. after an idea module was added or reverted."""
        self._plans.clear()

    def key(self, arm: Arm, seed: int, tokens: int | None = None) -> str:
        return self.plan(arm, tokens).key(seed)

    def lookup(self, arm: Arm, seed: int, tokens: int | None = None) -> dict | None:
        return self.store.get(self.key(arm, seed, tokens))

    def prefetch(self, arm: Arm, seeds, tokens: int | None = None) -> None:
        """Tell the executor which seeds of an arm come next (Ray starts them all at once)."""
        if not getattr(self.executor, "starts_early", False):
            return
        plan = self.plan(arm, tokens)
        missing = [s for s in seeds if self.store.get(plan.key(s)) is None and self.store.get_failed(plan.key(s)) is None]
        if missing:
            self.executor.prefetch(self, arm, plan, missing)

    def get_or_train(self, arm: Arm, seed: int, tokens: int | None = None, *,
                     keep_checkpoint: bool = True) -> tuple[dict, bool]:
        """(record, trained_now) for (arm, seed). A diverged run raises TrainingDiverged,
        and its record is kept beside the store (runs/failed/) for the reports: it is a
        result too, never retrained behind the user's back (delete it to try again)."""
        plan = self.plan(arm, tokens)
        key = plan.key(seed)
        record = self.store.get(key)
        if record is None:
            with held(self.store.lock(key), self.log, f"training {arm.name} seed {seed} ({key})"):
                record = self.store.get(key)  # another process may have stored it while we waited
                if record is None:
                    self._raise_if_failed(key)
                    record = self._train(arm, plan, seed, key, keep_checkpoint)
                    self._report(record)
                    return record, True
        self._report(record)
        return record, False

    def remove_checkpoints(self, *patterns: str) -> list:
        """Delete the checkpoint folders matching `patterns` (the workflow's cleanup steps).
        Each folder's run key is locked first, so a session never deletes a checkpoint that
        another session sharing the workspace is writing; a folder another session removed
        first is no error."""
        removed = []
        for pattern in patterns:
            for path in sorted(self.workspace.checkpoints.glob(pattern)):
                key = self.workspace.checkpoint_key(path)
                with held(self.store.lock(key), self.log, f"writing checkpoint {path.name}"):
                    shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        return removed

    def _raise_if_failed(self, key: str) -> None:
        failed = self.store.get_failed(key)
        if failed is not None:
            reason = (failed.get("failure") or {}).get("reason", "the run diverged")
            raise TrainingDiverged(f"{reason} (stored failed run {self.store.failed_path(key)}; delete it to retrain)",
                                   failed)

    def _train(self, arm: Arm, plan: RunPlan, seed: int, key: str, keep_checkpoint: bool) -> dict:
        out = self.workspace.checkpoint_dir(arm.name, token_label(plan.train_cfg.train_tokens), seed, key)
        self.log(f"[research] training {arm.name} seed {seed} on {self.executor.name}: "
                 f"{plan.train_cfg.train_tokens:,} tokens -> {out}")
        try:
            record = self.executor.train(self, arm, plan, seed, out, keep_checkpoint)
        except TrainingDiverged as exc:
            self.store.put_failed({**exc.record, "run_key": key, "arm": arm.name})
            raise
        executor = "sandbox" if runs_in_sandbox(plan) else self.executor.name
        record = self.store.put(record, arm=arm.name, purpose=arm.purpose, checkpoint_dir=str(out), executor=executor)
        self.log(f"[research] {arm.name} seed {seed}: val_loss {record['val_loss']:.4f}, "
                 f"{record['wall_time']['total_s']:.1f} s, {record['tokens_per_s']:,.0f} tok/s")
        return record

    def _report(self, record: dict) -> None:
        if self.on_record is not None:
            self.on_record(record)

    def decided(self, idea: str, decision: dict) -> None:
        if self.on_decision is not None:
            self.on_decision(idea, decision)

    def new_session(self, plan: RunPlan) -> TrainingSession:
        session = TrainingSession(plan=plan, log=self.log)
        session.git_dir = self.workspace.root
        return session
