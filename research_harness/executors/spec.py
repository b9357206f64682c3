"""A run as plain data, and training it from that data: what travels to a Ray worker or to
a child process. The receiving side rebuilds the plan with `plan_run` and refuses to
train unless its run key equals the sender's (same code, data and configuration), so a
run trained elsewhere is the run that was asked for."""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
from pathlib import Path

from trainer.atomic import write_atomic, write_json_atomic

PID_FILE = "ray_worker.json"  # written into the run's checkpoint folder while a worker trains it


class RunKeyMismatch(RuntimeError):
    """A worker rebuilt a different run than the driver asked for: its code or data differ."""



def run_spec(runner, arm, plan, seed: int, out: Path, keep_checkpoint: bool, cpus_per_run: int = 1) -> dict:
    """Everything a worker needs to rebuild and train the run, as plain data."""
    import trainer.ideas  # noqa: PLC0415

    from research_harness.sandbox import runs_in_sandbox  # noqa: PLC0415

    package_ideas = Path(trainer.ideas.__file__).resolve().parent  # built-in ideas: installed on every node
    user_ideas = []
    for idea in [*plan.ideas, *plan.loaded]:
        path = Path(idea.source_file).resolve() if idea.source_file else None
        if path is not None and path.exists() and package_ideas not in path.parents:
            user_ideas.append({"name": idea.name, "path": str(path), "source": path.read_text(encoding="utf-8"),
                               "untrusted": isinstance(idea, trainer.ideas.UntrustedIdea)})
    idea_dirs = [str(Path(d).resolve()) for d in [*trainer.ideas.default_idea_dirs(), *runner.idea_dirs]]
    return {
        "preset": plan.preset,
        "tokens": plan.train_cfg.train_tokens,
        "flags": sorted(plan.flags),
        "device": plan.device.type,  # cuda:0 inside a Ray worker or an apart child (it sees only its GPU)
        "cpus": cpus_per_run,
        "idea_dirs": list(dict.fromkeys(idea_dirs)),
        "untrusted_dirs": [str(Path(runner.generated_dir).resolve())],
        "user_ideas": user_ideas,
        "configured": runner.configured,
        "load": [i.name for i in plan.loaded],
        "sandbox": runner.settings.sandbox if runs_in_sandbox(plan) else None,
        "purpose": arm.purpose,
        "vocab_size": plan.data.meta.get("tokenizer", {}).get("vocab_size", plan.model_cfg.vocab_size),
        "data_dir": str(Path(runner.workspace.data_dir(runner.settings)).resolve()),
        "data_fingerprint": plan.data_fingerprint,
        "data_arrays_sha": plan.data.meta.get("arrays_sha"),
        "code_fingerprint": plan.code_fingerprint,
        "out": str(Path(out).resolve()),
        "keep_checkpoint": keep_checkpoint,
        "seed": seed,
        "arm": arm.name,
        "run_key": plan.key(seed),
        "workspace": str(runner.workspace.root.resolve()),
    }


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK)


def _node_local(*parts: str) -> Path:
    return Path(tempfile.gettempdir()).joinpath("research_harness", *parts)


def _idea_dirs_here(spec: dict) -> tuple[list[str], list[str]]:
    """(trusted, model-written) idea folders: the driver's when this node sees the same idea
    files (one machine, or a shared filesystem); else the shipped sources, written once
    into a node-local folder (model-written ones into its `generated/`, so they stay
    model-written here too)."""
    same = all(Path(i["path"]).is_file() and Path(i["path"]).read_text(encoding="utf-8") == i["source"]
               for i in spec["user_ideas"])
    if same:
        return spec["idea_dirs"], spec["untrusted_dirs"]
    digest = hashlib.sha256("".join(i["path"] + i["source"] for i in spec["user_ideas"]).encode()).hexdigest()[:16]
    folder = _node_local("ideas", digest)
    (folder / "generated").mkdir(parents=True, exist_ok=True)
    for idea in spec["user_ideas"]:
        target = folder / ("generated" if idea.get("untrusted") else "") / Path(idea["path"]).name
        if not target.exists():
            write_atomic(target, idea["source"])
    return [str(folder)], [str(folder / "generated")]


