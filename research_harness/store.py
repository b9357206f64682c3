"""The run store: one JSON record per finished run under <workspace>/runs/, keyed by
everything that decides the result (`trainer.run.RunPlan.key`). A record is validated
once, where it enters the store; a stored record is never retrained and never
overwritten. Several processes may share a store: each key has its own file lock."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from trainer.atomic import write_json_atomic
from trainer.record import record_problem


class StoreError(RuntimeError):
    """A record that cannot be trusted; the message names the file and the fix."""


class RunStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path_for(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def failed_path(self, key: str) -> Path:
        return self.root / "failed" / f"{key}.json"

    def lock(self, key: str) -> FileLock:
        """The lock a process holds while it trains or writes `key`."""
        path = self.root / ".locks" / f"{key}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(path))

    def get(self, key: str) -> dict | None:
        path = self.path_for(key)
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StoreError(f"run record {path} cannot be read ({exc}); it was left untouched. Fix: inspect it, "
                             f"then delete it to retrain that run") from exc
        problem = record_problem(record, key)
        if problem:
            raise StoreError(f"run record {path} is invalid ({problem}); it was left untouched. "
                             "Fix: delete it to retrain that run")
        record["record_path"] = str(path)
        return record

    def put(self, record: dict, **extra) -> dict:
        """Validate and store a finished run; refuses to replace a stored one."""
        stored = {**record, **extra}
        stored.pop("record_path", None)
        problem = record_problem(stored)
        if problem:
            raise StoreError(f"refusing to store run {stored.get('run_key')!r}: {problem}")
        path = self.path_for(stored["run_key"])
        if path.exists():
            raise StoreError(f"refusing to overwrite the stored run {path}")
        write_json_atomic(path, stored)
        return {**stored, "record_path": str(path)}

    def put_failed(self, record: dict) -> Path:
        """A diverged run is kept beside the store for the reports, never as finished."""
        path = self.failed_path(record["run_key"])
        write_json_atomic(path, record)
        return path

    def get_failed(self, key: str) -> dict | None:
        path = self.failed_path(key)
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def all(self) -> list[dict]:
        """Every valid stored record; unreadable or invalid files are left out (`get` names them)."""
        out = []
        for path in sorted(self.root.glob("*.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if record_problem(record, path.stem) is None:
                out.append({**record, "record_path": str(path)})
        return out


@contextmanager
def held(lock: FileLock, log, what: str):
    """Hold `lock` for the block, saying so when another process holds it first (a wait
    can last a whole run)."""
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log(f"[research] waiting: another process is {what}")
        lock.acquire()
    try:
        yield lock
    finally:
        lock.release()
