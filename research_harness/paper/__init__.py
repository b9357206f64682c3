"""Phase 3 of the research workflow: the paper, rendered from run records.

``write_paper(inputs, papers_dir)`` drafts ``<topic>.md`` from the records (every
number through one registry, mapped to its records in ``<topic>.provenance.json``),
runs the paper reviewer and the abstract reviewer (code, not prompts), revises what
they find, writes the changelog into the appendix, draws the figures, translates the
final markdown to ``paper.tex`` and compiles ``paper.pdf`` with pdflatex.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from research_harness.paper.analysis import Analysis, analyze
from research_harness.paper.compile import INSTALL_HINT, LatexError, LatexNotFound, compile_latex
from research_harness.paper.draft import Writer
from research_harness.paper.latex import latex_escape, markdown_to_latex
from research_harness.paper.mdtools import get_section, set_section, title_of
from research_harness.paper.model import PaperInputError, PaperInputs, PaperResult, validate_inputs
from research_harness.paper.numbers import NumberRegistry, number_tokens, record_ref
from research_harness.paper.review import (
    ABSTRACT_CHECKS,
    ALL_CHECKS,
    PAPER_CHECKS,
    Finding,
    ReviewContext,
    review_abstract,
    review_all,
    review_paper,
)
from research_harness.paper.revise import context_for, revise_paper

__all__ = [
    "PaperInputs", "PaperResult", "PaperInputError", "validate_inputs",
    "write_paper", "draft_paper", "Finding", "ReviewContext",
    "review_paper", "review_abstract", "review_all", "revise_paper", "context_for", "analyze", "Analysis",
    "NumberRegistry", "Writer", "markdown_to_latex", "latex_escape", "compile_latex", "LatexError",
    "LatexNotFound", "INSTALL_HINT", "PAPER_CHECKS", "ABSTRACT_CHECKS", "ALL_CHECKS", "number_tokens",
]


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def draft_paper(inputs: PaperInputs, figures: dict[str, str] | None = None) -> tuple[str, Writer]:
    """The unreviewed draft's markdown and the writer (analysis + number registry) behind it.
    Useful for tests that plant defects; :func:`write_paper` does the whole phase."""
    analysis = analyze(inputs)
    writer = Writer(analysis, NumberRegistry(), figures)
    return writer.assemble(), writer


def write_paper(inputs: PaperInputs, papers_dir: Path, *, compile_pdf: bool = True) -> PaperResult:
    """Draft, review, revise and typeset the paper; return what was written.

    Writes ``<papers_dir>/<topic>.md``, ``<topic>.provenance.json``, ``paper.tex``,
    ``figures/<topic>_*.{png,pdf}`` and, when ``compile_pdf`` and pdflatex is installed,
    ``paper.pdf``. A missing engine or a LaTeX error does not raise: ``pdf_path`` is
    None and ``pdf_error`` says why (with the install command, or the log's first
    error). Raises :class:`PaperInputError` when the records cannot support a paper.
    ``result.passed`` is False when a finding that text cannot fix remains.
    """
    papers_dir = Path(papers_dir)
    analysis = analyze(inputs)
    papers_dir.mkdir(parents=True, exist_ok=True)
    topic = inputs.topic

    from research_harness.paper.figures import make_figures

    fig_paths = make_figures(analysis, papers_dir / "figures", topic)
    fig_rel = {k: v[0].relative_to(papers_dir).as_posix() for k, v in fig_paths.items()}
    registry = NumberRegistry()
    writer = Writer(analysis, registry, fig_rel)
    draft = writer.assemble()

    context = context_for(analysis, registry, writer)
    before = review_all(draft, context)
    revised, changelog, _remaining = revise_paper(draft, before, writer)
    final = set_section(revised, "Appendix A. Revision changelog",
                        writer.changelog(changelog, ALL_CHECKS))
    context = context_for(analysis, registry, writer)
    after = review_all(final, context)
    if after:
        note = "\n\nFindings that remain on this paper:\n\n" + "\n".join(f"- {f}" for f in after)
        final = set_section(final, "Appendix A. Revision changelog",
                            writer.changelog(changelog, ALL_CHECKS).replace(
                                "The final paper passes every check of both reviewers:",
                                "Checks run by both reviewers (not all pass; see below):") + note)

    md_path = papers_dir / f"{topic}.md"
    _write_text(md_path, final)

    prov_path = papers_dir / f"{topic}.provenance.json"
    runs = {arm: [{"seed": r["seed"], "run_key": record_ref(r), "record_path": r.get("record_path"),
                   "flags": r.get("flags"), "val_loss": r["val_loss"]} for r in recs]
            for arm, recs in (("baseline", analysis.baseline), ("control", analysis.control),
                              ("experimental", analysis.experimental))}
    provenance = {
        "paper": md_path.name, "topic": topic, "idea": inputs.idea.get("name"),
        "research_tokens": inputs.research_tokens, "research_scale": inputs.research_scale,
        "runs": runs, "numbers": registry.to_list(),
        "figures": {k: {"files": [p.relative_to(papers_dir).as_posix() for p in v],
                        "run_keys": [record_ref(r) for r in (analysis.arms if k == "curves"
                                                            else analysis.all_records)]}
                    for k, v in fig_paths.items()},
        "review": {"before": [f.__dict__ for f in before], "after": [f.__dict__ for f in after],
                   "changelog": changelog},
    }
    _write_text(prov_path, json.dumps(provenance, indent=2, default=str, allow_nan=True) + "\n")

    tex_path = papers_dir / "paper.tex"
    _write_text(tex_path, markdown_to_latex(final, figures_dir=papers_dir / "figures"))
    pdf_path, pdf_error = None, None
    if compile_pdf:
        try:
            pdf_path = compile_latex(tex_path)
        except LatexError as exc:
            pdf_error = str(exc)
    return PaperResult(
        markdown_path=md_path, tex_path=tex_path, pdf_path=pdf_path,
        figures=[p for v in fig_paths.values() for p in v], provenance_path=prov_path,
        review_before=before, review_after=after, changelog=changelog, pdf_error=pdf_error,
        title=title_of(final), abstract=(get_section(final, "Abstract") or "").strip(),
    )
