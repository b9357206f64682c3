"""Phase 4: archive intermediate artifacts and summarise honestly.

Reports of ideas that did not proceed and stale figures move to archive/; the
variance report, the final experiment report, the paper and the idea log stay. The
summary gives the question, the hypothesis, the key result (effect size and
significance) and the paths, or says plainly that every idea failed, with lessons."""

import pytest

from research_harness import conclude
from research_harness.discovery.study import Discovery

pytestmark = pytest.mark.research_phase("archive")


def test_archive(research, record_property):
    disc = Discovery(research.runner)
    moved = conclude.archive(disc)
    for path in moved:
        assert path.exists() and research.workspace.archive in path.parents
    if research.workspace.idea_log.exists() or disc.journal().entries:
        assert research.workspace.idea_log.exists()


def test_summary(research, record_property):
    text = conclude.summary(Discovery(research.runner))
    record_property("research_note", text)
    assert text.startswith("RESEARCH SUMMARY")
