"""Phase 3: the paper, rendered from run records.

`write_paper(inputs, papers_dir)` analyses the records, computes the numbers table,
builds the sections from the prose template, lets the research agent review the draft
and revise its prose (numbers stay locked placeholders), runs the hard checks, and
writes `<topic>.md`, `<topic>.provenance.json`, `paper.tex` and `paper.pdf`."""

from __future__ import annotations

import json
import re
from pathlib import Path

from trainer.atomic import write_atomic

from research_harness.paper.analysis import Analysis, analyze
from research_harness.paper.checks import Finding, check_content, trace
from research_harness.paper.compile import LatexError, compile_latex
from research_harness.paper.content import REVISABLE, Block, Doc, Section, document, numbers_for, paragraphs, render
from research_harness.paper.model import PaperInputError, PaperInputs, PaperResult, validate_inputs
from research_harness.paper.numbers import PLACEHOLDER, NumberTable, untraced_digits

__all__ = ["PaperInputs", "PaperResult", "PaperInputError", "validate_inputs", "write_paper", "draft", "check",
           "Analysis", "analyze", "Finding"]


def draft(inputs: PaperInputs, figures: dict[str, str] | None = None) -> tuple[Analysis, NumberTable, Doc]:
    a = analyze(inputs)
    numbers = numbers_for(a)
    return a, numbers, document(a, numbers, figures or {})


def check(doc: Doc, numbers: NumberTable, a: Analysis) -> list[Finding]:
    """Every hard check on the paper as it would be written."""
    md = render(doc, numbers, "md", trace=True)
    tex = render(doc, numbers, "tex", trace=True)
    body = tex[tex.index(r"\begin{document}"):]
    return trace(md, body, numbers) + check_content(md, a)


def _revise(doc: Doc, numbers: NumberTable, a: Analysis, agent) -> list[str]:
    """The agent reviews the draft and revises its prose; returns the changelog. A revision
    that changes a number, adds an untraced one, or fails a hard check is refused."""
    md = render(doc, numbers, "md", trace=True)
    context = {"evidence_level": a.evidence.level.value, "numbers": {x.name: x.text for x in numbers},
               "rules": ("numbers are placeholders ⟦name⟧: keep every one, in the same order, "
                         "in each section you revise; never type a digit")}
    findings = agent.review_paper(md, context) + agent.review_abstract(
        "\n\n".join(b.text for b in doc.section("Abstract").blocks), context)
    log = [f"{f['section']}: {f['issue']} (fix: {f['fix']})" for f in findings]
    if not findings:
        return ["The paper review and the abstract review found nothing; nothing was changed."]
    revisable = {s.title: "\n\n".join(b.text for b in s.blocks) for s in doc.sections if s.title in REVISABLE}
    revision = agent.revise_paper(revisable, findings, context)
    candidate = Doc(doc.title, doc.note, [s for s in doc.sections])
    problems = []
    for title, text in revision.get("sections", {}).items():
        if title not in revisable:
            problems.append(f"section {title!r} is not revisable prose")
        elif numbers.unknown(text) or untraced_digits(text):
            problems.append(f"{title}: it changes a number or adds one nobody traced")
        elif PLACEHOLDER.findall(text) != PLACEHOLDER.findall(revisable[title]):
            # A placeholder swapped for another real one still traces, but says the wrong thing.
            problems.append(f"{title}: a revision must keep the same placeholders in the same order "
                            f"({', '.join(PLACEHOLDER.findall(revisable[title]))})")
        else:
            i = next(k for k, s in enumerate(candidate.sections) if s.title == title)
            candidate.sections[i] = Section(title, paragraphs(text))
    if not problems:
        problems = [str(f) for f in check(candidate, numbers, a)]
    if problems:
        return [*log, "The revision was refused: " + "; ".join(problems) + ". The draft stands."]
    doc.sections[:] = candidate.sections
    return [*log, *revision.get("changelog", []), f"Revised sections: {', '.join(revision.get('sections', {}))}."]


def write_paper(inputs: PaperInputs, papers_dir: Path, *, agent=None, compile_pdf: bool = True) -> PaperResult:
    """Draft, review, revise, check and typeset the paper. Raises PaperInputError when
    the records cannot support it; `result.findings` lists what the hard checks still
    find (the phase-3 test fails on any)."""
    from research_harness.paper.figures import make_figures  # noqa: PLC0415

    papers_dir = Path(papers_dir)
    a = analyze(inputs)
    figures = make_figures(a, papers_dir / "figures", inputs.topic)
    numbers = numbers_for(a)
    doc = document(a, numbers, {k: v[0].with_suffix("").relative_to(papers_dir).as_posix() for k, v in figures.items()})
    before = check(doc, numbers, a)
    changelog = [f"Hard check before review: {f}" for f in before]
    changelog += _revise(doc, numbers, a, agent) if agent is not None and hasattr(agent, "revise_paper") else [
        "The paper and abstract reviews are the hard checks above (catalogue agent); they found nothing to revise."
        if not before else "The catalogue agent cannot revise prose; the findings above remain."]
    for i, line in enumerate(changelog):
        numbers.add(f"review.{i}", line, "raw", "quote", reviewer=(agent.backend if agent else "catalogue"))
    doc.section("Appendix A. Review and revision").blocks = [Block("list", items=[f"⟦review.{i}⟧"
                                                                                  for i in range(len(changelog))])]
    findings = check(doc, numbers, a)
    md_path = write_atomic(papers_dir / f"{inputs.topic}.md", render(doc, numbers, "md"))
    tex_path = write_atomic(papers_dir / "paper.tex", render(doc, numbers, "tex"))
    provenance = {"paper": md_path.name, "topic": inputs.topic, "idea": inputs.idea["name"],
                  "evidence_level": a.evidence.level.value, "agent": inputs.agent, "numbers": numbers.to_list(),
                  "runs": {arm: [r["run_key"] for r in rs] for arm, rs in
                           (("baseline", a.baseline), ("control", a.control), ("experimental", a.experimental))},
                  "review": {"changelog": changelog, "findings": [str(f) for f in findings]}}
    prov_path = write_atomic(papers_dir / f"{inputs.topic}.provenance.json",
                                  json.dumps(provenance, indent=2, default=str) + "\n")
    pdf_path = pdf_error = pages = None
    if compile_pdf:
        try:
            pdf_path, pages = compile_latex(tex_path)
        except LatexError as exc:
            pdf_error = str(exc)
    return PaperResult(markdown_path=md_path, tex_path=tex_path, pdf_path=pdf_path, provenance_path=prov_path,
                       figures=[p for v in figures.values() for p in v], findings=findings, changelog=changelog,
                       pdf_error=pdf_error, pdf_pages=pages, title=re.sub(r"\s+", " ", numbers.fill(doc.title)))
