"""The research journal: docs/research/journal.json is the machine-readable source,
docs/research/idea_log.md its rendering in the seed's research-journal format.
Entries are never deleted; every status change is dated."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

from trainer.record import write_json_atomic

STATUSES = ("Backlog", "Under Review", "Ready to Test", "Testing", "Validated", "Inconclusive", "Failed", "Archived")
CLOSED = ("Validated", "Inconclusive", "Failed", "Archived")


@dataclass
class Entry:
    rid: str
    idea: str
    title: str
    category: str
    flag: str
    pitch: str
    slot: int
    status_history: list[dict] = field(default_factory=list)  # {"status", "date", "note"}
    review: dict = field(default_factory=dict)
    plan: dict = field(default_factory=dict)
    verification: dict = field(default_factory=dict)
    decisions: list[dict] = field(default_factory=list)  # {"seeds", "d", "decision", "date"}
    result: str = ""
    verdict: str = ""
    lessons: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.status_history[-1]["status"] if self.status_history else "Backlog"

    def set_status(self, status: str, note: str = "", today: str | None = None) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; one of {STATUSES}")
        if self.status_history and self.status_history[-1]["status"] == status and not note:
            return
        self.status_history.append({"status": status, "date": today or date.today().isoformat(), "note": note})


@dataclass
class Journal:
    path: Path
    entries: list[Entry] = field(default_factory=list)
    ideation: dict = field(default_factory=dict)  # slot -> {"candidates": [...], "scores": [...], "selected": name}

    @classmethod
    def load(cls, path: Path) -> "Journal":
        if not path.exists():
            return cls(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            entries = [Entry(**e) for e in raw.get("entries", [])]
        except (ValueError, TypeError) as exc:
            raise RuntimeError(f"the research journal {path} cannot be read ({exc}); it was left untouched. "
                               "Fix: restore it from version control or move it aside to start a new journal") from exc
        return cls(path, entries, {str(k): v for k, v in raw.get("ideation", {}).items()})

    def save(self) -> None:
        write_json_atomic(self.path, {"entries": [asdict(e) for e in self.entries], "ideation": self.ideation})

    def entry_for_slot(self, slot: int) -> Entry | None:
        return next((e for e in self.entries if e.slot == slot), None)

    def entry_for_idea(self, idea: str) -> Entry | None:
        return next((e for e in self.entries if e.idea == idea), None)

    def tried(self) -> set[str]:
        return {e.idea for e in self.entries}

    def new_entry(self, idea_meta: dict, slot: int) -> Entry:
        entry = Entry(rid=f"RID-{len(self.entries) + 1:02d}", idea=idea_meta["name"], title=idea_meta["title"],
                      category=idea_meta["category"], flag=idea_meta["flag"], pitch=idea_meta["pitch"], slot=slot)
        entry.set_status("Backlog", "proposed at ideation")
        self.entries.append(entry)
        return entry


def render_idea_log(journal: Journal, label: str) -> str:
    lines = ["# Research Idea Log", "",
             "Statuses: Backlog, Under Review, Ready to Test, Testing, Validated, Inconclusive, Failed, Archived. "
             "Entries are never deleted; every status change is dated.", ""]
    for e in journal.entries:
        lines += [f"## {e.rid}: {e.title}", "",
                  f"- **Status**: {e.status}",
                  f"- **Category**: {e.category}",
                  f"- **Flag**: `{e.flag}`",
                  f"- **Pitch**: {e.pitch}"]
        if e.review:
            r = e.review
            lines.append(f"- **Review**: feasibility {r['feasibility']}/5 ({r['implementation_lines']} lines), "
                         f"novelty {r['novelty']}/5, testability {r['testability']}/5, total {r['total']}/15")
        if e.plan:
            lines.append(f"- **Hypothesis**: {e.plan['hypothesis']}")
            lines.append(f"- **Control**: {e.plan['control']}")
            lines.append(f"- **Experimental**: {e.plan['experimental']}")
            lines.append(f"- **Success**: {e.plan['success']}; **failure**: {e.plan['failure']}")
        if e.verification:
            v = e.verification
            lines.append(f"- **Flag-off verification**: {v['summary']}")
        if e.result:
            lines.append(f"- **Result**: {e.result}")
        if e.verdict:
            lines.append(f"- **Verdict**: {e.verdict}")
        if e.lessons:
            lines.append("- **Lessons**: " + " ".join(e.lessons))
        lines += ["", "| Date | Status | Note |", "|------|--------|------|"]
        for h in e.status_history:
            lines.append(f"| {h['date']} | {h['status']} | {h['note']} |")
        lines.append("")
    if not journal.entries:
        lines.append("_No ideas logged yet._")
    if journal.ideation:
        lines += ["", "# Ideation and review", ""]
        for slot in sorted(journal.ideation, key=int):
            record = journal.ideation[slot]
            chosen = f" (selected: `{record['selected']}`)" if record.get("selected") else ""
            lines += [f"## Idea {slot}: candidates{chosen}", "", record.get("text", "").rstrip(), ""]
    return "\n".join(lines) + "\n"


def write_idea_log(journal: Journal, path: Path, label: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_idea_log(journal, label), encoding="utf-8")
    return path
