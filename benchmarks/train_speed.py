#!/usr/bin/env python3
"""Training-speed benchmark: tokens/s, MFU on CUDA, and the wall-time split of one
process training several seeds of one configuration (the shape of phase 1).

    python benchmarks/train_speed.py --preset cpu-small --tokens 1000000 --seeds 1
    python benchmarks/train_speed.py --preset gpu-88m --tokens 1000000 --seeds 5 --rerun 2   # on a GPU
    python benchmarks/train_speed.py --preset cpu-small --count-ops 5 --seeds 0   # operator calls per optimizer step

Prints one line per seed and a summary; --json writes the figures to a file."""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import time
import types
from collections import Counter
from pathlib import Path

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook
from torch.utils._python_dispatch import TorchDispatchMode

from trainer.config import PRESETS
from trainer.ideas import Idea
from trainer.record import device_info
from trainer.run import RunOptions, TrainingSession, plan_run

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "4090": 165.2}


def flops_per_token(session: TrainingSession) -> float:
    """PaLM appendix B: 6N + 12 L H Q T (N counts the tied embedding once, as the LM head)."""
    m = session.model_cfg
    return 6 * session.param_counts["total"] + 12 * m.n_layers * m.n_heads * m.head_dim * m.seq_len


def peak_tflops(device: torch.device, override: float | None) -> float | None:
    if override:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


# Label prefixes torch gives the regions that decide a step's time: the optimizers' steps
# (Optimizer.step#<class>.step), the compiled model ("Torch-Compiled Region: 0/0", one per
# graph; its backward runs as CompiledFunctionBackward) and the gradient clipping's norm.
REGIONS = ("Optimizer.step#Muon.step", "Optimizer.step#AdamW.step", "Torch-Compiled Region",
           "CompiledFunctionBackward", "aten::_foreach_norm")
LAUNCHES = ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernelEx")


def profile_steps(session: TrainingSession, steps: int, seed: int, skip: int = 3) -> dict:
    """Profile `steps` optimizer steps of one seed, after `skip` unprofiled ones: is a step
    bound by the GPU's work or by the host launching it?"""
    from torch.profiler import ProfilerActivity, profile, schedule

    cuda = session.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    marks: list[float] = []
    prof = profile(activities=activities, schedule=schedule(wait=skip, warmup=1, active=steps, repeat=1))

    def on_step(step: int, tokens: int) -> None:
        if cuda:
            torch.cuda.synchronize()
        marks.append(time.perf_counter())
        prof.step()

    with prof:
        session.run(seed, RunOptions(quiet=True, on_step=on_step))
    window = marks[skip + 1: skip + 1 + steps + 1]
    wall_ms = 1000 * (window[-1] - window[0]) / max(1, len(window) - 1)
    events = prof.key_averages()
    busy_ms = sum(e.self_device_time_total for e in events if e.device_type.name == "CUDA") / 1000 / steps if cuda else None
    launches = sum(e.count for e in events if e.key in LAUNCHES) / steps
    regions = {}
    for prefix in REGIONS:
        matched = [e for e in events if e.key.startswith(prefix)]
        if matched:
            regions[prefix] = {"host_ms": sum(e.cpu_time_total for e in matched) / 1000 / steps,
                               "calls": sum(e.count for e in matched) / steps}
    ops = [e for e in events if not e.key.startswith(("ProfilerStep", "Optimizer.step#"))]
    top = sorted(ops, key=lambda e: e.self_device_time_total if cuda else e.self_cpu_time_total, reverse=True)[:12]
    print(f"[profile] {steps} steps after {skip + 1}: {wall_ms:.1f} ms wall per step"
          + (f", GPU busy {busy_ms:.1f} ms ({100 * busy_ms / wall_ms:.0f}%)" if cuda else "")
          + f", {launches:.0f} kernel launches per step")
    for name, region in regions.items():
        print(f"[profile]   {name}: {region['host_ms']:.1f} ms host time, {region['calls']:g} call(s) per step")
    print("[profile] top operators by " + ("GPU" if cuda else "CPU") + " self time per step:")
    for e in top:
        own = (e.self_device_time_total if cuda else e.self_cpu_time_total) / 1000 / steps
        print(f"[profile]   {own:8.2f} ms  x{e.count / steps:6.0f}  {e.key[:90]}")
    return {"steps": steps, "wall_ms_per_step": wall_ms, "gpu_busy_ms_per_step": busy_ms,
            "kernel_launches_per_step": launches, "regions_per_step": regions,
            "top": [{"name": e.key, "self_ms_per_step": (e.self_device_time_total if cuda else e.self_cpu_time_total)
                     / 1000 / steps, "calls_per_step": e.count / steps} for e in top]}


