"""Run records: the JSON a finished (or failed) run leaves behind, and the
fingerprints that say which code and data made it."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

import torch

RECORD_SCHEMA = 1
_TRAINER_DIR = Path(__file__).resolve().parent


def trainer_code_fingerprint() -> str:
    """Hash of the trainer's own source (ideas excluded: an enabled idea adds its own)."""
    h = hashlib.sha256()
    files = sorted(_TRAINER_DIR.glob("*.py")) + [_TRAINER_DIR / "ideas" / "base.py", _TRAINER_DIR / "ideas" / "__init__.py"]
    for path in files:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def code_fingerprint(ideas_fp: str | None = None) -> str:
    base = trainer_code_fingerprint()
    return base if not ideas_fp or ideas_fp == hashlib.sha256().hexdigest()[:16] else f"{base}+{ideas_fp}"


def device_info(device: torch.device) -> dict:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = platform.processor() or platform.machine()
        try:
            for line in open("/proc/cpuinfo", encoding="utf-8"):
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
    return {"type": device.type, "name": name, "threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version()}


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_json_atomic(path: str | Path, obj) -> None:
    """Write-then-rename, so a crash never leaves half a record behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, sort_keys=False, allow_nan=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
