"""Run records: the JSON a finished (or failed) run leaves behind, its schema, and the
fingerprints that say which code and data made it."""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import io
import math
import os
import platform
import subprocess
import tokenize
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypedDict

# run.py imports the writer from here: run.py is in RESULT_FILES, so editing its imports would
# change every run key and retrain every stored run for no change in the numbers.
from trainer.atomic import write_json_atomic  # noqa: F401 - re-exported for run.py

RECORD_SCHEMA = 2
_TRAINER_DIR = Path(__file__).resolve().parent
# The trainer files whose code decides a run's numbers. cli.py, checkpoint.py (resume is
# bit-identical), record.py and corpus.py/data.py (the data fingerprint covers the data)
# do not, so editing them does not invalidate stored runs.
RESULT_FILES = ("config.py", "model.py", "optim.py", "run.py", "evaluate.py", "ideas/base.py")


class WallTime(TypedDict):
    total_s: float
    setup_s: float
    compile_s: float
    train_s: float
    eval_s: float


class RunRecord(TypedDict, total=False):
    """One run, as `TrainingSession.run` returns it and the run store keeps it.

    The store adds `arm`, `purpose`, `checkpoint_dir` and `executor`; `record_path` is
    added on read and never stored."""

    schema: int
    run_key: str
    status: str  # "finished" or "failed"
    seed: int
    preset: str
    flags: list[str]
    train_tokens: int
    tokens_trained: int
    steps: int
    val_loss: float
    val_accuracy: float
    train_loss: float
    history: list[dict]
    train_loss_history: list[dict]
    wall_time: WallTime
    tokens_per_s: float
    started: str  # UTC ISO timestamps with microseconds: runs that overlap in time are detectable
    finished: str
    device: dict
    compiled: bool
    params: dict
    config: dict
    eval: dict
    data: dict
    code_fingerprint: str
    code: dict  # {"git_commit", "git_dirty", "idea_sources": {name: source}}
    resumed_from_tokens: int | None
    failure: dict | None
    arm: str
    purpose: str
    checkpoint_dir: str
    executor: str  # how the store's runner trained it: "local", "apart" (a child process) or "ray"


# field -> accepted types; validated once, where a record enters the store
_REQUIRED: dict[str, tuple[type, ...]] = {
    "schema": (int,), "run_key": (str,), "status": (str,), "seed": (int,), "preset": (str,), "flags": (list,),
    "train_tokens": (int,), "val_loss": (int, float), "val_accuracy": (int, float), "history": (list,),
    "wall_time": (dict,), "tokens_per_s": (int, float), "started": (str,), "finished": (str,), "device": (dict,),
    "params": (dict,), "config": (dict,), "data": (dict,), "code_fingerprint": (str,), "code": (dict,),
}


def record_problem(record: Any, key: str | None = None) -> str | None:
    """Why `record` is not a finished run record of this schema (None when it is)."""
    if not isinstance(record, dict):
        return "not a JSON object"
    for name, types in _REQUIRED.items():
        if name not in record:
            return f"missing field {name!r}"
        if not isinstance(record[name], types) or isinstance(record[name], bool) and bool not in types:
            return f"field {name!r} is {type(record[name]).__name__}, expected {' or '.join(t.__name__ for t in types)}"
    if record["schema"] != RECORD_SCHEMA:
        return f"schema {record['schema']} is not the current schema {RECORD_SCHEMA} (retrain it)"
    if key is not None and record["run_key"] != key:
        return f"run_key {record['run_key']!r} does not match the file name"
    if record["status"] != "finished":
        return f"status is {record['status']!r}, not 'finished'"
    if not math.isfinite(record["val_loss"]):
        return f"val_loss is {record['val_loss']!r}"
    missing = {"total_s", "setup_s", "train_s", "eval_s"} - set(record["wall_time"])
    if missing:
        return f"wall_time lacks {sorted(missing)}"
    return None


CODE_REPOSITORY = _TRAINER_DIR.parent  # the checkout the trainer's code was loaded from


