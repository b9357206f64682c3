"""The run store: one JSON record per finished run under <workspace>/runs/, keyed by
everything that decides the result (trainer.run.run_identity). A stored record is
never retrained and never silently overwritten."""

from __future__ import annotations

import json
import math
from pathlib import Path

from trainer.record import write_json_atomic


class StoreError(RuntimeError):
    """A record that cannot be trusted; the message names the file and the fix."""


class RunStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path_for(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def get(self, key: str) -> dict | None:
        path = self.path_for(key)
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StoreError(f"run record {path} cannot be read ({exc}); it was left untouched. Fix: inspect it, "
                             f"then delete it to retrain that run") from exc
        problem = validate_record(record, key)
        if problem:
            raise StoreError(f"run record {path} is invalid ({problem}); it was left untouched. Fix: delete it to retrain that run")
        record["record_path"] = str(path)
        return record

    def put(self, record: dict, **extra) -> dict:
        stored = {**record, **extra}
        path = self.path_for(stored["run_key"])
        if path.exists():
            raise StoreError(f"refusing to overwrite the stored run {path}")
        stored.pop("record_path", None)
        write_json_atomic(path, stored)
        return {**stored, "record_path": str(path)}

    def all(self) -> list[dict]:
        out = []
        for path in sorted(self.root.glob("*.json")):
            try:
                out.append({**json.loads(path.read_text(encoding="utf-8")), "record_path": str(path)})
            except (OSError, ValueError):
                continue
        return out


def validate_record(record, key: str | None = None) -> str | None:
    if not isinstance(record, dict):
        return "not a JSON object"
    for field in ("run_key", "seed", "status", "val_loss", "wall_time", "config"):
        if field not in record:
            return f"missing field {field!r}"
    if key is not None and record["run_key"] != key:
        return f"run_key {record['run_key']!r} does not match the file name"
    if record["status"] != "finished":
        return f"status is {record['status']!r}, not 'finished'"
    if not isinstance(record["val_loss"], (int, float)) or not math.isfinite(record["val_loss"]):
        return f"val_loss is {record['val_loss']!r}"
    return None
