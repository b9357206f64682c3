"""Executors train the runs the runner could not find in the store.

`local` (the default) trains in this process, one run at a time, as the workflow
demands, so wall times compare. `ray` runs each seed as a Ray task on its own GPU (see
`research_harness.executors.ray_executor`). Either way the runner stores the records,
under the same per-key lock. This module imports nothing heavy: the plugin reads
`EXECUTORS` at configure time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from trainer.run import RunPlan

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    name: str

    def train(self, runner, arm, plan: "RunPlan", seed: int, out: "Path", keep_checkpoint: bool) -> dict:
        """Train one run and return its record (raises TrainingDiverged)."""

    def prefetch(self, runner, arm, plan: "RunPlan", seeds: list[int]) -> None:
        """These seeds of this plan will be asked for next; an executor may start them now."""

    def close(self) -> None: ...


def make_executor(name: str, **options) -> Executor:
    if name == "local":
        from research_harness.executors.local import LocalExecutor  # noqa: PLC0415

        return LocalExecutor()
    if name == "ray":
        from research_harness.executors.ray_executor import RayExecutor  # noqa: PLC0415

        return RayExecutor(**options)
    raise ValueError(f"unknown executor {name!r}; choose one of: {', '.join(EXECUTORS)}")


__all__ = ["EXECUTORS", "Executor", "make_executor"]