def build_record(plan, seed: int, state: dict, *, setup_s: float, compile_s: float, status: str, params: dict,
                 compiled: bool, eval_tokens: int | None, idea_sources: dict, failure: dict | None = None,
                 resumed_from: int | None = None) -> RunRecord:
    """The record of a run of `plan` (a trainer.run.RunPlan with its data bound) from the
    loop's state: steps, tokens, the evaluation history, the train losses and the seconds
    spent training and evaluating. The layout lives here, apart from the code that decides
    results, so changing it never changes a run key."""
    final = state["history"][-1] if state["history"] else {}
    train_losses = [e["loss"] for e in state["train_loss"]]
    tail = train_losses[-max(1, len(train_losses) // 10):] if train_losses else []
    train_s, eval_s = state["train_s"], state["eval_s"]
    data = plan.data
    import numpy as np  # noqa: PLC0415 - the record module stays importable without numpy
    return {
        "schema": RECORD_SCHEMA,
        "run_key": plan.key(seed),
        "status": status,
        "seed": seed,
        "preset": plan.preset,
        "flags": plan.flags,
        "train_tokens": plan.train_cfg.train_tokens,
        "tokens_trained": state["tokens"],
        "steps": state["step"],
        "val_loss": final.get("val_loss", float("nan")),
        "val_accuracy": final.get("val_accuracy", float("nan")),
        "train_loss": float(np.mean(tail)) if tail else float("nan"),
        "history": state["history"],
        "train_loss_history": state["train_loss"],
        "wall_time": {"total_s": setup_s + train_s + eval_s, "setup_s": setup_s, "compile_s": compile_s,
                      "train_s": train_s, "eval_s": eval_s},
        # Throughput of the training steps: the first compiled step is mostly compilation, so it
        # is left out (compile_s), or a run that compiled would look slower than one that did not.
        "tokens_per_s": state["tokens"] / (train_s - compile_s) if train_s > compile_s else float("nan"),
        "device": device_info(plan.device),
        "compiled": compiled,
        "params": params,
        "config": {"preset": plan.preset, "model": dataclasses.asdict(plan.model_cfg),
                   "train": dataclasses.asdict(plan.train_cfg)},
        "eval": {"tokens_per_eval": eval_tokens, "evals": plan.train_cfg.eval_count,
                 "split": "held-out validation documents (fixed windows)"},
        "data": {"fingerprint": data.fingerprint, "source": data.meta.get("source"),
                 "train_tokens": int(len(data.train)), "val_tokens": int(len(data.val)) if data.val is not None else None,
                 "vocab_size": data.vocab_size},
        "code_fingerprint": plan.code_fingerprint,
        # The commit of the repository the code came from (a workspace elsewhere has none).
        "code": {**git_state(str(CODE_REPOSITORY)), "idea_sources": idea_sources},
        "resumed_from_tokens": resumed_from,
        "started": state.get("started") or utc_now(),
        "finished": utc_now(),
        "failure": failure,
    }


# -- fingerprints -----------------------------------------------------------------------------

def normalized_source(text: str) -> str:
    """Python source without comments, docstrings or layout: what the interpreter runs.

    Tokens are kept (so any change to code changes the result); COMMENT and blank-line
    tokens are dropped, and so are the string tokens that are docstrings. Tokens are
    used rather than an AST dump because the dump's format changes between Python
    versions, and a Python upgrade should not retrain every stored run."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                docstrings.add((first.lineno, first.col_offset))
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING}
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type in skip or (tok.type == tokenize.STRING and tok.start in docstrings):
            continue
        out.append(f"{tok.type}:{tok.string}" if tok.type != tokenize.INDENT else "INDENT")
    return "\n".join(out)


def source_fingerprint(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(path.name.encode())
        h.update(normalized_source(path.read_text(encoding="utf-8")).encode())
    return h.hexdigest()[:16]


@functools.cache
def trainer_code_fingerprint() -> str:
    """Fingerprint of the trainer files that decide results (ideas excluded: an enabled
    idea adds its own). Comments and docstrings do not count."""
    return source_fingerprint([_TRAINER_DIR / f for f in RESULT_FILES])


def code_fingerprint(ideas_fp: str | None = None) -> str:
    base = trainer_code_fingerprint()
    return f"{base}+{ideas_fp}" if ideas_fp else base


# git reads configuration (hooks such as core.fsmonitor run commands) from the repository and
# from the machine: only the repository's own HEAD and index may matter here.
GIT_SAFE_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0"}
GIT_SAFE_ARGS = ("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "core.untrackedCache=false")


def safe_git(args: list[str], folder: str, timeout: float = 10) -> subprocess.CompletedProcess:
    """Run git in `folder` with the settings that let no configuration run a command."""
    return subprocess.run(["git", *GIT_SAFE_ARGS, *args], cwd=folder, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **GIT_SAFE_ENV})


@functools.cache
def git_state(folder: str) -> dict:
    """{"git_commit", "git_dirty"} of the git work tree holding `folder`, or Nones when it is not one."""
    try:
        commit = safe_git(["rev-parse", "HEAD"], folder)
        if commit.returncode != 0:
            return {"git_commit": None, "git_dirty": None}
        status = safe_git(["status", "--porcelain", "--untracked-files=no"], folder)
        return {"git_commit": commit.stdout.strip(), "git_dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}


def device_info(device) -> dict:
    import torch

    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = platform.processor() or platform.machine()
        try:
            for line in open("/proc/cpuinfo", encoding="utf-8"):
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
    return {"type": device.type, "name": name, "threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "host": platform.node()}


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")
