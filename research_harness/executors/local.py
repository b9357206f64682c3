"""The default executor: runs train in this process, one after another. Seeds of one
configuration share one TrainingSession (one model build, one compile). A run of an idea
a model wrote trains in a child process instead (research_harness.executors.apart)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from trainer.run import RunOptions, RunPlan


@dataclass
class LocalExecutor:
    name: str = "local"
    starts_early = False  # runs are sequential: prefetch has nothing to start
    _session: object = field(default=None, repr=False)
    _session_key: str | None = None

    def train(self, runner, arm, plan: RunPlan, seed: int, out: Path, keep_checkpoint: bool) -> dict:
        if runner.untrusted(plan):  # a model wrote one of its ideas: train it in a child process
            import torch  # noqa: PLC0415

            from research_harness.executors.apart import train_apart  # noqa: PLC0415

            return train_apart(runner, arm, plan, seed, out, keep_checkpoint, torch.get_num_threads())
        return self.session(runner, plan).run(seed, RunOptions(output_dir=out, overwrite=True,
                                                               keep_checkpoint=keep_checkpoint))

    def session(self, runner, plan: RunPlan):
        config_key = plan.key(0)  # the plan's identity without the seed
        # A verification rerun builds its model afresh: reusing the baseline's model would
        # hide a leak that acts when a model is constructed after an idea module is imported.
        if self._session_key != config_key or plan.purpose:
            self._session = None  # free the previous model before building the next
            self._session = runner.new_session(plan)
            self._session_key = config_key
        return self._session

    def prefetch(self, runner, arm, plan: RunPlan, seeds: list[int]) -> None:
        """Runs are sequential here: nothing starts before it is asked for."""

    def close(self) -> None:
        self._session = None
