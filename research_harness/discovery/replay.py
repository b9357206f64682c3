"""A recorded workflow study as the engine's arrays (a batch of one), so the journal's
decisions can be replayed through :func:`research_harness.engine.advance` and checked."""

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
