"""The research journal: docs/research/journal.json is the machine-readable source,
docs/research/idea_log.md its rendering in the workflow's research-journal format.
Entries are never deleted; every status change is dated."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from pathlib import Path

from trainer.atomic import write_atomic

from research_harness.secrets import redact

from research_harness.workspace import ARM_SEEDS, EXTENSION_SEEDS

# "Validated" is said only of a result confirmed on fresh seeds; "Not confirmed" when the
# confirmation ran and did not confirm; an idea that passed the workflow's gate with no
# confirmation (yet, or --research-no-confirm) is "Proceeded (preliminary)"
# (research_harness.gates.journal_status). All three end the study: it stops at the first
# idea whose gate proceeds, as the workflow says.
STATUSES = ("Backlog", "Under Review", "Ready to Test", "Testing", "Validated", "Not confirmed",
            "Proceeded (preliminary)", "Inconclusive", "Failed", "Archived")
PROCEEDED = ("Validated", "Not confirmed", "Proceeded (preliminary)")
CLOSED = (*PROCEEDED, "Inconclusive", "Failed", "Archived")


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
    review: dict = field(default_factory=dict)  # the selected candidate's scores and rationale
    plan: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)  # the idea as proposed (a model's idea has no module yet)
    implementation: dict = field(default_factory=dict)  # {"module", "generated", "attempts": [...]}
    verification: dict = field(default_factory=dict)
    runs: dict = field(default_factory=dict)  # {"control"|"exp": {seed: run key}}: the records, found without the code
    looks: list = field(default_factory=list)  # seeds of design look j (3, 5, confirmation); None if not taken
    decisions: list[dict] = field(default_factory=list)  # one per gate look: seeds, d, decision, evidence, status
    evidence: dict = field(default_factory=dict)  # the latest evidence level, p and bound
    confirmation: dict = field(default_factory=dict)  # fixed before its first run: seeds, n, planned effect, reason
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

    def fail(self, reason: str, verdict: str = "") -> None:
        self.set_status("Failed", reason)
        self.verdict = verdict or self.verdict or "not supported"
        self.lessons.append(reason)


@dataclass
class Journal:
    path: Path
    entries: list[Entry] = field(default_factory=list)
    ideation: dict = field(default_factory=dict)  # slot -> {"candidates", "proposals", "scores", "selected", "text"}
    # The study's pre-registered design, fixed at its first gate: {"confirm": bool, "max_confirm_seeds": int}.
    # A later session cannot add or drop the confirmation.
    design: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> "Journal":
        if not path.exists():
            return cls(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            known = {f.name for f in fields(Entry)}
            entries = [Entry(**{k: v for k, v in e.items() if k in known}) for e in raw.get("entries", [])]
        except (ValueError, TypeError) as exc:
            raise RuntimeError(f"the research journal {path} cannot be read ({exc}); it was left untouched. "
                               "Fix: restore it from version control or move it aside to start a new journal") from exc
        design = raw.get("design", {})
        if "max_seeds" in design:
            # Written before confirmation moved to fresh seeds: its "confirmed" came from the
            # gate's own seeds, so its levels do not mean what this version's words say.
            raise RuntimeError(
                f"the research journal {path} was written by an older research_harness, whose evidence levels came "
                "from the gate's own seeds (design {design}); this version confirms only on fresh seeds and would "
                "describe that study wrongly. It was left untouched. Fix: move it and its idea log aside (or pass "
                "another --research-tokens label) to start a new study; stored runs stay in runs/ and are reused "
                "wherever their run keys still match")
        return cls(path, entries, {str(k): v for k, v in raw.get("ideation", {}).items()}, design)

    def save(self) -> None:
        # Text from a sandbox is redacted where it comes out; once more here, so no path into
        # the journal (an agent's error, a model's reply) can store a secret value.
        text = json.dumps({"entries": [asdict(e) for e in self.entries], "ideation": self.ideation,
                           "design": self.design}, indent=2, allow_nan=True)
        write_atomic(self.path, redact(text))

    def entry_for_slot(self, slot: int) -> Entry | None:
        return next((e for e in self.entries if e.slot == slot), None)

    def tried(self) -> set[str]:
        return {e.idea for e in self.entries}

    def outcomes(self) -> list[dict]:
        """What the agent's policy may use: each tried idea's category and status."""
        return [{"idea": e.idea, "category": e.category, "status": e.status} for e in self.entries]

    def new_entry(self, meta: dict, slot: int) -> Entry:
        entry = Entry(rid=f"RID-{len(self.entries) + 1:02d}", idea=meta["name"], title=meta["title"],
                      category=meta["category"], flag=f"--use_{meta['name']}", pitch=meta.get("pitch", ""), slot=slot,
                      metadata=dict(meta))
        entry.set_status("Backlog", "proposed at ideation")
        self.entries.append(entry)
        return entry


def format_candidates(proposals: list[dict], scores: list[dict]) -> str:
    """The workflow's ideation format for each candidate, and the review table."""
    by_name = {s["name"]: s for s in scores}
    out = []
    for i, idea in enumerate(proposals, 1):
        out += [f"### Candidate {i}: {idea['title']}", "",
                f"- **Pitch**: {idea['pitch']}", f"- **Math**: $${idea['math']}$$",
                f"- **Pro**: {idea['why_it_might_work']}", f"- **Con**: {idea['why_it_might_not']}",
                f"- **Flag**: `--use_{idea['name']}`",
                f"- **Test**: control vs experimental arms, seeds {', '.join(map(str, ARM_SEEDS))} (then "
                f"{', '.join(map(str, EXTENSION_SEEDS))} if suggestive); if it proceeds, confirmation on fresh seeds",
                f"- **Success**: {idea['success_criterion']}", ""]
    out += ["| Candidate | Feasibility | Novelty | Testability | Total | Why |",
            "|-----------|-------------|---------|-------------|-------|-----|"]
    for idea in proposals:
        s = by_name.get(idea["name"])
        if s is None:
            continue
        why = s["rationale"] if isinstance(s["rationale"], str) else " ".join(s["rationale"].values())
        total = s.get("total", s["feasibility"] + s["novelty"] + s["testability"])
        out.append(f"| {idea['name']} | {s['feasibility']} | {s['novelty']} | {s['testability']} | {total} | "
                   f"{why.replace('|', '/')} |")
    return "\n".join(out) + "\n"


