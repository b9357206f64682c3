"""The reviewers' hard checks, run on the paper rendered with its placeholders left in:
every number traced, the mandated content present, the evidence level worded as it is,
and every claim about the runs backed by the records. A finding here is a template bug
(or a refused revision), never a matter of taste."""

from __future__ import annotations

import re
from dataclasses import dataclass

from research_harness.paper.analysis import Analysis
from research_harness.paper.numbers import PLACEHOLDER, NumberTable, untraced_digits
from research_harness.vocabulary import level_words

REQUIRED = ("Abstract", "Introduction", "Related Work", "Method", "Experimental Setup", "Results", "Discussion",
            "Limitations", "Conclusion", "References")
OVERCLAIM = r"\b(prove[sn]?|proved|state[- ]of[- ]the[- ]art|breakthrough|groundbreaking|revolutionary|dramatic(ally)?)\b"
_NEGATED = r"(?<!not )(?<!no )(?<!never )"


@dataclass(frozen=True)
class Finding:
    check: str
    section: str
    message: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.section}: {self.message}"


def sections(md: str) -> dict[str, str]:
    """Section title -> body of the markdown paper (the title line is '' )."""
    parts = re.split(r"^## (.+)$", md, flags=re.M)
    out = {"": parts[0]}
    for title, body in zip(parts[1::2], parts[2::2]):
        out[title.strip()] = body
    return out


def trace(md: str, tex_body: str, numbers: NumberTable) -> list[Finding]:
    found = []
    for where, text in (("markdown", re.sub(r"\]\([^)]*\)", "]()", md)),
                        ("LaTeX", re.sub(r"\\includegraphics\[[^]]*\]\{[^}]*\}", "", tex_body))):
        for name in numbers.unknown(text):
            found.append(Finding("traced", where, f"placeholder ⟦{name}⟧ names no number in the table"))
        for context in untraced_digits(text)[:5]:
            found.append(Finding("traced", where, f"a number nobody traced: ...{context}..."))
    return found


def _seed_count_stated(text: str) -> bool:
    return "N = ⟦n.arm⟧" in text


def _arms_swapped(text: str) -> list[str]:
    """Placeholders of one arm whose arm word names another arm. Our sentences say "X ± s
    for the experimental arm": the first arm word after a number names its arm (the last
    one before it when none follows)."""
    bad = []
    for sentence in re.split(r"(?<=[.;:])\s", text):
        prose = PLACEHOLDER.sub(lambda m: " " * len(m.group(0)), sentence)  # arm words outside placeholders
        words = [(m.start(), m.group(1)) for m in re.finditer(r"\b(experimental|control|baseline)\b", prose)]
        for m in PLACEHOLDER.finditer(sentence):
            arm = m.group(1).split(".")[0]
            after = [w for pos, w in words if pos > m.end()]
            before = [w for pos, w in words if pos < m.start()]
            named = after[0] if after else before[-1] if before else arm
            if arm in ("experimental", "control", "baseline") and named != arm:
                bad.append(f"⟦{m.group(1)}⟧ is followed by '{named}'")
    return bad


def check_content(md: str, a: Analysis) -> list[Finding]:
    """Mandated sections and content, the evidence wording, and claims against the records."""
    found, body = [], sections(md)
    level, facts = a.evidence.level.value, a.facts
    for title in REQUIRED:
        if not body.get(title, "").strip():
            found.append(Finding("structure", title, "a mandated section is missing or empty"))
    results = body.get("Results", "")
    for needle, what in (("| Metric | Mean | Std | Min | Max |", "the baseline variance table"),
                         ("Control − experimental", "the per-seed table"), ("Cohen's d", "Cohen's d"),
                         ("Hedges' g", "Hedges' g"), ("% CI", "a confidence interval"),
                         ("One-sided p on the fresh seeds" if a.evidence.confirmation else "p adjusted",
                          "the deciding p-value"),
                         ("Wall-clock (s)", "the wall-clock table")):
        if needle not in results:
            found.append(Finding("mandated", "Results", f"{what} is missing"))
    for title in ("Abstract", "Results", "Discussion", "Conclusion"):
        if not _seed_count_stated(body.get(title, "")):
            found.append(Finding("seeds-stated", title, "the number of seeds per arm is not stated (N = ...)"))
    word = level_words(level).paper_word
    for title in ("", "Abstract", "Results", "Conclusion"):
        if word not in body.get(title, "").lower():
            found.append(Finding("evidence", title or "Title", f"the evidence level ({level}) is not stated"))
    claims = "".join(v for k, v in body.items() if k == "" or k in REQUIRED and k != "References")
    forbidden = [(OVERCLAIM, "overclaiming word")]
    if level != "confirmed":
        forbidden.append((_NEGATED + r"\b(validated|significant(ly)?|confirms|is confirmed|confirmed improvement)\b",
                          f"a claim the evidence level ({level}) does not allow"))
    if not facts.same_hardware:
        forbidden.append((r"\bsame (device|hardware)\b", "'same hardware', but the records show several"))
    if not facts.sequential:
        forbidden.append((r"(were|ran) sequential|no two runs overlapped", "'sequential', but runs overlapped in time"))
    if not facts.wall_times_comparable:
        forbidden.append((_NEGATED + r"\b(can be compared|are comparable)\b", "wall times called comparable"))
    if a.config_diff:
        forbidden.append((r"no retuning|same hyperparameters", "'no retuning', but the arms' configurations differ"))
    if not a.control_is_baseline:
        forbidden.append((r"stored baseline runs of the same seeds", "control runs called baseline runs"))
    for pattern, why in forbidden:
        for m in re.finditer(pattern, claims, flags=re.I):
            found.append(Finding("claims", "paper", f"{why}: '{m.group(0)}'"))
    for title in ("Abstract", "Conclusion"):
        for problem in _arms_swapped(body.get(title, "")):
            found.append(Finding("arms", title, f"a number is attributed to the wrong arm: {problem}"))
    if not a.inputs.research_scale:
        for title in ("", "Limitations"):
            if "not the research scale" not in body.get(title, "").lower():
                found.append(Finding("scale", title or "Title", "runs below the research budget are not labelled"))
    return found
