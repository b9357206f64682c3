"""Phase 3: the paper, only when an idea passed the workflow's gate.

Rendered from the stored runs through a numbers table with provenance (no number is
typed), worded by the evidence level (confirmed, or preliminary: passed the gate, not
confirmed), reviewed by the research agent, checked by code (every number traced, the
mandated content, the evidence wording, every claim about the runs against the
records), then typeset to docs/papers/paper.tex and paper.pdf."""

import json

import pytest

from research_harness.conclude import paper_inputs
from research_harness.discovery.study import Discovery

pytestmark = pytest.mark.research_phase("paper")


@pytest.fixture(scope="module")
def proceeded(research):
    disc = Discovery(research.runner)
    entry = disc.proceeded()
    if entry is None:
        pytest.skip("no idea passed the gate (d >= 0.5): no paper is written; phase 4 reports the outcome")
    return disc, entry


@pytest.fixture(scope="module")
def paper(research, proceeded):
    from research_harness.paper import write_paper

    disc, entry = proceeded
    return write_paper(paper_inputs(disc, entry), research.workspace.papers, agent=disc.agent)


def test_paper_passes_every_hard_check(paper, proceeded, record_property):
    record_property("research_report_written", str(paper.markdown_path))
    record_property("research_report_written", str(paper.provenance_path))
    problems = "\n".join(f"- {f}" for f in paper.findings)
    assert paper.passed, f"the paper fails its hard checks (a template or revision bug):\n{problems}"
    level = json.loads(paper.provenance_path.read_text())["evidence_level"]
    assert level == proceeded[1].evidence["level"], "the paper's evidence level must be the journal's"


def test_paper_pdf(paper, record_property):
    assert paper.tex_path.exists()
    assert paper.pdf_path is not None, paper.pdf_error
    assert paper.pdf_pages >= 2, f"{paper.pdf_path} has {paper.pdf_pages} page(s)"
    record_property("research_report_written", str(paper.pdf_path))
