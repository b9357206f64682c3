"""One vocabulary: what each evidence level and gate decision is called, everywhere.

Every consumer (the journal's statuses, the verdict, the closing summary, the paper's
title and its checks) takes its words from ``LEVELS`` and ``DECISIONS`` here, keyed by the
enums of :mod:`research_harness.gates`. A level or decision missing from a table fails at
import, not in a report. Thresholds and seed counts are rendered from their constants.
"""

from __future__ import annotations

from dataclasses import dataclass

from research_harness.gates import ALPHA, NOISE_BELOW, PROCEED_AT, READING_CONFIDENCE, Decision, EvidenceLevel, Reading
from research_harness.workspace import ARM_SEEDS, EXTENSION_SEEDS

__all__ = ["LevelWords", "LEVELS", "DECISIONS", "READINGS", "level_words", "reading_words", "gate_rule",
           "extension_rule"]


@dataclass(frozen=True)
class LevelWords:
    """The words of one evidence level.

    ``status``: the journal status of an idea whose gate proceeded with this level (None:
    the level cannot follow a proceeding gate). ``verdict`` / ``verdict_reversed``: the
    verdict (the second when a confirmation reversed). ``summary`` /
    ``summary_reversed``: the closing summary's "Evidence:" sentence. ``title`` /
    ``title_reversed``: the paper title's phrase. ``paper_word``: what the paper's title,
    abstract, results and conclusion must contain (its checks look for it).
    """

    status: str | None
    verdict: str
    summary: str
    title: str
    paper_word: str
    verdict_reversed: str = ""
    summary_reversed: str = ""
    title_reversed: str = ""


LEVELS: dict[EvidenceLevel, LevelWords] = {
    EvidenceLevel.CONFIRMED: LevelWords(
        status="Validated", verdict="confirmed improvement (on fresh seeds)",
        summary=f"CONFIRMED on fresh seeds (one-sided paired t at alpha {ALPHA:g}).",
        title="a confirmed improvement", paper_word="confirmed"),
    EvidenceLevel.NOT_CONFIRMED: LevelWords(
        status="Not confirmed", verdict="not confirmed: passed the workflow's gate, the fresh seeds did not confirm it",
        verdict_reversed="not confirmed: the effect reversed on fresh seeds",
        summary="NOT CONFIRMED: it passed the workflow's gate, but the fresh seeds did not confirm it.",
        summary_reversed="NOT CONFIRMED: it passed the workflow's gate, but the effect REVERSED on the fresh seeds.",
        title="passed the gate, not confirmed on fresh seeds",
        title_reversed="passed the gate, reversed on fresh seeds (not confirmed)", paper_word="not confirmed"),
    EvidenceLevel.PRELIMINARY: LevelWords(
        status="Proceeded (preliminary)", verdict="preliminary: passed the workflow's gate, not confirmed",
        summary=(f"PRELIMINARY: it passed the workflow's gate (d >= {PROCEED_AT:g}) but was not confirmed on fresh seeds "
                 "(skipped with --research-no-confirm, not run yet, or a run diverged); do not report it as an "
                 "established improvement."),
        title="a preliminary result, not confirmed", paper_word="preliminary"),
    EvidenceLevel.NOT_SUPPORTED: LevelWords(
        status=None, verdict="not supported", summary="not supported",
        title="a result the data do not support", paper_word="not support"),
}

# The journal status of each gate decision that does not proceed: (after the first look, after the final one).
DECISIONS: dict[Decision, tuple[str, str] | None] = {
    Decision.NOISE: ("Failed", "Failed"),
    Decision.SUGGESTIVE: ("Testing", "Inconclusive"),
    Decision.PROCEED: None,  # its status is its evidence level's (LEVELS[level].status)
}

# What a clear result is called when the gate did not proceed ("noise" is the gate's decision,
# never the description of a clear result). None: the gate's own word describes the data.
READINGS: dict[Reading, str | None] = {
    Reading.HURT: ("it hurt: val_loss rose by {rise} nats on these seeds ({conf:g}% CI of the improvement "
                   "[{lo}, {hi}], entirely below zero)"),
    Reading.CONSISTENT: ("consistent but below the workflow's threshold: val_loss fell by {gain} nats on these seeds "
                         "({conf:g}% CI [{lo}, {hi}], entirely above zero), yet d = {d} < " f"{PROCEED_AT:g}"),
    Reading.UNCLEAR: None,
}

_missing = [x for x in (*EvidenceLevel, *Decision, *Reading) if x not in {**LEVELS, **DECISIONS, **READINGS}]
if _missing:  # a new level or decision must be given its words before anything can print it
    raise ImportError(f"research_harness.vocabulary has no words for {', '.join(map(repr, _missing))}")


def level_words(level: EvidenceLevel | str) -> LevelWords:
    return LEVELS[EvidenceLevel(level)]


def gate_rule() -> str:
    """The workflow's gate in words, from its constants."""
    return (f"d < {NOISE_BELOW:g} noise; {NOISE_BELOW:g} <= d < {PROCEED_AT:g} suggestive; d >= {PROCEED_AT:g} "
            "proceed")


def extension_rule() -> str:
    """When the extension seeds run, from the constants."""
    return (f"seeds {', '.join(map(str, EXTENSION_SEEDS))} run only when {NOISE_BELOW:g} <= d < {PROCEED_AT:g} at "
            f"seeds {', '.join(map(str, ARM_SEEDS))}")


def reading_words(reading: Reading, interval: tuple[float, float], mean: float, d: str) -> str | None:
    """The words of a clear result the gate did not pass (None when the interval holds zero).

    ``interval`` and ``mean`` are the improvement in nats (positive: the experimental arm is
    lower); ``d`` is the gate's effect size, already formatted.
    """
    words = READINGS[Reading(reading)]
    if words is None:
        return None
    lo, hi = interval
    return words.format(rise=f"{-mean:.4g}", gain=f"{mean:.4g}", conf=100 * READING_CONFIDENCE, lo=f"{lo:+.4g}",
                        hi=f"{hi:+.4g}", d=d)
