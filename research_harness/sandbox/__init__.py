"""The boundary for code a model wrote.

A module in `experiments/ideas/generated/` is never imported by the study process (its
metadata is read from the syntax tree: `trainer.ideas.static`). It runs only inside a
bubblewrap sandbox (`bwrap.py`: no network, a cleared environment, read-only code and
training data, one writable folder, resource limits), through the child entry point
(`child.py`), and what comes back is data (`jobs.py` validates it; `graph.py` loads the
exported model through an operator allow-list and probes it for look-ahead; the study
process computes val_loss itself). `guard.py` is a lint that helps an honest model: it
is not the boundary. docs/SECURITY.md says what this covers and what it does not.

`runs_in_sandbox(plan)` is the one rule deciding where a run trains; the local and the
Ray executors both ask it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trainer.run import RunPlan

__all__ = ["runs_in_sandbox", "SANDBOX_MODES"]

SANDBOX_MODES = ("bwrap", "none")


def runs_in_sandbox(plan: "RunPlan") -> bool:
    """Whether the run loads a model-written module: with its flag on, or off (a flag-off
    verification). Decided by where each module was found when it was discovered."""
    from trainer.ideas import UntrustedIdea  # noqa: PLC0415

    return any(isinstance(idea, UntrustedIdea) for idea in [*plan.ideas, *plan.loaded])
