"""The study process's side of a sandboxed job: what it sends in, and how it treats what
comes back (as data from an adversary).

  smoke_test   a staged module's first run: configure, a few thousand tokens at the tiny
               preset, an export the parent evaluates. Any failure is one line a model can
               act on (secrets redacted).
  configure    the configuration changes an idea's configure() makes at the study's preset
               and budget, validated field by field (an idea may not change the budget, the
               evaluation, the vocabulary, the context length, the device or the dtype).
  train        one run of a plan: the parent checks the returned configuration against the
               plan, loads each exported graph through an operator allow-list, probes it for
               reading future tokens or other rows, evaluates it with the trainer's one
               evaluation function on the validation split (which never entered the
               sandbox), and builds the record itself. Numbers only the sandbox can know
               (training loss, tokens/s) are stored marked as reported by it.

Every file is read with O_NOFOLLOW and a size cap; nothing is unpickled; no tool runs in a
sandbox's folder, which is removed afterwards."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from research_harness.sandbox import bwrap
from research_harness.secrets import redact

MAX_RESULT_BYTES = 8 << 20
MAX_GRAPH_BYTES = 64 << 20
MAX_LOG_LINES = 40
SMOKE_TOKENS = 2048
SMOKE_PRESET = "tiny"
SMOKE_TIMEOUT_S = float(os.environ.get("RESEARCH_SMOKE_TIMEOUT", 240))
RUN_TIMEOUT_S = float(os.environ.get("RESEARCH_SANDBOX_TIMEOUT", 6 * 3600))
# What configure() may not change: the budget and everything that defines the measurement.
FROZEN = {"model": ("vocab_size", "seq_len"),
          "train": ("train_tokens", "eval_tokens", "eval_count", "compile", "dtype")}
REPORTED_BY_SANDBOX = ("train_loss", "train_loss_history", "tokens_per_s", "steps", "tokens_trained",
                       "wall_time.setup_s", "wall_time.compile_s", "wall_time.train_s", "history[].train_loss",
                       "sandbox.child_s", "sandbox.export_s")


class SandboxRunFailed(RuntimeError):
    """The sandboxed job failed or returned something the study process refuses; the
    message is one line, secrets redacted, fit to go back to the model."""


@dataclass
class SmokeResult:
    ok: bool
    error: str  # "" when ok; otherwise one line saying what failed and where
    val_loss: float | None  # the parent's evaluation of the export
    seconds: float
    log: str = ""  # the tail of the child's stderr, secrets redacted
    changes: dict | None = None  # the validated configuration changes at the tiny preset


def sandbox_dir(workspace: Path, name: str) -> Path:
    """<workspace>/.sandbox/<name>/: a fresh, empty folder (a leftover is removed first)."""
    folder = Path(workspace) / ".sandbox" / name
    remove(folder)
    folder.mkdir(parents=True)
    return folder


def remove(folder: Path) -> None:
    """Remove a sandbox's folder, whatever permissions the child left on what it wrote."""
    def writable(func, path, _exc):
        try:  # never through a link the child planted: chmod follows links
            for target in (os.path.dirname(path), path):
                if not os.path.islink(target):
                    os.chmod(target, 0o700)
        except OSError:
            pass
        func(path)
    if folder.is_dir() and not folder.is_symlink():
        shutil.rmtree(folder, onerror=writable)


def _child_argv() -> list[str]:
    return [sys.executable, "-m", "research_harness.sandbox.child"]


def _tail(text: str) -> str:
    rows = [r for r in text.splitlines() if r.strip()]
    return redact("\n".join(rows[-MAX_LOG_LINES:]))


