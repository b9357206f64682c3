"""Every model request and reply, one JSON file each, under <workspace>/runs/agent/.

A transcript's name is the hash of what decides the reply: {task, model, messages}
(not the endpoint, the key or the time). Before asking the model, a backend looks the
hash up and replays the stored reply, so a killed study resumes without asking again
and the same transcripts give the same study; the paper cites the hashes it used.
Files are written atomically (trainer.atomic.write_atomic): a transcript is whole or absent."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from trainer.atomic import write_atomic
from trainer.record import utc_now

__all__ = ["TranscriptStore", "TranscriptError", "transcript_hash", "SCHEMA", "HASH_CHARS"]

SCHEMA = 1
HASH_CHARS = 20


class TranscriptError(RuntimeError):
    """A transcript file that cannot be read or does not match its name."""


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def transcript_hash(task: str, model: str, messages: list[dict]) -> str:
    """The first HASH_CHARS hex digits of sha256 over the canonical JSON of {task, model, messages}."""
    blob = _canonical({"task": task, "model": model, "messages": messages})
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:HASH_CHARS]


class TranscriptStore:
    """The transcript folder. `TranscriptStore.for_workspace(ws)` is <ws>/runs/agent."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @classmethod
    def for_workspace(cls, workspace: str | Path) -> "TranscriptStore":
        return cls(Path(workspace) / "runs" / "agent")

    def path(self, hash_: str) -> Path:
        return self.root / f"{hash_}.json"

    def load(self, hash_: str) -> dict | None:
        path = self.path(hash_)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise TranscriptError(f"transcript {path} is unreadable ({exc}); delete it to ask the model again") from exc
        if not isinstance(record, dict) or record.get("hash") != hash_:
            raise TranscriptError(f"transcript {path} does not hold the request its name says; "
                                  "delete it to ask the model again")
        return record

    def get(self, task: str, model: str, messages: list[dict]) -> dict | None:
        """The stored transcript of exactly this request, or None."""
        record = self.load(transcript_hash(task, model, messages))
        if record is not None and (record.get("task"), record.get("model"), record.get("messages")) != (task, model, messages):
            raise TranscriptError(f"transcript {self.path(record['hash'])} was edited: its request differs from "
                                  "the one its name hashes; delete it to ask the model again")
        return record

    def put(self, *, task: str, model: str, base_url: str, messages: list[dict], raw: str | None,
            parsed: Any = None, error: str | None = None, usage: dict | None = None,
            latency_s: float | None = None, finish_reason: str | None = None) -> dict:
        """Store one request and its reply; returns the record written (with its hash)."""
        hash_ = transcript_hash(task, model, messages)
        record = {
            "schema": SCHEMA, "hash": hash_, "task": task, "model": model, "base_url": base_url,
            "messages": messages,
            "reply": {"raw": raw, "parsed": parsed, "error": error, "finish_reason": finish_reason},
            "usage": usage or {}, "latency_s": latency_s,
            "created": utc_now(),
        }
        write_atomic(self.path(hash_), json.dumps(record, indent=2, ensure_ascii=False))
        return record

    def all(self) -> list[dict]:
        """Every transcript, oldest first (ties by hash)."""
        if not self.root.is_dir():
            return []
        records = [self.load(p.stem) for p in self.root.glob("*.json")]
        return sorted((r for r in records if r), key=lambda r: (r.get("created", ""), r["hash"]))