class OpCounter(TorchDispatchMode):
    """Counts the aten operator calls made while active. Without a GPU this is the proxy
    for kernel launches: each call below autograd is at least one launch on CUDA (a foreach
    or batched call is one call for many tensors), and each costs host time."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls += 1
        return func(*args, **(kwargs or {}))


class OptimizerOpCounts:
    """Operator calls inside every optimizer's step(), by optimizer class, counted through
    torch's global step hooks, so it sees the optimizers an idea builds too."""

    def __init__(self):
        self.calls: Counter = Counter()
        self._active: OpCounter | None = None
        self._handles = []

    def _pre(self, opt, args, kwargs) -> None:
        self._active = OpCounter()
        self._active.__enter__()

    def _post(self, opt, args, kwargs) -> None:
        self._active.__exit__(None, None, None)
        self.calls[type(opt).__name__] += self._active.calls
        self._active = None

    def __enter__(self) -> "OptimizerOpCounts":
        self._handles = [register_optimizer_step_pre_hook(self._pre), register_optimizer_step_post_hook(self._post)]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


class _StopRun(Exception):
    """Raised from on_step to end a run once the steps it was started for are done."""


def count_optimizer_ops(session: TrainingSession, steps: int, seed: int, skip: int = 2) -> dict:
    """Operator calls per training step inside each optimizer's step, over `steps` steps after
    `skip` uncounted ones (the first step also creates the optimizers' state)."""
    counts = OptimizerOpCounts()

    def on_step(step: int, tokens: int) -> None:
        if step == skip:
            counts.__enter__()
        elif step == skip + steps:
            counts.__exit__()
            raise _StopRun

    try:
        session.run(seed, RunOptions(quiet=True, on_step=on_step))
    except _StopRun:
        pass
    finally:
        counts.__exit__()
    per_step = {name: n / steps for name, n in sorted(counts.calls.items())}
    return {"steps": steps, "per_step": per_step, "total_per_step": sum(per_step.values())}


def print_op_counts(label: str, ops: dict) -> None:
    parts = ", ".join(f"{name} {n:g}" for name, n in ops["per_step"].items())
    print(f"[ops] {label}operator calls per training step inside optimizer.step ({ops['steps']} steps): "
          f"{parts}; total {ops['total_per_step']:g}")


def optim_module_at(ref: str) -> types.ModuleType:
    """trainer/optim.py as it is at git revision `ref`, loaded as a module of its own, so the
    optimizers before and after a change can be timed in one process."""
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(["git", "show", f"{ref}:trainer/optim.py"], cwd=root, capture_output=True, text=True,
                            check=True).stdout
    module = types.ModuleType(f"optim_at_{ref}")
    exec(compile(source, f"{ref}:trainer/optim.py", "exec"), module.__dict__)
    return module


class _OptimizersFrom(Idea):
    """The baseline's optimizers, built by another revision's build_optimizers (a benchmark's
    stand-in through the ideas' hook, never a flag: the runs are otherwise the baseline's)."""

    def __init__(self, module: types.ModuleType, ref: str):
        super().__init__(name="optimizers_at_ref", title=f"trainer/optim.py at {ref}", category="optimizer",
                         pitch="", math="", why_it_might_work="", why_it_might_not="", references=[])
        self.module = module

    def build_optimizers(self, model, cfg, device, default):
        return self.module.build_optimizers(model, cfg, device)


def compare_optimizers(sessions: dict[str, TrainingSession], rounds: int, seed: int) -> dict:
    """Train `seed` with each session in turn, `rounds` times, the order reversed every round
    (A B, B A, ...) so a drift in the host's load falls on both alike; tokens/s and val_loss."""
    runs = {label: [] for label in sessions}
    for r in range(rounds):
        order = list(sessions) if r % 2 == 0 else list(reversed(sessions))
        for label in order:
            rec = sessions[label].run(seed, RunOptions(quiet=True))
            runs[label].append({"tokens_per_s": rec["tokens_per_s"], "val_loss": rec["val_loss"]})
            print(f"[compare] round {r + 1} {label}: {rec['tokens_per_s']:,.0f} tok/s, val_loss {rec['val_loss']:.5f}")
    means = {label: statistics.mean(x["tokens_per_s"] for x in rows) for label, rows in runs.items()}
    return {"runs": runs, "mean_tokens_per_s": means}


