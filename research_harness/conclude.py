"""Phases 3 and 4 glue: the paper's inputs from the store and the journal, the archive
step, and the closing summary (honest when every idea failed)."""

from __future__ import annotations

import shutil
from pathlib import Path

from research_harness import baseline as phase1
from research_harness.discovery.study import Discovery
from research_harness.stats import compare_arms
from research_harness.workspace import ARM_SEEDS, EXTENSION_SEEDS, seed_order


def paper_inputs(disc: Discovery, entry):
    from research_harness.paper import PaperInputs  # noqa: PLC0415

    seeds = max((d["seeds"] for d in entry.decisions), key=len, default=list(ARM_SEEDS))
    control, _ = disc.arm_records(entry.slot, "control", seeds)
    exp, _ = disc.arm_records(entry.slot, "exp", seeds)
    base = phase1.load(disc.runner, train_missing=False)
    if len(base.records) != 5:
        raise RuntimeError("the paper needs the five baseline run records in the store; the reused report alone "
                           "has no loss curves. Fix: delete the baseline report to retrain phase 1")
    settings = disc.runner.settings
    return PaperInputs(topic=entry.idea, idea=disc.ideas()[entry.idea].metadata(),
                       baseline=[base.records[s] for s in sorted(base.records, key=seed_order)],
                       control=control, experimental=exp, research_tokens=settings.tokens,
                       research_scale=settings.research_scale,
                       decision_history=[{"seeds": d["seeds"]} for d in entry.decisions])


def archive(disc: Discovery) -> list[Path]:
    """Move intermediate artifacts to archive/: reports of ideas that did not proceed
    (when another idea is the final one) and stale figures. Kept in place: the variance
    report, the final experiment report, the paper and the idea log."""
    ws, label = disc.runner.workspace, disc.runner.settings.label
    journal = disc.journal()
    if not journal.entries:
        return []
    final = (disc.winner() or journal.entries[-1]).idea
    moved = []
    for entry in journal.entries:
        report = ws.experiment_report(entry.idea, label)
        if entry.idea != final and report.exists():
            moved.append(_move(report, ws.archive / "experiments" / report.name))
    figures = ws.papers / "figures"
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
    ws, settings = disc.runner.workspace, disc.runner.settings
    journal = disc.journal()
    scale = "" if settings.research_scale else f" (NOT the research scale: {settings.tokens:,} tokens per run)"
    winner = disc.winner()
    if winner is not None:
        seeds = max((d["seeds"] for d in winner.decisions), key=len)
        control, _ = disc.arm_records(winner.slot, "control", seeds)
        exp, _ = disc.arm_records(winner.slot, "exp", seeds)
        base = phase1.load(disc.runner, train_missing=False)
        cmp = compare_arms([r["val_loss"] for r in control], [r["val_loss"] for r in exp], base.values)
        sig = "significant at alpha 0.05" if cmp.p_one_sided < 0.05 else "not significant at alpha 0.05"
        pdf = ws.papers / "paper.pdf"
        return "\n".join([
            f"RESEARCH SUMMARY{scale}",
            f"Question: does {winner.title} (--use_{winner.idea}) lower val_loss at {settings.label} tokens?",
            f"Hypothesis: {winner.plan.get('hypothesis', '')}",
            f"Result: {winner.result}; Hedges' g = {cmp.hedges_g:.2f} (95% CI [{cmp.g_ci[0]:.2f}, {cmp.g_ci[1]:.2f}]); "
            f"one-sided Welch p = {cmp.p_one_sided:.4f} ({sig}); lower val_loss is better.",
            f"Paper: {pdf if pdf.exists() else ws.papers / (winner.idea + '.md')}",
            f"Experiment report: {ws.experiment_report(winner.idea, settings.label)}",
            f"Idea log: {ws.idea_log}",
        ])
    if not journal.entries:
        return f"RESEARCH SUMMARY{scale}\nNo idea was tried yet: run phase 2 (pytest experiments/ -k discovery)."
    tried = ", ".join(f"{e.idea} ({e.status}{': ' + e.result if e.result else ''})" for e in journal.entries)
    lessons = [lesson for e in journal.entries for lesson in e.lessons]
    done = len(journal.entries) >= 3 or all(e.status in ("Failed", "Inconclusive", "Archived") for e in journal.entries)
    head = (f"All {len(journal.entries)} ideas failed to beat the baseline's noise: no paper was written."
            if done else f"The discovery loop has not finished ({len(journal.entries)} idea(s) so far).")
    return "\n".join([f"RESEARCH SUMMARY{scale}", head, f"Tried: {tried}.",
                      "Lessons: " + (" ".join(lessons) if lessons else "none recorded."),
                      f"Baseline report: {phase1.report_path(disc.runner)}",
                      f"Idea log: {ws.idea_log}"])
