"""The `ray` executor: every run is a Ray task, one GPU each (or `cpus_per_run` CPUs on a
cluster without GPUs), so the seeds of an arm train side by side on the GPUs of one
machine or of a whole cluster.

The runner stays in charge of identity and storage. It asks for runs one seed at a time,
under the per-key file lock, and stores what `train` returns through `RunStore.put`, so
resume, reuse and reports behave exactly as with the local executor; this module never
writes the store. `prefetch` only starts tasks early: when the first seed test of an arm
runs, every seed of that arm is submitted, and each later seed test collects its own
result, in order.

What travels to a worker is a plain dict (`run_spec`), not the `RunPlan`: a plan holds
idea objects loaded from the user's files and the token arrays, neither of which should
be pickled. The worker rebuilds the plan with `plan_run`, builds or reads the data cache
itself, and refuses to train unless its run key equals the driver's (same code, same
data, same configuration), so a run trained on Ray is the run the driver asked for.

Data on the workers: each worker calls `prepare_data` on the driver's cache folder. On
one machine that is the driver's own cache (already built; its file lock makes
concurrent readers and a first build safe). On another machine the same path is used
when the workspace sits on a shared filesystem; otherwise the worker builds the cache
once per machine from the embedded corpus (deterministic, a few seconds) in a node-local
folder. We do not ship token arrays through Ray's object store: the cache on disk is
reused by every later task and session on that node, it costs the driver no memory, and
the run-key check (data fingerprint plus the arrays' hash) catches any node whose data
differs.

Model-written code scales out the same way: a run that loads such a module is a Ray task
too, and the task starts the sandbox on its node and evaluates what comes back there,
outside it (`spec.train_spec` asks `research_harness.sandbox.runs_in_sandbox`, as the
local executor does). The code itself never runs in a Ray worker's process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from research_harness.executors.spec import PID_FILE, RunKeyMismatch, run_spec, train_spec

RAY_EXTRA_HINT = "pip install 'research_harness[ray]'"
__all__ = ["RayExecutor", "RunKeyMismatch", "run_spec", "PID_FILE", "RAY_EXTRA_HINT"]


def _import_ray():
    try:
        import ray  # noqa: PLC0415 - optional extra, imported only when the ray executor is used
    except ImportError as exc:
        raise ImportError(f"the ray executor needs the optional package 'ray' ({exc}); fix: {RAY_EXTRA_HINT}") from None
    return ray


@dataclass
class RayExecutor:
    """Runs each seed as a Ray task. `address` joins an existing cluster (many machines);
    None starts a local Ray on this machine (its GPUs, or `num_cpus` CPUs), shut down again
    in `close()`. `max_retries` is how often a task whose worker died is started again; a
    retry resumes from the run's last checkpoint."""

    address: str | None = None
    cpus_per_run: int = 1
    log: Callable[[str], None] = print
    max_retries: int = 1
    num_cpus: int | None = None  # CPUs of a local Ray (None: Ray counts them)
    name: str = "ray"
    starts_early = True  # prefetch submits every seed of an arm at once
    _ray: object = field(default=None, repr=False)
    _owns_ray: bool = False
    _remote: object = field(default=None, repr=False)
    _pending: dict = field(default_factory=dict, repr=False)  # run key -> ObjectRef
    _warned: bool = False

    # -- Ray itself ---------------------------------------------------------------------------
    def _ensure_ray(self):
        if self._ray is not None:
            return self._ray
        ray = _import_ray()
        if not ray.is_initialized():
            quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
            if self.address:
                try:
                    ray.init(address=self.address, **quiet)
                except Exception as exc:  # noqa: BLE001 - any failure to join gets the same fix
                    raise RuntimeError(
                        f"cannot join the Ray cluster at {self.address} ({type(exc).__name__}: "
                        f"{(str(exc).splitlines() or [''])[0]}); fix: check --research-ray-address / RAY_ADDRESS "
                        f"(the head's host:port from `ray start --head`) and, with Ray's token authentication, "
                        f"that this machine has the cluster's token (~/.ray/auth_token or RAY_AUTH_TOKEN)") from exc
                where = f"joined the Ray cluster at {self.address}"
            else:
                # "local", not None: never join a cluster that `ray start` left running by accident.
                ray.init(address="local", num_cpus=self.num_cpus, include_dashboard=False, **quiet)
                where = "started a local Ray"
            self._owns_ray = True
            resources = ray.cluster_resources()
            self.log(f"[research] ray: {where} ({int(resources.get('GPU', 0))} GPUs, "
                     f"{int(resources.get('CPU', 0))} CPUs); worker logs under Ray's session folder "
                     f"(/tmp/ray/session_latest/logs)")
        self._ray = ray
        self._remote = ray.remote(train_spec)
        return ray

    def close(self) -> None:
        """Cancel tasks nobody collected (their checkpoints stay, so a later session resumes
        them); stop the local Ray this executor started, or disconnect from the cluster it
        joined (the cluster keeps running). A Ray that someone else in this process started
        is left alone."""
        ray, pending = self._ray, list(self._pending.values())
        self._pending.clear()
        if ray is None:
            return
        for ref in pending:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - best effort while shutting down
                pass
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
        self._ray, self._owns_ray, self._remote = None, False, None

    # -- the executor protocol ------------------------------------------------------------------
    def prefetch(self, runner, arm, plan, seeds: list[int]) -> None:
        """Start every given seed not already started: they run side by side on the cluster."""
        started = [seed for seed in seeds if self._submit(runner, arm, plan, seed) is not None]
        if started:
            self.log(f"[research] ray: started {arm.name} seeds {', '.join(map(str, started))} "
                     f"({plan.train_cfg.train_tokens:,} tokens each)")

    def train(self, runner, arm, plan, seed: int, out: Path, keep_checkpoint: bool) -> dict:
        """Wait for this seed's task (started now if no prefetch started it) and return its
        record; a diverged run raises TrainingDiverged with its record, as locally."""
        from trainer.record import git_state  # noqa: PLC0415
        from trainer.run import TrainingDiverged  # noqa: PLC0415

        key = plan.key(seed)
        self._submit(runner, arm, plan, seed, out=out, keep_checkpoint=keep_checkpoint)
        ray = self._ensure_ray()
        ref = self._pending[key]
        try:
            result = ray.get(ref)
        except KeyboardInterrupt:
            ray.cancel(ref, force=True)  # its checkpoint stays: the next session resumes it
            raise
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, BaseException):  # the worker's own exception, with its remote traceback chained
                raise cause from exc
            raise
        except ray.exceptions.RayError as exc:  # the worker (or its node) died and the retries are spent
            tries = 1 + self.max_retries
            raise RuntimeError(
                f"the Ray task training {arm.name} seed {seed} (run {key}) did not finish in {tries} "
                f"tr{'y' if tries == 1 else 'ies'} ({type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}). "
                f"Nothing was stored as finished; rerun the session to resume the run from its last checkpoint "
                f"in {out}") from exc
        finally:
            self._pending.pop(key, None)
        if not keep_checkpoint and result["status"] == "finished":
            # A prefetched task did not know the caller's wish (prefetch keeps checkpoints, as the runner does).
            (Path(out) / "checkpoint.pt").unlink(missing_ok=True)
        record = result["record"]
        # The commit that describes the study is the driver's workspace's, wherever the run trained.
        record.setdefault("code", {}).update(git_state(str(runner.workspace.root)))
        if result["status"] == "diverged":
            raise TrainingDiverged(result["message"], record)
        return record

    def _check_feasible(self, resources: dict, arm, seed: int) -> None:
        """A task no node can hold waits forever: refuse it on a local Ray (which cannot grow),
        say so once on a joined cluster (an autoscaler may still add the node)."""
        have = self._ray.cluster_resources()
        want = {"GPU": resources.get("num_gpus", 0), "CPU": resources.get("num_cpus", 0)}
        short = [f"{n} {kind}" for kind, n in want.items() if n and have.get(kind, 0) < n]
        if not short:
            return
        what = (f"{arm.name} seed {seed} needs {' and '.join(short)} per run, but the Ray cluster has "
                f"{int(have.get('GPU', 0))} GPUs and {int(have.get('CPU', 0))} CPUs")
        if not self.address:
            raise RuntimeError(f"{what}; fix: --research-device cpu (no GPU here), a smaller --research-ray-cpus, "
                               "or --research-ray-address of a cluster that has them")
        if not self._warned:
            self._warned = True
            self.log(f"[research] ray: {what}: the run waits until the cluster adds such a node")

    # -- submission ------------------------------------------------------------------------------
    def _submit(self, runner, arm, plan, seed: int, *, out: Path | None = None, keep_checkpoint: bool = True):
        """Start the task for (plan, seed) unless one is already running; returns its ref or None."""
        key = plan.key(seed)
        if key in self._pending:
            return None
        self._ensure_ray()
        if out is None:
            from research_harness.workspace import token_label  # noqa: PLC0415

            out = runner.workspace.checkpoint_dir(arm.name, token_label(plan.train_cfg.train_tokens), seed, key)
        spec = run_spec(runner, arm, plan, seed, out, keep_checkpoint, self.cpus_per_run)
        if plan.device.type == "cuda":
            resources = {"num_gpus": 1}
        else:
            resources = {"num_cpus": self.cpus_per_run}
        self._check_feasible(resources, arm, seed)
        ref = self._remote.options(**resources, max_retries=self.max_retries, retry_exceptions=False,
                                   name=f"{arm.name} seed {seed} ({key})").remote(spec)
        self._pending[key] = ref
        return ref
