"""The revision step: apply every fix the reviewers' findings allow, re-review, and keep a changelog.

Fixes are made from the records, never invented: a missing statement is rendered by the
same :class:`~research_harness.paper.draft.Writer` that drafted the paper (so its
numbers come from the registry), and an overclaiming word is replaced by the measured
wording listed in :data:`~research_harness.paper.review.OVERCLAIM_WORDS`. Findings
that text cannot fix (an invented term, a number typed by hand, a claim on fewer than
3 seeds) are left in place and reported.
"""

from __future__ import annotations

import re

from research_harness.paper.analysis import Analysis
from research_harness.paper.draft import BASE_REFERENCES, SCALE_LABEL, SECTION_ORDER, Writer
from research_harness.paper.mdtools import get_section, insert_section, join_sections, set_section, split_sections
from research_harness.paper.numbers import NumberRegistry, number_tokens
from research_harness.paper.review import (
    OVERCLAIM_WORDS,
    SIGNIFICANCE_WORDS,
    Finding,
    ReviewContext,
    review_all,
)

__all__ = ["context_for", "revise_paper", "apply_fixes"]


def context_for(analysis: Analysis, registry: NumberRegistry, writer: Writer | None = None) -> ReviewContext:
    """The reviewers' context for a paper rendered from ``analysis`` through ``registry``."""
    idea = analysis.idea
    meta_text = []
    for v in idea.values():
        if isinstance(v, str):
            meta_text.append(v)
        elif isinstance(v, (list, tuple)):
            meta_text.extend(str(x) for x in v)
    record_text = []
    for r in analysis.all_records:
        record_text += [str(r.get("data", {}).get("source", "")), str(r.get("device", {}).get("name", "")),
                        str(r.get("preset", ""))]
    allowed = "\n".join([*meta_text, *sorted(set(record_text)), *BASE_REFERENCES.values()])
    meta_numbers = set(number_tokens("\n".join(meta_text)))
    w = writer or Writer(analysis, registry)
    return ReviewContext(
        p_value=analysis.p_value,
        allowed_text=allowed,
        allowed_numbers=frozenset(registry.tokens() | meta_numbers),
        params_text=w.params(),
        tokens_text=w.tokens(),
        research_scale=analysis.inputs.research_scale,
    )


def _replace_word(text: str, word: str, repl: str) -> str:
    """Replace ``word`` (whole word, case-insensitive) by ``repl`` ("" deletes it), keeping
    the article before it right ('a groundbreaking idea' -> 'an idea')."""
    pat = re.compile(r"(?<![\w-])(?:(?P<art>[Aa]n?)\s+)?(?P<w>" + re.escape(word) + r")(?![\w-])(?P<sp>[ \t]*)",
                     re.I)

    def sub(m: re.Match) -> str:
        art, w, sp = m.group("art"), m.group("w"), m.group("sp")
        if repl:
            out = repl[:1].upper() + repl[1:] if w[:1].isupper() and not art else repl
            return (_article(art, out) + " " if art else "") + out + sp
        if art:
            return _article(art, m.string[m.end():]) + " "
        return ""

    return pat.sub(sub, text)


def _article(art: str, next_text: str) -> str:
    an = next_text.strip()[:1].lower() in "aeiou" and next_text.strip() != ""
    word = "an" if an else "a"
    return word.capitalize() if art[:1].isupper() else word


def _section_names(md: str) -> list[str]:
    return [s.title for s in split_sections(md) if s.title]


def _insert_in_order(md: str, name: str, body: str) -> str:
    idx = next(i for i, s in enumerate(SECTION_ORDER) if s.lower() == name.lower())
    return insert_section(md, SECTION_ORDER[idx], body, before=SECTION_ORDER[idx + 1:])


