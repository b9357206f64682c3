"""The sandbox's child process: import one idea module and smoke-train it, with an audit
hook that leaves the workspace as the only writable place.

    python -m research_harness.agent.smoke --module PATH --workspace DIR [--tokens N]

Order matters: everything trusted (torch, the trainer, the data, the built-in ideas, one
baseline warm-up step that primes torch's lazy imports and the trainer's cached
`git`/`uname` probes) runs BEFORE the hook; the candidate module is imported only AFTER.
The result is one JSON line written to the original stdout, which the module cannot
reach: its own prints go to stderr (fd 1 is pointed at fd 2 before anything runs).

The hook (PEP 578) refuses, after it is installed: opening a file for writing, and
removing, renaming, creating or changing files, outside the writable roots; starting
processes (subprocess, os.system, exec*, spawn*, fork, posix_spawn, signals to other
processes); network use (connect, bind, send, name lookups, urllib/http.client);
loading native code through ctypes; sqlite files. Routes that raise no event themselves
(torch.save's C++ zip writer, from_file, _posixsubprocess.fork_exec) are wrapped to raise
one (`route_native_escapes`). Every refusal is recorded, so a module
that catches the PermissionError still fails the smoke test."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import traceback

__all__ = ["install_audit_hook", "main"]

PROCESS_EVENTS = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
                  "os.startfile", "pty.spawn", "os.kill", "os.killpg", "signal.pthread_kill", "_posixsubprocess")
NETWORK_EVENTS = ("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
                  "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo", "urllib.Request",
                  "http.client.connect", "ftplib.connect", "smtplib.connect", "nntplib.connect", "poplib.connect",
                  "imaplib.open", "telnetlib.Telnet.open", "webbrowser.open")
NATIVE_EVENTS = ("ctypes.", "sqlite3.connect", "sqlite3.load_extension")
# Events whose arguments at these positions are paths that the operation creates or changes.
PATH_EVENTS = {"os.remove": (0,), "os.rename": (0, 1), "os.rmdir": (0,), "os.mkdir": (0,), "os.chmod": (0,),
               "os.chown": (0,), "os.link": (0, 1), "os.symlink": (1,), "os.truncate": (0,), "os.utime": (0,),
               "os.chflags": (0,), "os.lchflags": (0,), "os.lchmod": (0,), "os.lchown": (0,), "os.mkfifo": (0,),
               "os.mknod": (0,), "os.setxattr": (0,), "os.removexattr": (0,), "shutil.rmtree": (0,),
               "shutil.copyfile": (1,), "shutil.copytree": (1,), "shutil.move": (1,), "shutil.chown": (0,)}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_ALWAYS_WRITABLE = ("/dev/null",)


def install_audit_hook(writable: list[str]) -> list[str]:
    """Install the hook; returns the list it appends each refusal to (one line each)."""
    roots = [os.path.realpath(r) for r in writable]
    refusals: list[str] = []
    state = threading.local()  # re-entrancy guard, per thread: the hook's own calls are not checked

    def inside(path) -> bool:
        if isinstance(path, int):
            return True  # an already-open descriptor: its opening was checked
        try:
            p = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return False
        return p in _ALWAYS_WRITABLE or any(p == r or p.startswith(r.rstrip(os.sep) + os.sep) for r in roots)

    def refuse(what: str) -> None:
        message = f"sandbox refused {what}: generated code may not write outside the workspace, start processes, " \
                  "use the network or load native code"
        refusals.append(message)
        raise PermissionError(message)

    def hook(event: str, args: tuple) -> None:
        if getattr(state, "busy", False):
            return
        state.busy = True
        try:
            if event == "open":
                path, mode, flags = (tuple(args) + (None, None, None))[:3]
                writes = (flags & _WRITE_FLAGS) if isinstance(flags, int) else \
                    (isinstance(mode, str) and any(c in mode for c in "wax+"))
                if writes and path is not None and not inside(path):
                    refuse(f"open({os.fsdecode(path)!r}, {mode or flags!r}) for writing outside the workspace")
            elif event in PATH_EVENTS:
                for i in PATH_EVENTS[event]:
                    if i < len(args) and args[i] is not None and not inside(args[i]):
                        refuse(f"{event}({os.fsdecode(args[i])!r}) outside the workspace")
            elif event.startswith(PROCESS_EVENTS):
                refuse(f"{event} (starting or signalling processes)")
            elif event.startswith(NETWORK_EVENTS):
                refuse(f"{event} (network access)")
            elif event.startswith(NATIVE_EVENTS):
                refuse(f"{event} (native code or database files)")
        finally:
            state.busy = False

    sys.addaudithook(hook)
    return refusals


def route_native_escapes(torch) -> None:
    """Some routes raise no audit event of their own: torch's C++ zip writer (torch.save,
    torch.export, torch.package) and from_file open files without Python's `open`, and
    `_posixsubprocess.fork_exec` (what subprocess and multiprocessing call after their
    Python-level audit) starts processes. Wrap them so they raise one first."""
    try:
        import _posixsubprocess
    except ImportError:  # not POSIX
        pass
    else:
        fork_exec = _posixsubprocess.fork_exec

        def audited_fork_exec(*args, **kwargs):
            sys.audit("subprocess.Popen", "_posixsubprocess.fork_exec", None, None, None)
            return fork_exec(*args, **kwargs)

        _posixsubprocess.fork_exec = audited_fork_exec
    writer = torch._C.PyTorchFileWriter

    def audited_writer(target, *args, **kwargs):
        if isinstance(target, (str, bytes, os.PathLike)):
            sys.audit("open", os.fspath(target), "wb", None)
        return writer(target, *args, **kwargs)

    def audited(from_file):
        def wrapper(filename, shared=None, *args, **kwargs):
            sys.audit("open", os.fspath(filename), "r+b" if shared else "rb", None)
            return from_file(filename, shared, *args, **kwargs)
        return wrapper

    torch._C.PyTorchFileWriter = audited_writer
    torch.from_file = audited(torch.from_file)
    for cls in (torch.UntypedStorage, torch.TypedStorage):
        setattr(cls, "from_file", classmethod(audited(getattr(cls, "from_file"))))


def _where(exc: BaseException, module_path: str) -> str:
    """' (in patch_model, line 12 of idea.py)' for the innermost frame in the module, else ''."""
    target = os.path.realpath(module_path)
    found = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.realpath(frame.filename) == target:
            found = f" (in {frame.name}, line {frame.lineno} of {os.path.basename(module_path)})"
    return found


def _describe(exc: BaseException, module_path: str) -> str:
    text = " ".join(str(exc).split())[:300]
    return f"{type(exc).__name__}: {text}{_where(exc, module_path)}" if text else f"{type(exc).__name__}{_where(exc, module_path)}"


def _quiet(*_args, **_kwargs) -> None:
    pass


def run(module_path: str, workspace: str, tokens: int, preset: str, seed: int, data_dir: str | None,
        extra_writable: list[str]) -> dict:
    t0 = time.perf_counter()
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    from trainer.config import resolve_preset
    from trainer.data import prepare_data
    from trainer.ideas import discover_ideas
    from trainer.run import RunOptions, TrainingDiverged, TrainingSession

    folder = os.path.dirname(os.path.realpath(module_path))
    vocab = resolve_preset(preset, "cpu").model.vocab_size
    data = prepare_data(vocab, cache_dir=data_dir, log=_quiet)
    discover_ideas()  # the built-in and installed ideas are trusted: imported before the hook
    warm = TrainingSession(preset, train_tokens=1, device="cpu", data=data, log=_quiet,
                           train_overrides={"eval_count": 1, "eval_tokens": 64})
    warm.run(seed, RunOptions(quiet=True))

    route_native_escapes(torch)
    refusals = install_audit_hook([workspace] + extra_writable)
    phase = "importing the module"
    result: dict = {"ok": False, "error": "", "val_loss": None}
    try:
        ideas = discover_ideas([folder])
        mine = [i for i in ideas.values() if os.path.realpath(i.source_file or "") == os.path.realpath(module_path)]
        if not mine:
            raise RuntimeError("the module defines no IDEA that the idea registry found")
        phase = "building the model with the flag on (configure, patch_model)"
        session = TrainingSession(preset, train_tokens=tokens, flags=[mine[0].name], device="cpu", data=data,
                                  idea_dirs=[folder], log=_quiet)
        phase = "smoke-training with the flag on"
        record = session.run(seed, RunOptions(quiet=True))  # a non-finite train or val loss raises
        result.update(ok=True, val_loss=record["val_loss"])
    except TrainingDiverged as exc:
        result["error"] = f"training diverged: {exc}. The change makes the loss non-finite (check divisions, " \
                          "logs, exp and initialisation)"
    except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt from the module included
        result["error"] = f"{phase} failed: {_describe(exc, module_path)}"
        traceback.print_exc()
    if refusals:
        result["ok"] = False
        result["error"] = refusals[0] + (f" ({len(refusals)} refusals)" if len(refusals) > 1 else "")
    result["seconds"] = round(time.perf_counter() - t0, 3)
    return result


def main(argv: list[str] | None = None) -> int:
    result_fd = os.dup(1)
    os.dup2(2, 1)  # the module's prints go to stderr; fd result_fd carries only the result
    parser = argparse.ArgumentParser(prog="python -m research_harness.agent.smoke")
    parser.add_argument("--module", required=True)
    parser.add_argument("--workspace", required=True, help="the only writable folder")
    parser.add_argument("--tokens", type=int, default=2048)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data-dir", default=None, help="the tokenized data cache (default: RESEARCH_DATA_DIR)")
    parser.add_argument("--writable", action="append", default=[], help="another writable folder")
    args = parser.parse_args(argv)
    try:
        result = run(args.module, args.workspace, args.tokens, args.preset, args.seed, args.data_dir, args.writable)
    except BaseException as exc:  # noqa: BLE001 - the trusted setup failed: report, do not hang the parent
        traceback.print_exc()
        result = {"ok": False, "error": f"the sandbox could not start: {type(exc).__name__}: {exc}", "val_loss": None}
    with os.fdopen(result_fd, "w") as out:
        out.write(json.dumps(result, allow_nan=True) + "\n")
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
