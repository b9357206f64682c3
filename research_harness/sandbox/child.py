"""Inside the sandbox: the one place where model-written idea modules run.

    python -m research_harness.sandbox.child      (the job's spec arrives on standard input)

Modes:
  configure  import the modules, run the ideas' configure() on the study's preset and
             budget, write the resulting configurations
  smoke      the same, then train a few thousand tokens at the tiny preset
  train      the same, then train the run
At each evaluation point of a training run the model is exported (torch.export at the
evaluation batch's static shape) into the job's folder as a JSON graph and safetensors
weights; the study process evaluates that export itself. The child writes `result.json`
into its folder. Everything here is as trustworthy as the modules it imports, that is not
at all: the study process treats every byte this process writes as data to validate."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path

from trainer.atomic import write_atomic

RESULT = "result.json"


class ExportFailed(RuntimeError):
    """torch.export could not capture the model at the evaluation shape."""


def _limit_processes(n: int) -> None:
    # Set here, inside the sandbox. It does not bind root (the kernel exempts uid 0 of the
    # initial user namespace, which bwrap started by root maps the sandbox's uid 0 to):
    # there the parent puts the sandbox in a pids cgroup instead (bwrap._pids_cgroup).
    resource.setrlimit(resource.RLIMIT_NPROC, (n, n))


def _describe(exc: BaseException, modules: list[str]) -> str:
    """'TypeError: ... (in patch_model, line 12 of idea.py)': the innermost frame in a module."""
    where = ""
    targets = {os.path.realpath(m) for m in modules}
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.realpath(frame.filename) in targets:
            where = f" (in {frame.name}, line {frame.lineno} of {os.path.basename(frame.filename)})"
    text = " ".join(str(exc).split())[:300]
    return f"{type(exc).__name__}: {text}{where}" if text else f"{type(exc).__name__}{where}"


def run(spec: dict) -> dict:
    t0 = time.perf_counter()
    import torch

    torch.set_num_threads(int(spec["threads"]))
    from trainer.config import config_to_dict
    from trainer.data import load_training_split
    from trainer.ideas import discover_ideas, load_idea_file
    from trainer.run import RunOptions, TrainingDiverged, TrainingSession, plan_run

    from research_harness.sandbox.graph import export_for_eval, write_export

    paths = spec["paths"]
    out = Path(paths["out"])
    phase = "importing the module"
    result: dict = {"status": "error", "mode": spec["mode"]}
    try:
        ideas = discover_ideas()  # the built-in ideas (no idea folders are given to the child)
        for path in paths["modules"]:
            idea = load_idea_file(path)
            if idea.name in ideas:
                raise ValueError(f"an idea named {idea.name!r} exists already; choose another name")
            ideas[idea.name] = idea
        phase = "configuring (configure)"
        plan = plan_run(spec["preset"], train_tokens=spec["tokens"], flags=spec["flags"], device=spec["device"],
                        model_overrides=spec.get("model_overrides"), train_overrides=spec.get("train_overrides"),
                        ideas=ideas, load=spec.get("load"),
                        purpose=spec.get("purpose", ""))
        result["configs"] = {"model": config_to_dict(plan.model_cfg), "train": config_to_dict(plan.train_cfg)}
        if spec["mode"] == "configure":
            result["status"] = "ok"
            return result
        data = load_training_split(paths["data"]["train.npy"], paths["data"]["meta.json"])
        plan.bind_data(data)
        result["configs"]["model"] = config_to_dict(plan.model_cfg)
        phase = "building the model (patch_model)"
        session = TrainingSession(plan=plan, log=lambda *a: print(*a, file=sys.stderr))
        exports: list[dict] = []

        def export(model, index: int) -> None:
            stem = f"eval_{index}"
            try:
                graph, weights = export_for_eval(model, plan.train_cfg.batch_size, plan.model_cfg.seq_len, plan.device)
            except Exception as exc:  # noqa: BLE001 - any failure to capture goes back to the model
                raise ExportFailed(_describe(exc, paths["modules"])) from exc
            write_export(out, stem, graph, weights)
            exports.append({"index": index, "graph": f"{stem}.graph.json", "weights": f"{stem}.weights.safetensors"})

        phase = "training with the flag on" if spec["flags"] else "training with the flag off"
        try:
            record = session.run(int(spec["seed"]), RunOptions(quiet=True, on_eval=export))
        except TrainingDiverged as exc:
            result.update(status="diverged", error=f"training diverged: {exc}", record=_reported(exc.record))
        else:
            result.update(status="finished", record=_reported(record))
        result["exports"] = exports
    except ExportFailed as exc:
        result["error"] = (f"exporting the model with torch.export failed: {exc}. The model's forward must export "
                           "at a static shape: no data-dependent Python control flow, .item() or in-place buffer "
                           "updates in forward")
        traceback.print_exc()
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt from a module included
        result["error"] = f"{phase} failed: {_describe(exc, paths['modules'])}"
        traceback.print_exc()
    result["seconds"] = round(time.perf_counter() - t0, 3)
    return result


def _reported(record: dict) -> dict:
    """What only the sandbox can know, as it says it: the study process stores these marked
    as reported by the sandbox, and computes everything else itself."""
    keys = ("steps", "tokens_trained", "history", "train_loss_history", "wall_time", "tokens_per_s", "params",
            "compiled", "started", "finished", "failure")
    return {k: record.get(k) for k in keys}


def main() -> int:
    spec = json.loads(sys.stdin.read())
    _limit_processes(int(spec.get("max_processes", 512)))
    try:
        result = run(spec)
    except BaseException as exc:  # noqa: BLE001 - the trusted set-up failed: say so, do not hang the parent
        traceback.print_exc()
        result = {"status": "error", "error": f"the sandbox could not start: {type(exc).__name__}: {exc}"}
    text = json.dumps(result, allow_nan=True)
    write_atomic(Path(spec["paths"]["out"]) / RESULT, text)
    return 0 if result.get("status") in ("ok", "finished") else 1


if __name__ == "__main__":
    sys.exit(main())