def train_spec(spec: dict) -> dict:
    """The worker's side (a Ray task or a child process): rebuild the plan, check it is the driver's run, train it. Returns
    {"status": "finished", "record": ...} or {"status": "diverged", "message", "record"}: a
    diverged run is a result, not an error, so its record reaches the driver intact."""
    import torch  # noqa: PLC0415 - on the worker only

    from trainer.data import prepare_data  # noqa: PLC0415
    from trainer.run import RunOptions, TrainingDiverged, TrainingSession, plan_run  # noqa: PLC0415

    if spec["device"] != "cuda":
        # The same intra-op thread count as a local run: floating-point reductions then match bit for bit.
        torch.set_num_threads(spec["cpus"])
    trusted, untrusted = _idea_dirs_here(spec)
    plan = plan_run(spec["preset"], train_tokens=spec["tokens"], flags=spec["flags"], device=spec["device"],
                    idea_dirs=trusted, untrusted_dirs=untrusted, purpose=spec["purpose"],
                    configured=spec.get("configured"), load=spec.get("load"))
    data_dir = Path(spec["data_dir"])
    if not _writable(data_dir):
        data_dir = _node_local("processed_data")
    plan.bind_data(prepare_data(spec["vocab_size"], cache_dir=data_dir, log=print))
    key = plan.key(spec["seed"])
    if key != spec["run_key"]:
        differs = [name for name, ours, theirs in (
            ("code", plan.code_fingerprint, spec["code_fingerprint"]),
            ("data", plan.data_fingerprint, spec["data_fingerprint"]),
            ("data arrays", plan.data.meta.get("arrays_sha"), spec["data_arrays_sha"])) if ours != theirs]
        raise RunKeyMismatch(
            f"worker on {socket.gethostname()} rebuilt run {key} for {spec['arm']} seed {spec['seed']}, but the driver "
            f"asked for {spec['run_key']}: the worker's {' and '.join(differs) or 'configuration'} differ(s) from the "
            f"driver's. Fix: install the same research_harness/trainer version on every Ray node (and the same data "
            f"cache, {spec['data_dir']})")
    if plan.data.meta.get("arrays_sha") != spec["data_arrays_sha"]:
        raise RunKeyMismatch(f"worker on {socket.gethostname()} built different token arrays from the same corpus "
                             f"({data_dir}); fix: share the driver's data cache {spec['data_dir']} with this node")
    if spec.get("sandbox"):
        # Model-written code: the task starts the same sandbox on this node and evaluates what
        # it hands back here, outside it, as the local executor does on the driver.
        from research_harness.sandbox import bwrap, jobs  # noqa: PLC0415

        bwrap.require(spec["sandbox"])
        workspace = Path(spec["workspace"]) if _writable(Path(spec["workspace"]) / ".sandbox") else _node_local()
        try:
            record = jobs.train(plan, spec["seed"], workspace=workspace, mode=spec["sandbox"],
                                threads=spec["cpus"] if spec["device"] != "cuda" else torch.get_num_threads())
        except TrainingDiverged as exc:
            return {"status": "diverged", "message": str(exc), "record": exc.record}
        return {"status": "finished", "record": record}
    out = Path(spec["out"])
    if not _writable(out):
        out = _node_local("checkpoints", out.name)
    # Who trains this run: lets an operator (or a test) find the process behind a checkpoint folder.
    pid_file = out / PID_FILE
    write_json_atomic(pid_file, {"pid": os.getpid(), "host": socket.gethostname(), "run_key": key})
    session = TrainingSession(plan=plan, log=print)
    try:
        record = session.run(spec["seed"], RunOptions(output_dir=out, overwrite=True,
                                                      keep_checkpoint=spec["keep_checkpoint"], progress=False))
    except TrainingDiverged as exc:
        return {"status": "diverged", "message": str(exc), "record": exc.record}
    pid_file.unlink(missing_ok=True)
    return {"status": "finished", "record": record}
