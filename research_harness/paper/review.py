"""The paper reviewer and the abstract reviewer, as code.

Both return a list of :class:`Finding`; an empty list means the text passes. Each
check has an id (see :data:`CHECK_DESCRIPTIONS`), names the section it looked at, and
says whether the revision step can fix it from the records (``fixable``) or whether a
person must (an invented term, a number typed by hand, a claim on fewer than 3 seeds).

How the less obvious checks work
--------------------------------
* Seeds: a seed count is "N = k" / "n = k" or "k seeds"; Abstract, Results, Discussion
  and Conclusion must each state one, and every stated count must be >= 3.
* Overclaiming: whole-word, case-insensitive matches of :data:`OVERCLAIM_WORDS` in every
  section except References and the appendices. "significant"/"significantly"
  ("statistically significant" included) is allowed only when the context carries a
  one-sided Welch p below alpha, and never flagged when negated ("not significant").
* Invented terms: in prose (not headings, tables, math, code, References or the
  appendices), (a) runs of two or more Capitalised words that do not start a sentence,
  and (b) terms in double quotes, are flagged unless they occur in the idea metadata,
  the run records' strings (data source, device) or :data:`KNOWN_TERMS`.
* Unsourced numbers: with a context built from the number registry, every number in
  Abstract, Results, Discussion and Conclusion (tables included; citations such as
  "[3]", code spans and math excluded) must be a number the registry rendered or one
  that occurs in the idea metadata.
* Abstract numbers: every number in the abstract must also occur in the Results section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from research_harness.paper.mdtools import get_section, prose_lines, split_sections, title_of
from research_harness.paper.numbers import number_tokens

__all__ = ["Finding", "ReviewContext", "review_paper", "review_abstract", "review_all", "CHECK_DESCRIPTIONS",
           "PAPER_CHECKS", "ABSTRACT_CHECKS", "ALL_CHECKS", "OVERCLAIM_WORDS", "KNOWN_TERMS",
           "REQUIRED_SECTIONS", "SCALE_LABEL"]

SCALE_LABEL = "not the research scale"

REQUIRED_SECTIONS = ["Abstract", "Introduction", "Related Work", "Method", "Experimental Setup", "Results",
                     "Discussion", "Limitations", "Conclusion", "References"]

CLAIM_SECTIONS = ["Abstract", "Results", "Discussion", "Conclusion"]

CHECK_DESCRIPTIONS = {
    "structure": "every mandated section is present (" + ", ".join(REQUIRED_SECTIONS) + ")",
    "limitations": "a Limitations section with content is present",
    "seeds-stated": "Abstract, Results, Discussion and Conclusion each state the number of seeds",
    "seeds-minimum": "no stated seed count is below 3",
    "error-bars": "Results gives means with error bars (mean ± std)",
    "effect-sizes": "Results reports Cohen's d, Hedges' g, a confidence interval and a p-value",
    "baseline-variance": "Results reports the baseline's run-to-run variance (a table with its std)",
    "per-seed": "Results has a per-seed table for both arms",
    "wall-clock": "Results reports wall-clock time in seconds",
    "overclaiming": "no overclaiming words (prove, state-of-the-art, revolutionary, groundbreaking, ...); "
                    "'significant' only when the one-sided Welch p is below 0.05",
    "invented-terms": "no capitalised coinages or quoted terms that the idea metadata and records do not define",
    "unsourced-number": "every number in Abstract, Results, Discussion and Conclusion was rendered from the records",
    "scale-label": "a run below the research budget says 'not the research scale' in the title and Limitations",
    "abstract-present": "an Abstract section with content is present",
    "abstract-numbers": "every number in the abstract also appears in the Results section",
    "abstract-seeds": "the abstract states the number of seeds (at least 3)",
    "abstract-scale": "the abstract states the scale: parameter count and token budget "
                      "(and 'not the research scale' when it is not)",
    "abstract-error-bars": "the abstract gives the result as mean ± std",
    "abstract-effect-size": "the abstract reports the effect size",
    "abstract-significance": "the abstract says 'significant' only if the test says so",
}
PAPER_CHECKS = ["structure", "limitations", "seeds-stated", "seeds-minimum", "error-bars", "effect-sizes",
                "baseline-variance", "per-seed", "wall-clock", "overclaiming", "invented-terms", "unsourced-number",
                "scale-label"]
ABSTRACT_CHECKS = [c for c in CHECK_DESCRIPTIONS if c.startswith("abstract-")]
ALL_CHECKS = PAPER_CHECKS + ABSTRACT_CHECKS

# word -> measured replacement ("" deletes the word); matched whole-word, case-insensitively
OVERCLAIM_WORDS = {
    "proves": "supports", "prove": "support", "proved": "supported", "proven": "supported",
    "state-of-the-art": "baseline-relative", "state of the art": "baseline-relative", "sota": "baseline-relative",
    "revolutionary": "", "groundbreaking": "", "ground-breaking": "", "unprecedented": "",
    "breakthrough": "result", "dramatically": "", "dramatic": "",
}
SIGNIFICANCE_WORDS = {"statistically significantly": "", "statistically significant": "observed",
                      "significantly": "", "significant": "observed"}

KNOWN_TERMS = {
    "related work", "experimental setup", "hugging face", "king james bible", "computer modern",
    "noncentral t", "student's t", "appendix a", "appendix b",
}

_SEEDS_RE = re.compile(r"\b[Nn]\s*=\s*(\d+)|\b(\d+)\s+(?:baseline\s+|more\s+)?seeds\b")
_PM_RE = re.compile(r"\d\s*(?:±|\+/-|\\pm)\s*\d")
_MATH_BLOCK = re.compile(r"\$\$.*?\$\$", re.S)
_INLINE_MATH = re.compile(r"(?<!\\)\$[^$\n]+?\$")
_CODE = re.compile(r"`[^`\n]*`")
_NEGATION = re.compile(r"\b(?:not|no|nor|without|never)\b(?:\W+\w+){0,2}\W*$", re.I)
_CAP_WORD = re.compile(r"^[A-Z][a-z]+(?:[-'’][A-Za-z]+)*$")


@dataclass(frozen=True)
class Finding:
    """One reviewer point. ``check`` is an id of :data:`CHECK_DESCRIPTIONS`; ``detail``
    carries what was found (the word, the term, the number)."""

    check: str
    section: str
    message: str
    fixable: bool
    reviewer: str = "paper"
    detail: str = ""

    def __str__(self) -> str:
        return f"[{self.reviewer}/{self.check}] {self.section}: {self.message}"


@dataclass
class ReviewContext:
    """What the reviewers know beyond the text. Every field is optional; a check that
    needs a missing field is skipped (``p_value=None`` means no test: 'significant'
    is then always flagged)."""

    p_value: float | None = None
    alpha: float = 0.05
    min_seeds: int = 3
    allowed_text: str = ""
    allowed_numbers: frozenset | None = None
    params_text: str | None = None
    tokens_text: str | None = None
    research_scale: bool = True
    known_terms: set = field(default_factory=lambda: set(KNOWN_TERMS))

    @property
    def significance_ok(self) -> bool:
        return self.p_value is not None and self.p_value < self.alpha


def _sections(md: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for s in split_sections(md):
        if s.title and s.title not in out:
            out[s.title] = s.body
    return out


def _find_section(secs: dict[str, str], name: str) -> str | None:
    for title, body in secs.items():
        if title.strip().lower() == name.lower():
            return body
    return None


def _reviewed_sections(md: str) -> list[tuple[str, str]]:
    """(name, text) of everything but References and the appendices; the part before
    the first section is called 'Title'."""
    out = []
    for s in split_sections(md):
        name = s.title or "Title"
        if name.lower() == "references" or name.lower().startswith("appendix"):
            continue
        out.append((name, s.body))
    return out


def _seed_counts(text: str) -> list[int]:
    """Seed counts that claims rest on. A power-analysis sentence states how many seeds a
    future study would need, not what a claim rests on, so it is left out."""
    claims = " ".join(s for s in re.split(r"(?<=[.!?])\s+", text) if "power" not in s.lower())
    return [int(a or b) for a, b in _SEEDS_RE.findall(claims)]


def _strip_for_numbers(text: str) -> str:
    text = _MATH_BLOCK.sub(" ", text)
    text = _INLINE_MATH.sub(" ", text)
    return _CODE.sub(" ", text)


def overclaims(text: str, significance_ok: bool) -> list[tuple[str, str]]:
    """(matched word, replacement) for every overclaiming word in ``text``."""
    found = []
    words = dict(OVERCLAIM_WORDS)
    if not significance_ok:
        words.update(SIGNIFICANCE_WORDS)
    taken: list[tuple[int, int]] = []
    for word in sorted(words, key=len, reverse=True):
        for m in re.finditer(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", text, re.I):
            if any(a <= m.start() < b for a, b in taken):
                continue
            if word in SIGNIFICANCE_WORDS and _NEGATION.search(text[max(0, m.start() - 40):m.start()]):
                continue
            taken.append((m.start(), m.end()))
            found.append((m.group(0), words[word]))
    return found


def invented_terms(lines: list[str], allowed: str, known: set) -> list[str]:
    """Capitalised multiword coinages and quoted terms not in ``allowed`` (lower-cased text)."""
    out: list[str] = []
    for line in lines:
        for m in re.finditer(r'"([^"\n]{1,80})"|“([^”\n]{1,80})”', line):
            term = (m.group(1) or m.group(2)).strip()
            if term and term.lower() not in allowed and term.lower() not in known:
                out.append(f'"{term}"')
        for sentence in re.split(r"(?<=[.!?:;])\s+|[()\[\]—–,]", line):
            words = list(re.finditer(r"[A-Za-z][A-Za-z'’-]*", sentence))
            run: list[re.Match] = []

            def flush(run=run):
                pieces = list(run)
                if pieces and pieces[0].start() == words[0].start():
                    pieces = pieces[1:]  # a capital at the start of a sentence is ordinary
                if len(pieces) >= 2:
                    phrase = " ".join(p.group(0) for p in pieces)
                    if phrase.lower() not in allowed and phrase.lower() not in known:
                        out.append(phrase)
                run.clear()

            for w in words:
                if _CAP_WORD.match(w.group(0)) and (not run or sentence[run[-1].end():w.start()] == " "):
                    run.append(w)
                else:
                    flush()
                    if _CAP_WORD.match(w.group(0)):
                        run.append(w)
            flush()
    seen, unique = set(), []
    for t in out:
        if t not in seen:
            seen.add(t)
            unique.append(t)
    return unique


def review_paper(md: str, context: ReviewContext | None = None) -> list[Finding]:
    """The paper reviewer: statistical rigour, honest wording, mandated content."""
    ctx = context or ReviewContext()
    secs = _sections(md)
    findings: list[Finding] = []

    def add(check, section, message, fixable, detail=""):
        findings.append(Finding(check, section, message, fixable, "paper", detail))

    for name in REQUIRED_SECTIONS:
        body = _find_section(secs, name)
        if name == "Limitations":
            if body is None or len(" ".join(prose_lines(body)).split()) < 5:
                add("limitations", "Limitations", "no Limitations section with content: small N, single scale and "
                    "the setup's other limits must be stated", True)
            continue
        if body is None:
            add("structure", name, f"the mandated section {name!r} is missing", True, name)

    for name in CLAIM_SECTIONS:
        body = _find_section(secs, name)
        if body is None:
            continue
        counts = _seed_counts(body)
        if not counts:
            add("seeds-stated", name, "states results without the number of seeds (N) they rest on", True)
        low = sorted({c for c in counts if c < ctx.min_seeds})
        if low:
            add("seeds-minimum", name, f"a claim rests on {low[0]} seed(s); at least {ctx.min_seeds} are needed "
                "(run more seeds; text cannot fix this)", False, str(low[0]))

    results = _find_section(secs, "Results")
    if results is not None:
        if not _PM_RE.search(results):
            add("error-bars", "Results", "no error bars: means must be given as mean ± std", True)
        missing = [label for label, pat in (("Cohen's d", r"Cohen['’]s d"), ("Hedges' g", r"Hedges['’] g"),
                                            ("a confidence interval", r"\bCI\b|confidence interval"),
                                            ("a p-value", r"\bp\b\s*(?:=|<|is|\()|p-value"))
                   if not re.search(pat, results)]
        if missing:
            add("effect-sizes", "Results", "effect sizes incomplete: missing " + ", ".join(missing), True,
                ", ".join(missing))
        if not (re.search(r"baseline[^\n]*variance", results, re.I) and re.search(r"^\|.*\bstd\b", results,
                                                                                   re.I | re.M)):
            add("baseline-variance", "Results", "the baseline's run-to-run variance is not reported", True)
        if not re.search(r"^\|\s*Seed\s*\|.*control.*experimental", results, re.I | re.M):
            add("per-seed", "Results", "no per-seed table for both arms", True)
        if not (re.search(r"wall[- ]clock|wall[_ ]time", results, re.I)
                and re.search(r"\(s\)|\d\s*s\b|seconds", results)):
            add("wall-clock", "Results", "wall-clock time is not reported", True)

    for name, body in _reviewed_sections(md):
        text = "\n".join(prose_lines(body)) if name != "Title" else body
        counts: dict[str, list] = {}
        for word, repl in overclaims(text, ctx.significance_ok):
            counts.setdefault(word.lower(), [word, repl, 0])[2] += 1
        for key, (word, repl, k) in counts.items():
            why = ("'significant' without a test that says so" if key in SIGNIFICANCE_WORDS
                   else f"overclaiming word {word!r}")
            times = f" ({k} times)" if k > 1 else ""
            add("overclaiming", name, f"{why}{times}; use measured wording" + (f" ({repl!r})" if repl else ""),
                True, key)

    allowed = ctx.allowed_text.lower()
    for name, body in _reviewed_sections(md):
        if name == "Title":
            continue
        for term in invented_terms(prose_lines(body), allowed, ctx.known_terms):
            add("invented-terms", name, f"term {term} is not defined by the idea metadata or the records; "
                "define it or use the metadata's wording", False, term)

    if ctx.allowed_numbers is not None:
        for name in CLAIM_SECTIONS:
            body = _find_section(secs, name)
            if body is None:
                continue
            stray = [t for t in number_tokens(_strip_for_numbers(body)) if t not in ctx.allowed_numbers]
            for tok in dict.fromkeys(stray):
                add("unsourced-number", name, f"the number {tok} was not rendered from the run records", False, tok)

    if not ctx.research_scale:
        where = []
        if SCALE_LABEL not in title_of(md).lower():
            where.append("title")
        lim = _find_section(secs, "Limitations")
        if lim is not None and SCALE_LABEL not in lim.lower():
            where.append("Limitations")
        if where:
            both = " and ".join(where)
            add("scale-label", both, f"the runs are below the research budget but the {both} "
                f"do not say '{SCALE_LABEL}'", True, ",".join(where))
    return findings


def review_abstract(md: str, context: ReviewContext | None = None) -> list[Finding]:
    """The abstract reviewer: numbers match the results, seeds and scale stated,
    'significant' only if the test says so."""
    ctx = context or ReviewContext()
    findings: list[Finding] = []

    def add(check, message, fixable=True, detail=""):
        findings.append(Finding(check, "Abstract", message, fixable, "abstract", detail))

    abstract = get_section(md, "Abstract")
    if abstract is None or len(abstract.split()) < 20:
        add("abstract-present", "the abstract is missing or empty")
        return findings
    results = get_section(md, "Results") or ""
    result_tokens = set(number_tokens(_strip_for_numbers(results)))
    stray = [t for t in number_tokens(_strip_for_numbers(abstract)) if t not in result_tokens]
    if stray:
        add("abstract-numbers", "numbers in the abstract that the Results section does not contain: "
            + ", ".join(dict.fromkeys(stray)), True, ",".join(dict.fromkeys(stray)))
    counts = _seed_counts(abstract)
    if not counts:
        add("abstract-seeds", "the abstract does not state the number of seeds")
    elif min(counts) < ctx.min_seeds:
        add("abstract-seeds", f"the abstract states a result on {min(counts)} seed(s); at least {ctx.min_seeds} "
            "are needed", False, str(min(counts)))
    missing = []
    if not re.search(r"parameter", abstract, re.I) or (ctx.params_text and ctx.params_text not in abstract):
        missing.append("parameter count" + (f" ({ctx.params_text})" if ctx.params_text else ""))
    if not re.search(r"\btokens?\b", abstract, re.I) or (ctx.tokens_text and ctx.tokens_text not in abstract):
        missing.append("token budget" + (f" ({ctx.tokens_text})" if ctx.tokens_text else ""))
    if not ctx.research_scale and SCALE_LABEL not in abstract.lower():
        missing.append(f"the label '{SCALE_LABEL}'")
    if missing:
        add("abstract-scale", "the abstract does not state the scale: " + ", ".join(missing), True, ",".join(missing))
    if not _PM_RE.search(abstract):
        add("abstract-error-bars", "the abstract gives no result as mean ± std")
    if not re.search(r"Cohen['’]s d|Hedges['’] g|effect size", abstract):
        add("abstract-effect-size", "the abstract reports no effect size")
    if not ctx.significance_ok:
        for word, _ in overclaims(abstract, False):
            if word.lower() in SIGNIFICANCE_WORDS:
                add("abstract-significance", f"{word!r} although the test does not say so "
                    + (f"(one-sided Welch p = {ctx.p_value:.3f})" if ctx.p_value is not None else "(no test given)"),
                    True, word)
    return findings


def review_all(md: str, context: ReviewContext | None = None) -> list[Finding]:
    """Both reviewers."""
    return review_paper(md, context) + review_abstract(md, context)
