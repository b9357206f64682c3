"""Smoke-train an untrusted idea module in a child process, before it may join a study.

Why a child: the module's import and hooks run there, under an audit hook that makes the
workspace the only writable place and refuses processes, network and native code
(smoke.py), with a wall-clock limit, one thread, the tiny preset and a small token
budget. Whatever happens there (an exception, NaN, an infinite loop, a crash, a refused
operation) comes back as `SmokeResult(ok=False, error=...)`, one line a model can act on.

The workspace is writable to the module, so pass a scratch folder (for example
<workspace>/runs/smoke/<name>) when the real workspace must stay untouched."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from research_harness.sandbox.guard import check_module

__all__ = ["SmokeResult", "smoke_test", "child_command"]


@dataclass
class SmokeResult:
    ok: bool
    error: str  # "" when ok; otherwise one line saying what failed and where
    val_loss: float | None
    seconds: float  # wall-clock time of the whole check, child start-up included
    log: str = ""  # the tail of the child's stderr (tracebacks, the module's prints), for people


def child_command(module_path: str | Path, workspace: str | Path, *, tokens: int = 2048, preset: str = "tiny",
                  seed: int = 42, data_dir: str | Path | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "research_harness.agent.smoke", "--module", str(module_path),
           "--workspace", str(workspace), "--tokens", str(tokens), "--preset", preset, "--seed", str(seed)]
    return cmd + (["--data-dir", str(data_dir)] if data_dir else [])


def child_env() -> dict[str, str]:
    """The parent's environment, pinned: one thread, no bytecode writes, no idea folders
    but the staged one, and this checkout importable even when not pip-installed."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1",
               RESEARCH_IDEAS_PATH=os.pathsep, PYTHONUNBUFFERED="1")
    return env


def smoke_test(module_path: str | Path, workspace: str | Path, *, timeout_s: float = 120, tokens: int = 2048,
               check: bool = True, preset: str = "tiny", seed: int = 42,
               data_dir: str | Path | None = None) -> SmokeResult:
    """Import and smoke-train `module_path` with its flag on, in a sandboxed child.
    check=True runs the static guard first (a refused module never runs)."""
    t0 = time.perf_counter()
    module_path, workspace = Path(module_path), Path(workspace)
    try:
        source = module_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return SmokeResult(False, f"cannot read {module_path}: {exc}", None, time.perf_counter() - t0)
    if check:
        problems = check_module(source)
        if problems:
            return SmokeResult(False, "refused by the guard: " + "; ".join(problems), None, time.perf_counter() - t0)
    workspace.mkdir(parents=True, exist_ok=True)
    # A fresh folder holding only this module: the registry imports every .py it finds there.
    stage = Path(tempfile.mkdtemp(prefix=".smoke-", dir=workspace))
    staged = stage / (module_path.name if module_path.suffix == ".py" else module_path.stem + ".py")
    staged.write_text(source, encoding="utf-8")
    try:
        return _run_child(staged, workspace, timeout_s, tokens, preset, seed, data_dir, t0)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _run_child(staged: Path, workspace: Path, timeout_s: float, tokens: int, preset: str, seed: int,
               data_dir, t0: float) -> SmokeResult:
    proc = subprocess.Popen(child_command(staged, workspace.resolve(), tokens=tokens, preset=preset, seed=seed,
                                          data_dir=data_dir),
                            cwd=workspace, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        return SmokeResult(False, f"timed out after {timeout_s:g} s and was killed: the module hangs or is far too "
                                  f"slow (an endless loop, or work that grows with the data?)", None,
                           time.perf_counter() - t0, _tail(err))
    except BaseException:
        _kill_group(proc)  # interrupted: nothing the child started may outlive it
        raise
    seconds = time.perf_counter() - t0
    lines = [ln for ln in out.splitlines() if ln.strip()]
    try:
        result = json.loads(lines[-1])
    except (IndexError, ValueError):
        how = f"was killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exited with code {proc.returncode}"
        last = _tail(err, 1) or "no output"
        return SmokeResult(False, f"the child process {how} before reporting a result (last stderr line: {last})",
                           None, seconds, _tail(err))
    return SmokeResult(bool(result.get("ok")), result.get("error") or "", result.get("val_loss"), seconds, _tail(err))


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(text: str | None, lines: int = 40) -> str:
    rows = [r for r in (text or "").splitlines() if r.strip()]
    return "\n".join(rows[-lines:])
