"""A recorded workflow study as the engine's arrays (a batch of one), so the journal's
decisions can be replayed through :func:`research_harness.engine.advance` and checked.

The study engine is the referee of every real study: after each gate and confirmation the
workflow replays its own records through it (:func:`disagreements`) and stops with an error
if the engine would have run a different flow. The simulation and the A/A phase run the
same engine, so the null rates the reports quote are those of the flow that ran."""

from __future__ import annotations

import numpy as np

from research_harness.engine import STUDY_SEEDS, Step, advance
from research_harness.workspace import MAX_IDEAS


def study_arrays(disc) -> tuple[np.ndarray, np.ndarray]:
    """val_loss of every stored run of the study's ideas, shaped (1, MAX_IDEAS, seeds) over
    ``STUDY_SEEDS``; NaN where no run exists. The control arm is the baseline's runs."""
    journal = disc.journal()
    control = np.full((1, MAX_IDEAS, len(STUDY_SEEDS)), np.nan)
    experimental = np.full_like(control, np.nan)
    for entry in journal.entries:
        k = entry.slot - 1
        for which, arr in (("control", control), ("exp", experimental)):
            finished, _ = disc.arm_records(entry, which, [s for s in STUDY_SEEDS if str(s) in entry.runs.get(which, {})])
            for rec in finished:
                arr[0, k, STUDY_SEEDS.index(rec["seed"])] = rec["val_loss"]
    return control, experimental


def replay(disc) -> Step:
    """The engine's reading of the recorded study, under the study's own design."""
    journal = disc.journal()
    design = disc.design(journal)
    confirm = bool(design.get("confirm"))
    n_confirm = next((len(e.confirmation["seeds"]) for e in journal.entries if e.confirmation.get("seeds")), 6)
    control, experimental = study_arrays(disc)
    return advance(control, experimental, confirm=confirm, n_confirm=n_confirm)


def disagreements(disc) -> list[str]:
    """Where the journal's flow differs from the engine's reading of the same records:
    which idea proceeded, which ideas took a second look, and confirmed / not confirmed /
    reversed. Empty when they agree. A study with a diverged run is not compared: the
    engine has no value for a run that produced none (the workflow fails that idea)."""
    journal = disc.journal()
    for entry in journal.entries:
        for which in ("control", "exp"):
            seeds = [s for s in STUDY_SEEDS if str(s) in entry.runs.get(which, {})]
            if disc.arm_records(entry, which, seeds)[1]:
                return []
    step = replay(disc)
    found = []
    proceeded = next((e for e in journal.entries if e.decisions and e.decisions[-1]["decision"] == "proceed"), None)
    if step.paper_idea[0] != (proceeded.slot - 1 if proceeded else -1):
        found.append(f"the idea that proceeded: journal slot {proceeded.slot if proceeded else None}, engine slot "
                     f"{step.paper_idea[0] + 1 if step.paper_idea[0] >= 0 else None}")
    for entry in journal.entries:
        k = entry.slot - 1
        if not entry.decisions:
            continue
        second = any(d.get("look") == 1 for d in entry.decisions)
        if bool(step.second_look[0, k]) != second:
            found.append(f"slot {entry.slot} ({entry.idea}): second look in the journal {second}, in the engine "
                         f"{bool(step.second_look[0, k])}")
    if proceeded is not None and any(d.get("look") == 2 for d in proceeded.decisions):
        level = proceeded.evidence.get("level")
        for name, journal_says in (("confirmed", level == "confirmed"), ("not_confirmed", level == "not confirmed"),
                                   ("reversed", bool(proceeded.evidence.get("reversed")))):
            if bool(getattr(step, name)[0]) != journal_says:
                found.append(f"{name}: journal {journal_says}, engine {bool(getattr(step, name)[0])}")
    return found


def require_agreement(disc) -> None:
    """Raise when the workflow's flow and the engine's differ (a bug in one of them)."""
    found = disagreements(disc)
    if found:
        raise RuntimeError("the study engine reads this study's records differently from the workflow ("
                           + "; ".join(found) + "). This is a bug in research_harness; the journal is kept as it "
                           "is. Please report it with docs/research/ and runs/.")
