"""Phases 3 and 4 glue: the paper's inputs from the store and the journal, the archive
step, and the closing summary (honest when every idea failed; the evidence level, not
the gate, says what was found)."""

from __future__ import annotations

import shutil
from pathlib import Path

from research_harness import baseline as phase1
from research_harness import stats
from research_harness.discovery.study import Discovery
from research_harness.facts import UNSANDBOXED
from research_harness.vocabulary import level_words
from research_harness.workspace import MAX_IDEAS, seed_order


def _look_seeds(entry) -> list[int]:
    return sorted({s for look in entry.looks if look for s in look}, key=seed_order)


def paper_inputs(disc: Discovery, entry):
    from research_harness.paper import PaperInputs  # noqa: PLC0415

    seeds = _look_seeds(entry)
    control, _ = disc.arm_records(entry, "control", seeds)
    exp, _ = disc.arm_records(entry, "exp", seeds)
    base = phase1.load(disc.runner, train_missing=False)
    if len(base.records) != 5:
        raise RuntimeError("the paper needs the five baseline run records in the store; the reused report alone "
                           "has no loss curves. Fix: delete the baseline report to retrain phase 1")
    journal = disc.journal()
    family = [{"idea": other.idea, "looks": disc.look_pairs(other)} for other in journal.entries
              if other.idea != entry.idea and other.looks]
    agent = disc.agent
    hashes = []
    if agent.transcripts is not None:
        hashes = sorted(t["hash"] for t in agent.transcripts.all())
    settings = disc.runner.settings
    design = disc.design(journal)
    return PaperInputs(topic=entry.idea, idea={**entry.metadata, "name": entry.idea},
                       baseline=[base.records[s] for s in sorted(base.records, key=seed_order)],
                       control=control, experimental=exp, research_tokens=settings.tokens,
                       research_scale=settings.research_scale, looks=[list(x) if x else None for x in entry.looks],
                       confirm=design["confirm"], family=family, verification=entry.verification,
                       agent={"backend": agent.backend, "model": agent.model, "transcripts": hashes},
                       null=disc.null_rates(journal))


def archive(disc: Discovery) -> list[Path]:
    """Move intermediate artifacts to archive/: reports of ideas that did not proceed
    (when another idea is the final one) and stale figures. Kept in place: the variance
    report, the final experiment report, the paper and the idea log."""
    ws, label = disc.runner.workspace, disc.runner.settings.label
    journal = disc.journal()
    if not journal.entries:
        return []
    final = (disc.proceeded() or journal.entries[-1]).idea
    moved = []
    for entry in journal.entries:
        report = ws.experiment_report(entry.idea, label)
        if entry.idea != final and report.exists():
            moved.append(_move(report, ws.archive / "experiments" / report.name))
    for figures in (ws.papers / "figures", ws.research_docs / "figures"):
        if figures.exists():
            for fig in figures.iterdir():
                if not fig.name.startswith(f"{final}_"):
                    moved.append(_move(fig, ws.archive / "figures" / fig.name))
    return moved


def _move(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    shutil.move(str(src), dst)
    return dst


def summary(disc: Discovery) -> str:
    text = _summary(disc)
    if any(e.implementation.get("sandbox") == "none" for e in disc.journal().entries):
        text += f"\nWarning: {UNSANDBOXED}."
    return text


def _summary(disc: Discovery) -> str:
    ws, settings = disc.runner.workspace, disc.runner.settings
    journal = disc.journal()
    scale = "" if settings.research_scale else f" (NOT the research scale: {settings.tokens:,} tokens per run)"
    proceeded = disc.proceeded()
    if proceeded is not None:
        ev = proceeded.evidence
        confirmed_on_fresh = ev.get("deciding_look") == 2 and len(proceeded.looks) > 2 and proceeded.looks[2]
        # After a confirmation the stated result is the fresh seeds' (the gate's seeds chose the idea).
        seeds = list(proceeded.looks[2]) if confirmed_on_fresh else _look_seeds(proceeded)
        control, _ = disc.arm_records(proceeded, "control", seeds)
        exp, _ = disc.arm_records(proceeded, "exp", seeds)
        cmp = stats.compare_arms([r["val_loss"] for r in control], [r["val_loss"] for r in exp])
        pdf = ws.papers / "paper.pdf"
        words = level_words(ev.get("level", "not supported"))
        claim = words.summary_reversed if ev.get("reversed") and words.summary_reversed else words.summary
        return "\n".join([
            f"RESEARCH SUMMARY{scale}",
            f"Question: does {proceeded.title} (--use_{proceeded.idea}) lower val_loss at {settings.label} tokens?",
            f"Hypothesis: {proceeded.plan.get('hypothesis', '')}",
            f"Result: mean val_loss {cmp.experimental.mean:.4f} (experimental) vs {cmp.control.mean:.4f} (control), "
            f"N = {len(control)} {'fresh ' if confirmed_on_fresh else ''}seeds per arm; Cohen's d = {cmp.cohens_d:.2f}, "
            f"Hedges' g = {cmp.hedges_g:.2f} "
            f"(95% CI of the effect [{cmp.d_ci[0]:.2f}, {cmp.d_ci[1]:.2f}]); {ev.get('decided_by', 'paired t')} "
            + (f"one-sided p on the fresh seeds = {ev.get('p_family_adjusted', float('nan')):.3g}"
               if confirmed_on_fresh else
               f"p adjusted for looks and ideas = {ev.get('p_family_adjusted', float('nan')):.3g} (exploratory)")
            + "; lower val_loss is better.",
            f"Evidence: {claim}",
            f"Paper: {pdf if pdf.exists() else ws.papers / (proceeded.idea + '.md')}",
            f"Experiment report: {ws.experiment_report(proceeded.idea, settings.label)}",
            f"Idea log: {ws.idea_log(settings.label)}",
        ])
    errors = [r["error"] for r in journal.ideation.values() if r.get("error")]
    if not journal.entries:
        if errors:
            return f"RESEARCH SUMMARY{scale}\nThe research agent failed before any idea was selected: {errors[0]}"
        return f"RESEARCH SUMMARY{scale}\nNo idea was tried yet: run phase 2 (pytest experiments/ -k discovery)."
    tried = ", ".join(f"{e.idea} ({e.status}{': ' + e.result if e.result else ''})" for e in journal.entries)
    lessons = [lesson for e in journal.entries for lesson in e.lessons]
    closed = all(e.status in ("Failed", "Inconclusive", "Archived") for e in journal.entries)
    if closed and (len(journal.entries) >= MAX_IDEAS or errors):
        counts = ", ".join(f"{sum(e.status == s for e in journal.entries)} {s.lower()}"
                           for s in ("Failed", "Inconclusive", "Archived") if any(e.status == s for e in journal.entries))
        head = (f"No idea passed the gate, so no paper was written: of {len(journal.entries)} idea(s) tried, "
                f"{counts}.")
    else:
        head = f"The discovery loop has not finished ({len(journal.entries)} idea(s) so far)."
    if errors:
        head += f" The research agent failed: {errors[0]}"
    return "\n".join([f"RESEARCH SUMMARY{scale}", head, f"Tried: {tried}.",
                      "Lessons: " + (" ".join(lessons) if lessons else "none recorded."),
                      f"Baseline report: {phase1.report_path(disc.runner)}",
                      f"Idea log: {ws.idea_log(settings.label)}"])