def apply_fixes(md: str, findings: list[Finding], writer: Writer) -> tuple[str, list[dict]]:
    """Apply every fixable finding once; return the new text and one changelog row per finding."""
    a = writer.a
    rows: list[dict] = []

    def log(f: Finding, section: str, action: str) -> None:
        rows.append({"point": f"{f.reviewer}/{f.check}: {f.message}", "section": section,
                     "action": action, "check": f.check, "fixed": True})

    abstract_done = False
    for f in findings:
        if not f.fixable:
            rows.append({"point": f"{f.reviewer}/{f.check}: {f.message}", "section": f.section,
                         "action": "not fixable from the records; left for a person", "check": f.check,
                         "fixed": False})
            continue
        if f.reviewer == "abstract" or f.check == "structure" and f.detail == "Abstract":
            if not abstract_done:
                body = writer.abstract()
                md = set_section(md, "Abstract", body) if get_section(md, "Abstract") is not None else \
                    _insert_in_order(md, "Abstract", body)
                abstract_done = True
            log(f, "Abstract", "rewrote the abstract from the recorded results (mean ± std with N seeds, effect "
                "size, scale), so every number in it is one the Results section reports")
        elif f.check == "structure":
            md = _insert_in_order(md, f.detail, writer.section(f.detail))
            log(f, f.detail, f"rendered the missing {f.detail} section from the records")
        elif f.check == "limitations":
            body = writer.limitations()
            md = set_section(md, "Limitations", body) if get_section(md, "Limitations") is not None else \
                _insert_in_order(md, "Limitations", body)
            log(f, "Limitations", "rendered the Limitations section (small N, single scale, preset and device, "
                "dataset, no retuning, wall-clock, peeking where seeds were added)")
        elif f.check == "seeds-stated":
            stmt = (f"All statements in this section rest on N = {writer.n()} seeds per arm and "
                    f"N = {writer.n_base()} baseline seeds.")
            md = set_section(md, f.section, stmt + "\n\n" + (get_section(md, f.section) or "").strip("\n"))
            log(f, f.section, f"added the seed count: {stmt!r}")
        elif f.check in ("error-bars", "effect-sizes", "baseline-variance", "per-seed", "wall-clock"):
            piece = {"error-bars": lambda: (f"Mean final validation loss: control {writer.ms('control')}, "
                                            f"experimental {writer.ms('experimental')} (mean ± std, "
                                            f"N = {writer.n()} seeds per arm)."),
                     "effect-sizes": writer.results_effects, "baseline-variance": writer.results_baseline,
                     "per-seed": writer.results_per_seed, "wall-clock": writer.results_wall}[f.check]()
            body = (get_section(md, "Results") or "").strip("\n")
            md = set_section(md, "Results", body + "\n\n" + piece)
            what = {"error-bars": "a mean ± std statement for both arms", "effect-sizes": "the effect-size table",
                    "baseline-variance": "the baseline variance table", "per-seed": "the per-seed table",
                    "wall-clock": "the wall-clock table"}[f.check]
            log(f, "Results", f"added {what}, rendered from the records")
        elif f.check == "overclaiming":
            new = _measured(f.detail)
            sections = split_sections(md)
            for s in sections:
                if (s.title or "Title") == f.section:
                    s.body = _replace_word(s.body, f.detail, new)
            md = join_sections(sections)
            log(f, f.section, f"replaced '{f.detail}' with " + (f"'{new}'" if new else "nothing (word removed)"))
        elif f.check == "scale-label":
            sections = split_sections(md)
            if "title" in f.detail:
                sections[0].body = re.sub(r"^(# (?!#).*?)\s*$", lambda m: m.group(1) + f" ({SCALE_LABEL})",
                                          sections[0].body, count=1, flags=re.M)
            md = join_sections(sections)
            if "Limitations" in f.detail:
                lim = (get_section(md, "Limitations") or "").strip("\n")
                md = set_section(md, "Limitations", f"- **Not the research scale.** "
                                 f"{writer.not_research_scale_sentence()}\n{lim}")
            log(f, f.section, f"added the label '{SCALE_LABEL}'")
        else:  # pragma: no cover - every fixable check is handled above
            rows.append({"point": str(f), "section": f.section, "action": "no fixer", "check": f.check,
                         "fixed": False})
    return md, rows


def _measured(word: str) -> str:
    table = {**SIGNIFICANCE_WORDS, **OVERCLAIM_WORDS}
    return table.get(word.lower(), "")


def revise_paper(md: str, findings: list[Finding], writer: Writer,
                 max_rounds: int = 3) -> tuple[str, list[dict], list[Finding]]:
    """Fix what can be fixed, re-run both reviews, repeat while fixable findings remain.

    Returns the revised text, the changelog rows (dicts with ``point``, ``section``,
    ``action``, ``check``, ``fixed``) and the findings that remain on the revised text.
    """
    changelog: list[dict] = []
    current = list(findings)
    for _ in range(max_rounds):
        fixable = [f for f in current if f.fixable]
        if not fixable:
            break
        md, rows = apply_fixes(md, fixable, writer)
        changelog += rows
        current = review_all(md, context_for(writer.a, writer.reg, writer))
    seen = set()
    for f in current:
        key = (f.check, f.section, f.detail)
        if key in seen:
            continue
        seen.add(key)
        changelog.append({"point": f"{f.reviewer}/{f.check}: {f.message}", "section": f.section,
                          "action": "not fixable from the records; left for a person" if not f.fixable
                          else "fix did not resolve it", "check": f.check, "fixed": False})
    return md, changelog, current