def run_job(job: bwrap.Job, spec: dict, mode: str) -> tuple[dict, bwrap.Outcome]:
    """Run the child; returns its result (a dict whatever it wrote) and the outcome."""
    from research_harness.sandbox.graph import read_limited  # noqa: PLC0415 - torch arrives with it

    spec = {**spec, "paths": job.paths(mode), "threads": job.threads, "max_processes": job.limits.processes}
    job.stdin = json.dumps(spec).encode()
    outcome = bwrap.run(job, _child_argv(), mode)
    if outcome.timed_out:
        raise SandboxRunFailed(f"timed out after {job.limits.timeout_s:g} s and was killed: the module hangs or is far "
                               "too slow (an endless loop, or work that grows with the data?)")
    try:
        raw = read_limited(job.out_dir, "result.json", MAX_RESULT_BYTES)
        result = json.loads(raw.decode("utf-8"))
    except Exception as exc:  # noqa: BLE001 - missing, a link, too large, not JSON: all refused alike
        how = f"was killed by signal {-outcome.returncode}" if outcome.returncode < 0 else \
            f"exited with code {outcome.returncode}"
        last = _tail(outcome.stderr).splitlines()[-1:] or ["no output"]
        raise SandboxRunFailed(f"the sandboxed child {how} without a readable result ({type(exc).__name__}: "
                               f"{redact(str(exc))[:200]}; last stderr line: {last[0][:300]})") from None
    if not isinstance(result, dict):
        raise SandboxRunFailed("the sandbox's result is not a JSON object")
    return result, outcome


def _error(result: dict) -> str:
    text = result.get("error")
    return redact(" ".join(str(text).split())[:600]) if text else ""


# -- configurations ------------------------------------------------------------------------

def config_changes(returned, base: dict) -> dict:
    """The validated changes of `returned` ({"model": {...}, "train": {...}}, as the child
    says its configs are) against `base` (the configs without the idea); raises
    SandboxRunFailed naming the first problem."""
    from trainer.config import ModelConfig, TrainConfig  # noqa: PLC0415

    if not isinstance(returned, dict) or set(returned) != {"model", "train"}:
        raise SandboxRunFailed("the sandbox returned no configuration (expected model and train settings)")
    changes: dict = {"model": {}, "train": {}}
    for part, cls in (("model", ModelConfig), ("train", TrainConfig)):
        ours, theirs = base[part], returned[part]
        if not isinstance(theirs, dict) or set(theirs) != set(ours):
            raise SandboxRunFailed(f"configure() returned {part} settings with other fields than the trainer's")
        for name, value in theirs.items():
            if not _same_kind(ours[name], value):
                raise SandboxRunFailed(f"configure() set {part}.{name} to {value!r}: expected a value like "
                                       f"{ours[name]!r}")
            if value != ours[name]:
                if name in FROZEN[part]:
                    raise SandboxRunFailed(f"configure() may not change {part}.{name} ({ours[name]!r} -> {value!r}): "
                                           "it defines the budget or the measurement every idea is judged by")
                changes[part][name] = value
        try:
            cls(**{**ours, **{k: tuple(v) if isinstance(v, list) else v for k, v in theirs.items()}})
        except (TypeError, ValueError) as exc:
            raise SandboxRunFailed(f"configure() made an invalid {part} configuration: {exc}") from None
    return {part: c for part, c in changes.items() if c}


def _same_kind(ours, theirs) -> bool:
    if isinstance(ours, bool) or isinstance(theirs, bool):
        return type(ours) is type(theirs)
    if isinstance(ours, (int, float)) and not isinstance(ours, bool):
        if isinstance(ours, int) and not isinstance(theirs, int):
            return False
        return isinstance(theirs, (int, float)) and math.isfinite(theirs)
    if isinstance(ours, (list, tuple)):
        return isinstance(theirs, list) and len(theirs) == len(ours) and all(_same_kind(a, b) for a, b in zip(ours, theirs))
    return type(ours) is type(theirs)


def base_configs(preset: str, tokens: int, device: str, train_overrides: dict | None = None) -> dict:
    """The configs a run of `preset` has before any idea's configure(), as JSON has them."""
    from trainer.run import plan_run  # noqa: PLC0415

    plan = plan_run(preset, train_tokens=tokens, device=device, train_overrides=train_overrides)
    return _json({"model": dataclasses.asdict(plan.model_cfg), "train": dataclasses.asdict(plan.train_cfg)})


def _json(obj):
    return json.loads(json.dumps(obj))


# -- the three jobs --------------------------------------------------------------------------

def data_files(data) -> dict[str, Path]:
    """The training split, its meta.json and the tokenizer: what a sandbox may read."""
    return {name: Path(data.path) / name for name in ("train.npy", "meta.json", "tokenizer.json")
            if (Path(data.path) / name).exists()}