def time_optimizer_steps(session: TrainingSession, builders: dict, reps: int) -> dict:
    """Host time of one step of each builder's optimizers on the session's model and one real
    gradient, the builders interleaved `reps` times: the median per builder. Only the step
    changed between them, and interleaving short steps cancels the shared host's load better
    than whole runs do."""
    model, cfg = session.model, session.train_cfg
    model.init_weights(1000)
    x, y = session._batch(1000, 0, session.model_cfg.seq_len)
    model(x, y).backward()
    optimizers = {label: build(model, cfg, session.device) for label, build in builders.items()}
    times = {label: [] for label in builders}
    for _ in range(reps):
        for label, opts in optimizers.items():
            if session.device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            for opt in opts:
                opt.step()
            if session.device.type == "cuda":
                torch.cuda.synchronize()
            times[label].append(1000 * (time.perf_counter() - t))
    model.zero_grad(set_to_none=True)
    return {label: statistics.median(ms) for label, ms in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="trainer preset (default: gpu-88m on CUDA, cpu-small otherwise)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    p.add_argument("--tokens", type=int, default=1_000_000, help="training tokens per seed (default 1000000)")
    p.add_argument("--seeds", type=int, default=1, help="seeds trained in one process (one build/compile)")
    p.add_argument("--compile", choices=["auto", "on", "off"], default="auto")
    p.add_argument("--peak_tflops", type=float, default=None, help="device peak for MFU (default: known GPUs)")
    p.add_argument("--rerun", type=int, default=0,
                   help="retrain the first seed this many times in fresh sessions: the run-to-run spread of "
                        "identical runs (0 on CPU; on CUDA the tolerance the flag-off verification needs)")
    p.add_argument("--profile", type=int, default=0, metavar="STEPS",
                   help="after the timed seeds, profile STEPS training steps of one more seed (torch.profiler): "
                        "wall and GPU-busy time per step, kernel launches per step, the optimizers' and the "
                        "compiled model's share, the top operators (default 0: off)")
    p.add_argument("--count-ops", type=int, default=0, metavar="STEPS",
                   help="count the operator calls inside each optimizer's step (a dispatch-mode counter) over "
                        "STEPS training steps of one more seed; the proxy for kernel launches without a GPU "
                        "(default 0: off)")
    p.add_argument("--compare-optim", default=None, metavar="GIT_REF",
                   help="also train with trainer/optim.py as it is at GIT_REF (e.g. main), alternating with "
                        "this tree's, and report the tokens/s ratio (with --count-ops, both op counts)")
    p.add_argument("--rounds", type=int, default=3, help="alternations of --compare-optim (default 3)")
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args()
    if args.rerun < 0:
        p.error(f"--rerun must be 0 or more, got {args.rerun}")
    if args.profile < 0:
        p.error(f"--profile must be 0 or more steps, got {args.profile}")
    if args.tokens <= 0 or args.seeds < 0 or args.count_ops < 0 or args.rounds <= 0:
        p.error(f"--tokens and --rounds must be positive, --seeds and --count-ops 0 or more; got {args.tokens}, "
                f"{args.rounds}, {args.seeds} and {args.count_ops}")
    if args.seeds == 0 and (args.rerun or args.profile):
        p.error("--rerun and --profile need at least one timed seed")
    if args.peak_tflops is not None and args.peak_tflops <= 0:
        p.error(f"--peak_tflops must be positive, got {args.peak_tflops}")

    t0 = time.perf_counter()
    session = TrainingSession(args.preset, train_tokens=args.tokens, device=args.device,
                              train_overrides={"compile": args.compile}, log=lambda *a: None)
    print(f"[bench] {session.describe()}, compile={session.compiled}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}")
    steps_per_run = math.ceil(args.tokens / (session.train_cfg.batch_size * session.model_cfg.seq_len))
    if args.profile and args.profile + 5 > steps_per_run:
        p.error(f"--profile {args.profile} needs at least {args.profile + 5} steps per run; --tokens {args.tokens:,} "
                f"gives {steps_per_run} at this preset: raise --tokens or profile fewer steps")
    if args.count_ops and args.count_ops + 3 > steps_per_run:
        p.error(f"--count-ops {args.count_ops} needs at least {args.count_ops + 3} steps per run; --tokens "
                f"{args.tokens:,} gives {steps_per_run} at this preset")
    fpt = flops_per_token(session)
    peak = peak_tflops(session.device, args.peak_tflops)
    rows = []
    for i in range(args.seeds):
        rec = session.run(1000 + i, RunOptions(quiet=True))
        w = rec["wall_time"]
        mfu = rec["tokens_per_s"] * fpt / (peak * 1e12) if peak else None
        rows.append({"seed": rec["seed"], "val_loss": rec["val_loss"], "tokens_per_s": rec["tokens_per_s"], "mfu": mfu, **w})
        print(f"[bench] seed {rec['seed']}: val_loss {rec['val_loss']:.4f} | {rec['tokens_per_s']:,.0f} tok/s"
              + (f" | MFU {100 * mfu:.1f}%" if mfu else "")
              + f" | total {w['total_s']:.1f} s (setup {w['setup_s']:.1f}, compile {w['compile_s']:.1f}, "
                f"train {w['train_s']:.1f}, eval {w['eval_s']:.1f})")
    total = time.perf_counter() - t0
    if rows:
        print(f"[bench] {args.seeds} seed(s) x {args.tokens:,} tokens in {total:.1f} s wall (process, compile "
              f"included); steady state {rows[-1]['tokens_per_s']:,.0f} tok/s; {fpt / 1e6:.1f} MFLOP/token")
    losses = [r["val_loss"] for r in rows]
    if len(losses) > 1:
        print(f"[bench] val_loss {statistics.mean(losses):.4f} ± {statistics.stdev(losses):.4f} (mean ± std, "
              f"{len(losses)} seeds; lower is better)")
    reruns = []
    for _ in range(args.rerun):
        fresh = TrainingSession(args.preset, train_tokens=args.tokens, device=args.device,
                                train_overrides={"compile": args.compile}, log=lambda *a: None)
        reruns.append(fresh.run(rows[0]["seed"], RunOptions(quiet=True))["val_loss"])
        del fresh
    if reruns:
        spread = max(abs(v - rows[0]["val_loss"]) for v in reruns)
        sigma = statistics.stdev(losses) if len(losses) > 1 else float("nan")
        print(f"[bench] seed {rows[0]['seed']} retrained {len(reruns)}x in fresh sessions: max |delta val_loss| "
              f"{spread:.3g} nats ({spread / sigma:.3g} sigma of the seeds)")
    sessions = {"this tree": session}
    if args.compare_optim:
        plan = plan_run(args.preset, train_tokens=args.tokens, device=args.device,
                        train_overrides={"compile": args.compile})
        old_optim = optim_module_at(args.compare_optim)
        plan.ideas.append(_OptimizersFrom(old_optim, args.compare_optim))
        sessions = {f"optim.py at {args.compare_optim}": TrainingSession(plan=plan, data=session.data,
                                                                          log=lambda *a: None), **sessions}
    op_counts = {}
    if args.count_ops:
        for label, s in sessions.items():
            op_counts[label] = count_optimizer_ops(s, args.count_ops, 1000 + args.seeds)
            print_op_counts(f"{label}: ", op_counts[label])
        if len(op_counts) == 2:
            (old_label, old), (new_label, new) = op_counts.items()
            print(f"[ops] {old_label} / this tree, per training step: Muon "
                  f"{old['per_step'].get('Muon', 0) / max(1, new['per_step'].get('Muon', 0)):.2f}x, all optimizers "
                  f"{old['total_per_step'] / max(1, new['total_per_step']):.2f}x")
    comparison = None
    if args.compare_optim:
        import trainer.optim

        step_ms = time_optimizer_steps(session, {f"optim.py at {args.compare_optim}": old_optim.build_optimizers,
                                                 "this tree": trainer.optim.build_optimizers}, reps=30)
        print("[compare] optimizer step (all optimizers), median of 30 interleaved: "
              + ", ".join(f"{label} {ms:.1f} ms" for label, ms in step_ms.items()))
        comparison = compare_optimizers(sessions, args.rounds, 1000)
        (old_label, old), (new_label, new) = comparison["mean_tokens_per_s"].items()
        comparison["ratio"] = new / old
        comparison["optimizer_step_ms"] = step_ms
        print(f"[compare] mean tokens/s over {args.rounds} rounds of {args.tokens:,} tokens: {old_label} {old:,.0f}, "
              f"{new_label} {new:,.0f}; ratio (this tree / {args.compare_optim}) {new / old:.3f}")
    profile = None
    if args.profile:
        try:
            profile = profile_steps(session, args.profile, 1000 + args.seeds)
        except Exception as exc:  # noqa: BLE001 - the figures above must still reach --json
            print(f"[profile] failed: {type(exc).__name__}: {exc}")
            profile = {"error": f"{type(exc).__name__}: {exc}"}

    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"preset": session.preset, "device": device_info(session.device), "compiled": session.compiled,
                       "tokens": args.tokens, "seeds": rows, "process_wall_s": total, "flops_per_token": fpt,
                       "peak_tflops": peak, "rerun_val_losses": reruns, "profile": profile,
                       "optimizer_op_counts": op_counts, "optimizer_comparison": comparison}, fh, indent=2)
    if profile and "error" in profile:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
