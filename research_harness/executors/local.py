"""The default executor: runs train in this process, one after another. Seeds of one
configuration share one TrainingSession (one model build, one compile). A run that loads
a model-written module trains in the sandbox instead (research_harness.sandbox), still
one at a time."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from trainer.run import RunOptions, RunPlan

from research_harness.sandbox import runs_in_sandbox


@dataclass
class LocalExecutor:
    name: str = "local"
    starts_early = False  # runs are sequential: prefetch has nothing to start
    _session: object = field(default=None, repr=False)
    _session_key: str | None = None

    def train(self, runner, arm, plan: RunPlan, seed: int, out: Path, keep_checkpoint: bool) -> dict:
        if runs_in_sandbox(plan):
            self.close()  # the sandbox may train on the same GPU: free this process's model first
            return train_sandboxed(runner, plan, seed)
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
        self._session, self._session_key = None, None
        import torch  # noqa: PLC0415

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def train_sandboxed(runner, plan: RunPlan, seed: int) -> dict:
    """One run of a plan that loads model-written code: refused before anything runs when no
    sandbox can start here (fail closed), else trained there and evaluated here."""
    import torch  # noqa: PLC0415

    from research_harness.sandbox import bwrap, jobs  # noqa: PLC0415

    bwrap.require(runner.settings.sandbox)
    return jobs.train(plan, seed, workspace=runner.workspace.root, mode=runner.settings.sandbox,
                      threads=torch.get_num_threads())