def configure(modules: dict[str, Path], flags: list[str], *, preset: str, tokens: int, workspace: Path,
              mode: str) -> dict:
    """{idea: changes} for the flagged model-written ideas, made by their configure() in the
    sandbox at this preset and budget, validated here. It runs on the CPU: a configuration
    depends on the preset, not on the device that trains it."""
    base = base_configs(preset, tokens, "cpu")
    changes = {}
    for flag in flags:
        folder = sandbox_dir(workspace, f"configure-{flag}")
        try:
            job = bwrap.Job(out_dir=folder, modules={p.name: p for p in modules.values()},
                            limits=bwrap.Limits(timeout_s=SMOKE_TIMEOUT_S))
            result, _ = run_job(job, {"mode": "configure", "preset": preset, "tokens": tokens, "flags": [flag],
                                      "device": "cpu", "seed": 0}, mode)
        finally:
            remove(folder)
        if result.get("status") != "ok":
            raise SandboxRunFailed(_error(result) or "configure() failed in the sandbox")
        changes[flag] = config_changes(result.get("configs"), base)
    return changes


def smoke_test(module_path: Path, workspace: Path, *, data, mode: str = "bwrap", timeout_s: float = SMOKE_TIMEOUT_S,
               tokens: int = SMOKE_TOKENS, seed: int = 42, device: str = "cpu",
               limits: bwrap.Limits | None = None) -> SmokeResult:
    """Import, configure and smoke-train `module_path` with its flag on, in the sandbox; the
    export is evaluated and probed here. `data` is a 4096-token-vocabulary dataset (tiny).
    `limits` replaces the default limits (their timeout_s then replaces `timeout_s`)."""
    from trainer.ideas import UntrustedIdeaError, read_untrusted_idea  # noqa: PLC0415

    t0 = time.perf_counter()
    module_path = Path(module_path)
    try:
        name = read_untrusted_idea(module_path).name
    except UntrustedIdeaError as exc:
        return SmokeResult(False, str(exc), None, time.perf_counter() - t0)
    overrides = {"eval_count": 1}
    folder = sandbox_dir(workspace, f"smoke-{name}")
    log = ""
    try:
        job = bwrap.Job(out_dir=folder, modules={module_path.name: module_path}, data_files=data_files(data),
                        limits=limits or bwrap.Limits(timeout_s=timeout_s), device=device)
        result, outcome = run_job(job, {"mode": "smoke", "preset": SMOKE_PRESET, "tokens": tokens, "flags": [name],
                                        "device": device, "seed": seed, "train_overrides": overrides}, mode)
        log = _tail(outcome.stderr)
        if result.get("status") != "finished":
            return SmokeResult(False, _error(result) or "the smoke run did not finish", None,
                               time.perf_counter() - t0, log)
        changes = config_changes(result.get("configs"), base_configs(SMOKE_PRESET, tokens, device, overrides))
        plan = _plan(SMOKE_PRESET, tokens, [name], device, module_path.parent, {name: changes}, data, overrides)
        record = _record_from(plan, seed, result, folder, outcome, mode)
        return SmokeResult(True, "", record["val_loss"], time.perf_counter() - t0, log, changes)
    except SandboxRunFailed as exc:
        return SmokeResult(False, str(exc), None, time.perf_counter() - t0, log)
    finally:
        remove(folder)


def _plan(preset, tokens, flags, device, untrusted_dir, configured, data, overrides=None):
    from trainer.run import plan_run  # noqa: PLC0415

    plan = plan_run(preset, train_tokens=tokens, flags=flags, device=device, untrusted_dirs=[untrusted_dir],
                    configured=configured, train_overrides=overrides)
    return plan.bind_data(data)


