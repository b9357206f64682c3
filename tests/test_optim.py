"""The batched Muon step against the per-matrix one it replaced, its operator count, and the
Optimizer contract the trainer and the ideas rely on (lr read from param_groups at each
step, per-parameter state that resumes bit-identically)."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
from pathlib import Path

import pytest
import torch

from trainer.config import resolve_preset
from trainer.model import GPT
from trainer.optim import Muon, build_optimizers, muon_update, split_params

ROOT = Path(__file__).resolve().parent.parent


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("train_speed", ROOT / "benchmarks" / "train_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the reference: trainer/optim.py's Muon before batching, one matrix at a time -------------

def reference_newton_schulz(G: torch.Tensor, steps: int = 5, eps: float = 1e-7) -> torch.Tensor:
    a, b, c = 3.4445, -4.7750, 2.0315
    X = G.bfloat16() if G.is_cuda else G.float()
    transposed = X.size(-2) > X.size(-1)
    if transposed:
        X = X.mT
    X = X / (X.norm(dim=(-2, -1), keepdim=True) + eps)
    for _ in range(steps):
        A = X @ X.mT
        B = b * A + c * A @ A
        X = a * X + B @ X
    if transposed:
        X = X.mT
    return X.to(G.dtype)


class ReferenceMuon(torch.optim.Optimizer):
    def __init__(self, params, lr=0.02, momentum=0.95, nesterov=True, weight_decay=0.0, ns_steps=5):
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
                                      ns_steps=ns_steps))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                buf = state["momentum_buffer"]
                buf.lerp_(p.grad, 1 - group["momentum"])
                update = p.grad.lerp(buf, group["momentum"]) if group["nesterov"] else buf
                update = reference_newton_schulz(update, group["ns_steps"])
                scale = max(1.0, p.size(-2) / p.size(-1)) ** 0.5
                if group["weight_decay"]:
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(update, alpha=-group["lr"] * scale)


# -- cpu-small's hidden matrices with real gradients ---------------------------------------------

def cpu_small_model() -> GPT:
    torch.manual_seed(0)
    model = GPT(resolve_preset("cpu-small", "cpu").model)
    model.init_weights(0)
    # The trainer zeroes the residual outputs at init; generic weights give every matrix a gradient.
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 2:
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p.size(1)))
    return model


def gradients(model: GPT, steps: int) -> list[list[torch.Tensor]]:
    """Real gradients of the hidden matrices (the loss on random tokens), one list per step,
    taken at the initial weights: both optimizers then see identical inputs."""
    gen = torch.Generator().manual_seed(2)
    muon_params, _ = split_params(model)
    out = []
    for _ in range(steps):
        batch = torch.randint(0, model.cfg.vocab_size, (2, 65), generator=gen)
        model.zero_grad(set_to_none=True)
        model(batch[:, :-1], batch[:, 1:]).backward()
        out.append([p.grad.clone() for p in muon_params])
    model.zero_grad(set_to_none=True)
    return out


def train(opt_cls, model: GPT, grads: list[list[torch.Tensor]], **settings) -> list[torch.Tensor]:
    """`len(grads)` steps from a copy of the model's hidden matrices, with the schedule's
    per-step lr writes; returns the matrices' displacement from their start."""
    start = [p.detach().clone() for p in split_params(model)[0]]
    params = [torch.nn.Parameter(p.clone()) for p in start]
    opt = opt_cls(params, **settings)
    for step, step_grads in enumerate(grads):
        opt.param_groups[0]["lr"] = 0.02 * (step + 1) / len(grads)  # as trainer/run.py does before each step
        for p, g in zip(params, step_grads):
            p.grad = g.clone()
        opt.step()
    return [p.detach() - s for p, s in zip(params, start)]


# fp32 on a CPU: the batched step differs from the per-matrix one only in rounding (baddbmm
# rounds b*A + c*A@A once, batched matmuls may block differently, lr is a float32 tensor,
# not a float64 alpha). Measured: at most 5e-6 of the largest displacement over 4 steps. A
# real mistake moves it by far more: dropping the tall matrices' sqrt(rows/cols) scale is
# 0.5, a lost transpose or nesterov term is order 1. 1e-4 sits between the two.
RELATIVE_TOLERANCE = 1e-4


@pytest.mark.parametrize("settings", [dict(weight_decay=0.0), dict(weight_decay=0.1, nesterov=False)],
                         ids=["default", "decay_no_nesterov"])
def test_batched_muon_matches_the_per_matrix_reference(settings):
    model = cpu_small_model()
    grads = gradients(model, steps=4)
    assert len(grads[0]) == 24 and len({tuple(g.shape) for g in grads[0]}) == 4
    reference = train(ReferenceMuon, model, grads, **settings)
    batched = train(Muon, model, grads, **settings)
    for ref, new in zip(reference, batched):
        largest = float(ref.abs().max())
        assert largest > 1e-3  # every matrix moved
        assert float((new - ref).abs().max()) <= RELATIVE_TOLERANCE * largest


