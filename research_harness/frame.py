"""The run store as a pandas DataFrame: one row per stored run. Reports take their
tables from it, and `python -m research_harness runs` prints it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from research_harness.store import RunStore
from research_harness.workspace import Workspace

COLUMNS = ["run_key", "arm", "purpose", "flags", "seed", "tokens", "val_loss", "val_accuracy", "tokens_per_s",
           "wall_total_s", "setup_s", "compile_s", "train_s", "eval_s", "device", "device_name", "preset",
           "code_fingerprint", "data_fingerprint", "git_commit", "git_dirty", "started", "finished", "record_path"]


def _row(record: dict) -> dict:
    wall, device, code = record["wall_time"], record["device"], record.get("code", {})
    return {
        "run_key": record["run_key"], "arm": record.get("arm", ""), "purpose": record.get("purpose", ""),
        "flags": ",".join(sorted(record.get("flags") or [])), "seed": record["seed"], "tokens": record["train_tokens"],
        "val_loss": record["val_loss"], "val_accuracy": record.get("val_accuracy"),
        "tokens_per_s": record.get("tokens_per_s"), "wall_total_s": wall["total_s"], "setup_s": wall.get("setup_s"),
        "compile_s": wall.get("compile_s"), "train_s": wall.get("train_s"), "eval_s": wall.get("eval_s"),
        "device": device.get("type"), "device_name": device.get("name"), "preset": record.get("preset"),
        "code_fingerprint": record.get("code_fingerprint"), "data_fingerprint": record.get("data", {}).get("fingerprint"),
        "git_commit": code.get("git_commit"), "git_dirty": code.get("git_dirty"),
        "started": record.get("started"), "finished": record.get("finished"), "record_path": record.get("record_path"),
    }


def records_frame(records: list[dict]) -> pd.DataFrame:
    """A DataFrame of the given records (same columns as `runs_frame`), in the given order."""
    frame = pd.DataFrame([_row(r) for r in records], columns=COLUMNS)
    for column in ("started", "finished"):
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame


def runs_frame(workspace: str | Path | Workspace) -> pd.DataFrame:
    """One row per stored run of the workspace: arm, idea flags, seed, tokens, val_loss,
    tokens/s, the wall-time split, device, code fingerprint, started/finished (UTC).
    Ordered by the time each run started."""
    root = workspace.root if isinstance(workspace, Workspace) else Path(workspace)
    frame = records_frame(RunStore(Workspace(root).runs).all())
    return frame.sort_values(["started", "run_key"], kind="stable").reset_index(drop=True)