def train(plan, seed: int, *, workspace: Path, mode: str, threads: int, timeout_s: float = RUN_TIMEOUT_S) -> dict:
    """Train (plan, seed) in the sandbox and return the record the study process built from
    its own evaluation (TrainingDiverged as a local run raises it)."""
    modules = {Path(i.source_file).name: Path(i.source_file) for i in [*plan.ideas, *plan.loaded]
               if _model_written(i)}
    folder = sandbox_dir(workspace, plan.key(seed))
    try:
        job = bwrap.Job(out_dir=folder, modules=modules, data_files=data_files(plan.data), device=plan.device.type,
                        threads=threads, limits=bwrap.Limits(timeout_s=timeout_s, memory_bytes=None
                                                             if plan.device.type == "cuda" else bwrap.DEFAULT_MEMORY))
        spec = {"mode": "train", "preset": plan.preset, "tokens": plan.train_cfg.train_tokens, "flags": plan.flags,
                "load": [i.name for i in plan.loaded], "device": plan.device.type, "seed": seed,
                "purpose": plan.purpose, "model_overrides": plan.overrides.get("model"),
                "train_overrides": plan.overrides.get("train")}
        result, outcome = run_job(job, spec, mode)
        if result.get("status") not in ("finished", "diverged"):
            raise SandboxRunFailed(_error(result) or "the sandboxed run did not finish")
        return _record_from(plan, seed, result, folder, outcome, mode)
    finally:
        remove(folder)


def _model_written(idea) -> bool:
    from trainer.ideas import UntrustedIdea  # noqa: PLC0415

    return isinstance(idea, UntrustedIdea)


# -- what came back ----------------------------------------------------------------------------

def _record_from(plan, seed: int, result: dict, folder: Path, outcome, mode: str) -> dict:
    """The run's record, built here: configs checked against the plan, every export loaded,
    probed and evaluated by the study process."""
    from trainer.evaluate import batches, evaluate, validation_windows  # noqa: PLC0415
    from trainer.ideas import idea_sources  # noqa: PLC0415
    from trainer.record import build_record, utc_now  # noqa: PLC0415
    from trainer.run import TrainingDiverged  # noqa: PLC0415

    from research_harness.sandbox.graph import (  # noqa: PLC0415
        GraphRefused, causality_problem, load_export, read_limited)

    started = utc_now()
    ours = _json({"model": dataclasses.asdict(plan.model_cfg), "train": dataclasses.asdict(plan.train_cfg)})
    if result.get("configs") != ours:
        raise SandboxRunFailed("the sandbox trained another configuration than the one planned (its configure() "
                               "must do the same every time it runs)")
    reported = _reported(result.get("record"), plan)
    reported["child_s"] = round(float(_number(result.get("seconds", 0.0), "child time")), 3)
    cfg = plan.train_cfg
    windows = validation_windows(plan.data.val, plan.model_cfg.seq_len, cfg.eval_tokens, plan.device)
    history, eval_s, params = [], 0.0, None
    diverged = result.get("status") == "diverged"
    for index, point in enumerate(reported["history"]):
        t0 = time.perf_counter()
        try:
            graph = read_limited(folder, f"eval_{index}.graph.json", MAX_GRAPH_BYTES)
            weights = read_limited(folder, f"eval_{index}.weights.safetensors", _weights_cap(plan))
            forward = load_export(graph, weights, plan.device)
        except (GraphRefused, OSError, ValueError) as exc:
            raise SandboxRunFailed(f"the exported model of evaluation {index + 1} was refused: {redact(str(exc))}") \
                from None
        probe_batch = next(batches(windows, cfg.batch_size))[0]  # the export's static shape, padded if short
        problem = causality_problem(forward, probe_batch, atol=_leak_tolerance(plan.device))
        if problem:
            raise SandboxRunFailed(f"the exported model of evaluation {index + 1} was refused: {problem}")
        val_loss, val_acc = evaluate(forward, windows, cfg.batch_size, plan.device, cfg.dtype)
        params = getattr(forward, "parameter_counts", None) or params
        eval_s += time.perf_counter() - t0
        history.append({"step": point["step"], "tokens": point["tokens"], "val_loss": val_loss,
                        "val_accuracy": val_acc, "train_loss": point.get("train_loss")})
        if not math.isfinite(val_loss):
            diverged = True
            break
    if not diverged and len(history) != cfg.eval_count:
        raise SandboxRunFailed(f"the sandbox handed back {len(history)} evaluation points, not {cfg.eval_count}")
    wall = reported["wall_time"]
    state = {"step": reported["steps"], "tokens": reported["tokens_trained"], "history": history,
             "train_loss": reported["train_loss_history"], "train_s": wall["train_s"], "eval_s": eval_s,
             "started": started}
    failure = None
    if diverged:
        failure = {"reason": f"the sandboxed run diverged: {_error(result) or 'validation loss became non-finite'}"}
    record = build_record(plan, seed, state, setup_s=wall["setup_s"], compile_s=wall["compile_s"],
                          status="failed" if diverged else "finished", failure=failure,
                          params=params or reported.get("params") or {}, compiled=bool(reported.get("compiled")),
                          eval_tokens=int(windows[:, 1:].numel()), idea_sources=idea_sources(plan.ideas))
    # Where the sandboxed run's time went (chrome: no run key depends on it). `seconds` is the
    # child's whole life as this process saw it, bubblewrap's start included; `child_s` the
    # child's own clock from its first line (imports onward) and `export_s` its exports, both
    # as the sandbox reports them; `evaluation_s` this process's loading, probing and scoring.
    record["sandbox"] = {"mode": mode, "seconds": round(outcome.seconds, 3), "evaluation_s": round(eval_s, 3),
                         "child_s": reported["child_s"], "export_s": round(wall["eval_s"], 3),
                         "reported_by_sandbox": list(REPORTED_BY_SANDBOX)}
    if diverged:
        raise TrainingDiverged(failure["reason"], record)
    return record


