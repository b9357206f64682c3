"""Training a run in a child process: how the local executor runs an idea a model wrote.

Code a model wrote is untrusted: the AST guard checked it and a sandboxed smoke test ran
it, but its hooks still execute arbitrary torch code while it trains. Run in this
process, a hook that changed process-wide state (a default dtype, a thread count, the
RNG) would change every later run, the baseline's included. So its runs are trained
apart: the child rebuilds the run from its spec (the Ray worker's code path), checks the
run key, trains with the driver's thread count (so the numbers are the in-process ones,
bit for bit on a CPU), under the sandbox's audit hook (writes only to the workspace, the data
cache and the temp folder; no processes, no network), and hands back the record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from research_harness.executors.spec import run_spec

RESULT_NAME = "apart_result.json"
TIMEOUT_S = int(os.environ.get("RESEARCH_APART_TIMEOUT", 6 * 3600))  # a hook that hangs must not hold the lock forever


def train_apart(runner, arm, plan, seed: int, out: Path, keep_checkpoint: bool, threads: int) -> dict:
    """Train (plan, seed) in a child process and return its record (TrainingDiverged as locally)."""
    from trainer.run import TrainingDiverged  # noqa: PLC0415

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    spec = run_spec(runner, arm, plan, seed, out, keep_checkpoint, threads)
    spec_path = out / "apart_spec.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    result_path = out / RESULT_NAME
    result_path.unlink(missing_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    if plan.device.type == "cuda" and plan.device.index is not None:  # the spec says "cuda": the child's cuda:0
        env["CUDA_VISIBLE_DEVICES"] = str(plan.device.index)
    try:
        proc = subprocess.run([sys.executable, "-m", "research_harness.executors.apart", str(spec_path)], env=env,
                              capture_output=True, text=True, cwd=runner.workspace.root, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"training {arm.name} seed {seed} apart (a model-written idea) did not finish in "
                           f"{TIMEOUT_S} s and was stopped; nothing was stored as finished (its checkpoint in {out} "
                           "stays)") from None
    if proc.returncode != 0 or not result_path.exists():
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise RuntimeError(f"training {arm.name} seed {seed} apart (a model-written idea) failed with exit code "
                           f"{proc.returncode}: {tail}; nothing was stored as finished")
    result = json.loads(result_path.read_text(encoding="utf-8"))
    result_path.unlink()
    spec_path.unlink(missing_ok=True)
    record = result["record"]
    if result["status"] == "diverged":
        raise TrainingDiverged(result["message"], record)
    return record


def main(argv: list[str] | None = None) -> int:
    spec_path = Path((argv if argv is not None else sys.argv[1:])[0])
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    import torch  # noqa: PLC0415

    from research_harness.agent.smoke import install_audit_hook, route_native_escapes  # noqa: PLC0415
    from research_harness.executors.spec import train_spec  # noqa: PLC0415
    from trainer.record import write_json_atomic  # noqa: PLC0415

    from trainer.record import device_info, git_state  # noqa: PLC0415

    git_state(spec["workspace"]), device_info(torch.device(spec["device"]))  # cached now: both start processes
    route_native_escapes(torch)
    refusals = install_audit_hook([spec["workspace"], spec["data_dir"], spec["out"], tempfile.gettempdir()])
    result = train_spec(spec)
    if refusals:
        print("refused by the sandbox: " + "; ".join(refusals[:3]), file=sys.stderr)
        return 3
    write_json_atomic(spec_path.parent / RESULT_NAME, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
