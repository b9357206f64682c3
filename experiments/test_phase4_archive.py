"""Phase 4: archive intermediate artifacts and summarise honestly.

Reports of ideas that did not proceed and stale figures move to archive/; the
variance report, the final experiment report, the paper and the idea log stay. The
summary gives the question, the hypothesis, the key result (effect size, the corrected
test and the evidence level) and the paths, or says plainly that every idea failed,
with lessons. It never calls a preliminary result confirmed."""

import pytest

from research_harness import conclude
from research_harness.discovery.study import Discovery

pytestmark = pytest.mark.research_phase("archive")


def test_archive(research, record_property):
    disc = Discovery(research.runner)
    moved = conclude.archive(disc)
    for path in moved:
        assert path.exists() and research.workspace.archive in path.parents
    if research.workspace.idea_log(research.settings.label).exists() or disc.journal().entries:
        assert research.workspace.idea_log(research.settings.label).exists()


def test_summary(research, record_property):
    disc = Discovery(research.runner)
    text = conclude.summary(disc)
    record_property("research_note", text)
    proceeded = disc.proceeded()
    if proceeded is None:
        entries = disc.journal().entries
        assert "no paper" in text or "has not finished" in text or not entries, text
        assert "CONFIRMED" not in text and "PRELIMINARY" not in text
    else:
        level = proceeded.evidence["level"]
        assert f"Evidence: {level.upper()}" in text, text
        assert ("Evidence: CONFIRMED" in text) == (level == "confirmed") == (proceeded.status == "Validated")
        assert str(research.workspace.experiment_report(proceeded.idea, research.settings.label)) in text