def _weights_cap(plan) -> int:
    """Twice the plan's parameters in fp32 plus room for what an idea adds."""
    cfg = plan.model_cfg
    per_layer = 4 * cfg.d_model * cfg.d_model + 2 * cfg.d_model * cfg.d_ff
    return int(8 * (cfg.vocab_size * cfg.d_model + cfg.n_layers * per_layer)) + (256 << 20)


def _leak_tolerance(device) -> float:
    from research_harness.sandbox.graph import CPU_ATOL, CUDA_BF16_ATOL  # noqa: PLC0415

    return CUDA_BF16_ATOL if device.type == "cuda" else CPU_ATOL


def _number(value, what: str, *, integer: bool = False, low: float = 0.0) -> float:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not math.isfinite(value) or value < low:
        raise SandboxRunFailed(f"the sandbox reported an invalid {what}: {str(value)[:40]!r}")
    return value


def _reported(record, plan) -> dict:
    """The sandbox's own numbers, checked for shape and range (not for truth: they are
    stored as reported by the sandbox)."""
    if not isinstance(record, dict):
        raise SandboxRunFailed("the sandbox returned no run record")
    cap = 10 * plan.train_cfg.train_tokens + 10
    out = {"steps": _number(record.get("steps"), "step count", integer=True),
           "tokens_trained": _number(record.get("tokens_trained"), "token count", integer=True)}
    if out["tokens_trained"] > cap:
        raise SandboxRunFailed("the sandbox reported more tokens than the budget allows")
    wall = record.get("wall_time")
    if not isinstance(wall, dict):
        raise SandboxRunFailed("the sandbox reported no wall times")
    out["wall_time"] = {k: float(_number(wall.get(k, 0.0), f"wall time {k}"))
                        for k in ("setup_s", "compile_s", "train_s", "eval_s")}  # eval_s: the child's exports
    history = record.get("history")
    if not isinstance(history, list) or len(history) > plan.train_cfg.eval_count:
        raise SandboxRunFailed("the sandbox reported a malformed evaluation history")
    out["history"] = []
    for point in history:
        if not isinstance(point, dict):
            raise SandboxRunFailed("the sandbox reported a malformed evaluation point")
        loss = point.get("train_loss")
        out["history"].append({"step": _number(point.get("step"), "step", integer=True),
                               "tokens": _number(point.get("tokens"), "token count", integer=True),
                               "train_loss": None if loss is None else _float_or_nan(loss)})
    losses = record.get("train_loss_history")
    if not isinstance(losses, list) or len(losses) > out["steps"] + 1:
        raise SandboxRunFailed("the sandbox reported a malformed training-loss history")
    out["train_loss_history"] = [{"step": _number(e.get("step"), "step", integer=True),
                                  "tokens": _number(e.get("tokens"), "token count", integer=True),
                                  "loss": _float_or_nan(e.get("loss"))} for e in losses if isinstance(e, dict)]
    out["compiled"] = record.get("compiled") is True
    params = record.get("params")
    out["params"] = {k: int(v) for k, v in params.items() if isinstance(v, int) and not isinstance(v, bool)} \
        if isinstance(params, dict) else {}
    return out


def _float_or_nan(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SandboxRunFailed(f"the sandbox reported a loss that is not a number: {str(value)[:40]!r}")
    return float(value)
