"""Getting runs: a stored record is reused; a missing one is trained through the
trainer's public API and stored. Seeds of one configuration share one TrainingSession
(one model build, one compile)."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field

from trainer.record import write_json_atomic
from trainer.data import TokenizedData, prepare_data
from trainer.run import RunOptions, TrainingDiverged, TrainingSession, plan_run, run_identity, run_key

from research_harness.store import RunStore
from research_harness.workspace import Settings, Workspace, token_label


@dataclass(frozen=True)
class Arm:
    """A configuration to train: its on-disk name (baseline, control, exp, ...), its
    idea flags, and a purpose that forces a separate record (e.g. a verification rerun)."""

    name: str
    flags: tuple[str, ...] = ()
    purpose: str = ""


@dataclass
class RunEvent:
    arm: str
    seed: int
    record: dict
    trained: bool
    seconds: float


@dataclass
class Runner:
    settings: Settings
    workspace: Workspace
    log: callable = print
    events: list[RunEvent] = field(default_factory=list)
    _data: dict = field(default_factory=dict)
    _session: TrainingSession | None = None
    _session_key: tuple | None = None

    @property
    def idea_dirs(self) -> list:
        """Researchers' ideas live in <workspace>/experiments/ideas/."""
        return [self.workspace.root / "experiments" / "ideas"]

    @property
    def store(self) -> RunStore:
        return RunStore(self.workspace.runs)

    def data(self, vocab_size: int) -> TokenizedData:
        if vocab_size not in self._data:
            self._data[vocab_size] = prepare_data(vocab_size, cache_dir=self.workspace.data_dir(self.settings), log=self.log)
        return self._data[vocab_size]

    def key(self, arm: Arm, seed: int, tokens: int | None = None) -> str:
        plan = plan_run(self.settings.preset, train_tokens=tokens or self.settings.tokens, flags=list(arm.flags),
                        device=self.settings.device, idea_dirs=self.idea_dirs)
        data = self.data(plan.model_cfg.vocab_size)
        plan.model_cfg.vocab_size = data.vocab_size
        key = run_key(run_identity(seed, plan.preset, plan.model_cfg, plan.train_cfg, [i.name for i in plan.ideas],
                                   plan.device, data.fingerprint, plan.code_fingerprint))
        if arm.purpose:
            key = hashlib.sha256(f"{key}:{arm.purpose}".encode()).hexdigest()[:20]
        return key

    def lookup(self, arm: Arm, seed: int, tokens: int | None = None) -> dict | None:
        return self.store.get(self.key(arm, seed, tokens))

    def ensure(self, arm: Arm, seed: int, tokens: int | None = None, *, keep_checkpoint: bool = True) -> dict:
        """The record for (arm, seed): from the store, or trained now and stored."""
        tokens = tokens or self.settings.tokens
        key = self.key(arm, seed, tokens)
        t0 = time.perf_counter()
        record = self.store.get(key)
        if record is not None:
            self.events.append(RunEvent(arm.name, seed, record, False, time.perf_counter() - t0))
            return record
        session = self._session_for(arm, tokens)
        out = self.workspace.checkpoint_dir(arm.name, token_label(tokens), seed)
        self.log(f"[research] training {arm.name} seed {seed}: {tokens:,} tokens, {session.describe()} -> {out}")
        try:
            record = session.run(seed, RunOptions(output_dir=out, overwrite=True, keep_checkpoint=keep_checkpoint,
                                                  quiet=False))
        except TrainingDiverged as exc:
            # A failed run is kept beside the store for the report, but never counts as finished.
            write_json_atomic(self.store.root / "failed" / f"{key}.json", {**exc.record, "run_key": key, "arm": arm.name})
            raise
        record = self.store.put(record, run_key=key, arm=arm.name, purpose=arm.purpose, checkpoint_dir=str(out))
        self.log(f"[research] {arm.name} seed {seed}: val_loss {record['val_loss']:.4f}, "
                 f"{record['wall_time']['total_s']:.1f} s, {record['tokens_per_s']:,.0f} tok/s")
        self.events.append(RunEvent(arm.name, seed, record, True, time.perf_counter() - t0))
        return record

    def failed_record(self, arm: Arm, seed: int, tokens: int | None = None) -> dict | None:
        path = self.store.root / "failed" / f"{self.key(arm, seed, tokens)}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def _session_for(self, arm: Arm, tokens: int) -> TrainingSession:
        skey = (self.settings.preset, arm.flags, tokens, self.settings.device)
        # A verification rerun builds its model afresh: reusing the baseline's model would
        # hide a leak that acts when a model is constructed after an idea module is imported.
        if self._session_key != skey or arm.purpose:
            self._session = None  # free the previous model before building the next
            plan = plan_run(self.settings.preset, train_tokens=tokens, flags=list(arm.flags), device=self.settings.device,
                            idea_dirs=self.idea_dirs)
            self._session = TrainingSession(self.settings.preset, train_tokens=tokens, flags=list(arm.flags),
                                            device=self.settings.device, data=self.data(plan.model_cfg.vocab_size),
                                            idea_dirs=self.idea_dirs, log=self.log)
            self._session_key = skey
        return self._session