def test_compiled_muon_matches_the_reference_and_the_schedule_recompiles_nothing():
    """A compiled run (CUDA by default, compile "on" here) steps Muon through one compiled
    update: same result as the per-matrix reference within the batched step's tolerance,
    one graph for every lr the schedule writes, and the optimizer of the next run (fresh
    momentum buffers) reuses that graph rather than compiling again."""
    from torch._dynamo.utils import counters

    model = cpu_small_model()
    grads = gradients(model, steps=4)
    graphs = counters["stats"]["unique_graphs"]
    compiled = train(lambda params, **kw: Muon(params, compiled=True, **kw), model, grads, weight_decay=0.1)
    assert counters["stats"]["unique_graphs"] == graphs + 1  # four lr values, one graph
    again = train(lambda params, **kw: Muon(params, compiled=True, **kw), model, grads, weight_decay=0.1)
    assert counters["stats"]["unique_graphs"] == graphs + 1  # the next run's optimizer: no new graph
    reference = train(ReferenceMuon, model, grads, weight_decay=0.1)
    for ref, new, repeat in zip(reference, compiled, again):
        assert torch.equal(new, repeat)
        assert float((new - ref).abs().max()) <= RELATIVE_TOLERANCE * float(ref.abs().max())


def test_build_optimizers_compiles_muon_exactly_when_the_run_is_compiled():
    model = cpu_small_model()
    train_cfg = resolve_preset("cpu-small", "cpu").train
    for compile_mode, device, expected in (("auto", "cpu", False), ("on", "cpu", True), ("off", "cuda", False),
                                           ("auto", "cuda", True)):
        cfg = dataclasses.replace(train_cfg, compile=compile_mode)
        assert cfg.compiles(torch.device(device)) is expected
        if device == "cpu":
            muon = build_optimizers(model, cfg, torch.device(device))[0]
            assert (muon._update is not muon_update) is expected


def test_batched_muon_issues_at_least_3x_fewer_operator_calls():
    """Operator calls per step at cpu-small's 24 matrices, counted as the benchmark counts
    them (a dispatch-mode counter around optimizer.step): the proxy for kernel launches."""
    bench = _load_benchmark()
    model = cpu_small_model()
    grads = gradients(model, steps=1)
    counts = {}
    for cls in (ReferenceMuon, Muon):
        params = [torch.nn.Parameter(p.detach().clone()) for p in split_params(model)[0]]
        opt = cls(params)
        for p, g in zip(params, grads[0]):
            p.grad = g
        opt.step()  # the first step also creates the momentum buffers
        with bench.OptimizerOpCounts() as counter:
            opt.step()
        counts[cls.__name__] = counter.calls[cls.__name__]
    assert counts["ReferenceMuon"] >= 3 * counts["Muon"], counts


def test_muon_state_is_per_parameter_and_resumes_bit_identically():
    model = cpu_small_model()
    grads = gradients(model, steps=4)
    start = [p.detach().clone() for p in split_params(model)[0]]

    def make():
        params = [torch.nn.Parameter(p.clone()) for p in start]
        return params, Muon(params, weight_decay=0.1)

    def steps(params, opt, grads_):
        for step_grads in grads_:
            opt.param_groups[0]["lr"] *= 0.5
            for p, g in zip(params, step_grads):
                p.grad = g.clone()
            opt.step()

    params, opt = make()
    steps(params, opt, grads)
    resumed_params, resumed = make()
    steps(resumed_params, resumed, grads[:2])
    saved = resumed.state_dict()
    assert sorted(saved["state"]) == list(range(24)) and all(set(s) == {"momentum_buffer"} for s in saved["state"].values())
    weights = [p.detach().clone() for p in resumed_params]
    resumed_params, resumed = make()
    with torch.no_grad():
        for p, w in zip(resumed_params, weights):
            p.copy_(w)
    resumed.load_state_dict(saved)
    steps(resumed_params, resumed, grads[2:])
    assert all(torch.equal(a, b) for a, b in zip(params, resumed_params))


def test_build_optimizers_keeps_plain_adamw_for_the_ideas():
    """`cautious` swaps every optimizer whose type is exactly AdamW; the probes compare
    class names. The foreach AdamW is still that class, with initial_lr on every group."""
    model = cpu_small_model()
    opts = build_optimizers(model, resolve_preset("cpu-small", "cpu").train, torch.device("cpu"))
    assert [type(o) for o in opts] == [Muon, torch.optim.AdamW]
    assert opts[1].defaults["foreach"] is True
    assert all("initial_lr" in g for o in opts for g in o.param_groups)


def test_the_speed_benchmark_counts_optimizer_ops_and_compares_a_git_revision(data_dir, tmp_path):
    """--count-ops and --compare-optim end to end at the tiny preset: per-optimizer counts for
    both trees, alternated runs, a ratio."""
    import json
    import os
    import subprocess
    import sys

    if not (ROOT / ".git").exists():
        pytest.skip("--compare-optim reads trainer/optim.py from git")
    out = tmp_path / "bench.json"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "train_speed.py"), "--preset", "tiny",
                             "--device", "cpu", "--tokens", "8000", "--seeds", "0", "--count-ops", "2",
                             "--compare-optim", "HEAD", "--rounds", "2", "--json", str(out)],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})  # this tree's trainer, not an installed one
    assert result.returncode == 0, result.stderr
    figures = json.loads(out.read_text())
    counts = figures["optimizer_op_counts"]
    assert set(counts) == {"optim.py at HEAD", "this tree"}
    assert all(c["per_step"]["Muon"] > 0 and c["per_step"]["AdamW"] > 0 for c in counts.values())
    runs = figures["optimizer_comparison"]["runs"]
    assert [len(r) for r in runs.values()] == [2, 2] and figures["optimizer_comparison"]["ratio"] > 0
    assert "[ops] this tree: operator calls per training step" in result.stdout and "[compare] mean" in result.stdout
