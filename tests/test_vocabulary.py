"""Tests of research_harness.vocabulary: one table of words for every level and decision."""

from __future__ import annotations

import importlib
import sys
from enum import Enum

import pytest

from research_harness import gates, vocabulary
from research_harness.gates import Decision, EvidenceLevel


def test_every_level_and_decision_has_its_words():
    assert set(vocabulary.LEVELS) == set(EvidenceLevel) and set(vocabulary.DECISIONS) == set(Decision)
    for level, words in vocabulary.LEVELS.items():
        assert words.verdict and words.summary and words.title and words.paper_word
        assert words.paper_word in words.title.lower() or level is EvidenceLevel.NOT_SUPPORTED
    statuses = [w.status for w in vocabulary.LEVELS.values() if w.status]
    assert len(statuses) == len(set(statuses))  # one status per level


def test_the_consumers_take_their_words_from_the_table():
    for level, words in vocabulary.LEVELS.items():
        if words.status:
            assert gates.journal_status(Decision.PROCEED, level) == words.status
            assert gates.verdict_words(Decision.PROCEED, level) == words.verdict
    assert gates.verdict_words(Decision.PROCEED, "not confirmed", True) == \
        vocabulary.LEVELS[EvidenceLevel.NOT_CONFIRMED].verdict_reversed
    from research_harness.discovery.journal import PROCEEDED, STATUSES

    assert {w.status for w in vocabulary.LEVELS.values() if w.status} == set(PROCEEDED) <= set(STATUSES)


def test_thresholds_are_rendered_from_the_constants(monkeypatch):
    assert vocabulary.gate_rule() == "d < 0.2 noise; 0.2 <= d < 0.5 suggestive; d >= 0.5 proceed"
    monkeypatch.setattr(vocabulary, "PROCEED_AT", 0.8)
    assert "d >= 0.8 proceed" in vocabulary.gate_rule() and "0.2 <= d < 0.8" in vocabulary.extension_rule()


def test_a_level_missing_from_the_table_fails_at_import(monkeypatch):
    """A new evidence level without words is an ImportError, never a KeyError in a report."""
    extended = Enum("EvidenceLevel", {**{m.name: m.value for m in EvidenceLevel}, "REFUTED": "refuted"}, type=str)
    monkeypatch.setattr(gates, "EvidenceLevel", extended)
    monkeypatch.delitem(sys.modules, "research_harness.vocabulary")
    with pytest.raises(ImportError, match="no words for.*refuted"):
        importlib.import_module("research_harness.vocabulary")
