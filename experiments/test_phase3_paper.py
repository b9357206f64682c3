"""Phase 3: the paper, only when an idea passed the gate.

Drafted from the stored runs (every number rendered from a record), reviewed and
revised by code (statistical rigour, overclaiming, abstract numbers, N seeds,
limitations, wall-clock), then typeset to docs/papers/paper.tex and paper.pdf."""

import pytest

from research_harness.conclude import paper_inputs
from research_harness.discovery.study import Discovery

pytestmark = pytest.mark.research_phase("paper")


@pytest.fixture(scope="module")
def paper(research):
    disc = Discovery(research.runner)
    winner = disc.winner()
    if winner is None:
        pytest.skip("no idea passed the gate (d >= 0.5): no paper is written; phase 4 reports the outcome")
    from research_harness.paper import write_paper

    return write_paper(paper_inputs(disc, winner), research.workspace.papers)


def test_paper_drafted_reviewed_and_revised(paper, record_property):
    record_property("research_report_written", str(paper.markdown_path))
    problems = "\n".join(f"- [{f.check}] {f.section}: {f.message}" for f in paper.review_after)
    assert paper.passed, f"the revised paper still fails review:\n{problems}"


def test_paper_pdf(paper, record_property):
    assert paper.tex_path.exists()
    assert paper.pdf_path is not None, paper.pdf_error
    record_property("research_report_written", str(paper.pdf_path))
    from pypdf import PdfReader

    assert len(PdfReader(str(paper.pdf_path)).pages) >= 2