def render_idea_log(journal: Journal) -> str:
    lines = ["# Research Idea Log", "",
             f"Statuses: {', '.join(STATUSES)}. \"Validated\" means confirmed on fresh seeds (a one-sided paired t); "
             "\"Not confirmed\" that the confirmation ran and did not confirm; an idea that passed the workflow's gate "
             "without confirmation is \"Proceeded (preliminary)\". Entries are "
             "never deleted; every status change is dated.", ""]
    for e in journal.entries:
        lines += [f"## {e.rid}: {e.title}", "", f"- **Status**: {e.status}", f"- **Category**: {e.category}",
                  f"- **Flag**: `{e.flag}`", f"- **Pitch**: {e.pitch}"]
        if e.review:
            r = e.review
            note = r.get("rationale", {}).get("selection", "") if isinstance(r.get("rationale"), dict) else ""
            lines.append(f"- **Review**: feasibility {r['feasibility']}/5, novelty {r['novelty']}/5, "
                         f"testability {r['testability']}/5" + (f". {note}" if note else ""))
        if e.plan:
            lines.append(f"- **Hypothesis**: {e.plan['hypothesis']}")
            if e.plan.get("probe"):  # the catalogue's behaviour probe: measured on the tiny preset, its own label
                scope = e.plan.get("probe_scope", "tiny preset, a mechanism check")
                lines.append(f"- **Probe ({scope})**: " + "; ".join(e.plan["probe"]))
            lines += [f"- **Control**: {e.plan['control']}", f"- **Experimental**: {e.plan['experimental']}",
                      f"- **Success**: {e.plan.get('success_criterion', '')}"]
        if e.implementation:
            how = "written by the research agent" if e.implementation.get("generated") else "existing module"
            if e.implementation.get("sandbox") == "none":
                how += "; it ran WITHOUT a sandbox (--research-sandbox none)"
            lines.append(f"- **Implementation**: `{e.implementation.get('module', '?')}` ({how})")
        if e.verification:
            lines.append(f"- **Flag-off verification**: {e.verification['summary']}")
        if e.evidence:
            ev = e.evidence
            if ev.get("deciding_look") == 2:
                lines.append(f"- **Evidence**: {ev['level']} (confirmation on fresh seeds, {ev['decided_by']}; "
                             f"one-sided p {ev['p_family_adjusted']:.3g}; 95% lower bound of the improvement "
                             f"{ev['lower_bound']:+.4f} nats)")
            else:
                lines.append(f"- **Evidence**: {ev['level']} (exploratory {ev['decided_by']} on the gate's seeds; p "
                             f"adjusted for looks and ideas {ev['p_family_adjusted']:.3g}, descriptive only)")
        if e.confirmation:
            lines.append(f"- **Confirmation plan**: {e.confirmation['n']} fresh seeds per arm, fixed before any ran "
                         f"({e.confirmation['reason']})")
        for label, text in (("Result", e.result), ("Verdict", e.verdict)):
            if text:
                lines.append(f"- **{label}**: {text}")
        if e.lessons:
            lines.append("- **Lessons**: " + " ".join(e.lessons))
        lines += ["", "| Date | Status | Note |", "|------|--------|------|"]
        lines += [f"| {h['date']} | {h['status']} | {h['note']} |" for h in e.status_history]
        lines.append("")
    if not journal.entries:
        lines.append("_No ideas logged yet._")
    if journal.ideation:
        lines += ["", "# Ideation and review", ""]
        for slot in sorted(journal.ideation, key=int):
            record = journal.ideation[slot]
            chosen = f" (selected: `{record['selected']}`)" if record.get("selected") else ""
            lines += [f"## Idea {slot}: candidates{chosen}", "", record.get("text", "").rstrip(), ""]
            if record.get("error"):
                lines += [f"**The research agent failed**: {record['error']}", ""]
    return "\n".join(lines) + "\n"


def write_idea_log(journal: Journal, path: Path) -> Path:
    return write_atomic(path, render_idea_log(journal))
