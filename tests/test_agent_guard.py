"""The sandboxed smoke test of model-written idea modules (a real child process with an audit
hook and real tiny training, sandbox.py + smoke.py); the static guard's tests are in test_guard.py."""

from __future__ import annotations

import concurrent.futures
import math
import sys
import textwrap

import pytest

from research_harness.sandbox.guard import check_module
from research_harness.agent.sandbox import smoke_test

META = ('name="{name}", title="t", category="training-dynamics", pitch="p", math="m", '
        'why_it_might_work="w", why_it_might_not="n", references=[]')

GOOD = textwrap.dedent('''\
    """A z-loss-like idea plus a gated-attention mixin: what a model should write."""

    from __future__ import annotations

    import functools
    import math

    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    from trainer.ideas.base import Idea, extend_module

    COEFFICIENT = 1e-4


    def z_loss(logits, targets, *, inner, coefficient=COEFFICIENT):
        log_z = torch.logsumexp(logits.float().view(-1, logits.size(-1)), dim=-1)
        return inner(logits, targets) + coefficient * log_z.square().mean()


    class _GateMixin:
        def forward(self, x):
            q, k, v = self.project_qkv(x)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self.n_kv_heads != self.n_heads)
            B, H, T, D = y.shape
            y = y.transpose(1, 2).reshape(B, T, H * D)
            return self.o_proj(y * torch.sigmoid(self.gate_proj(x)).to(y.dtype))


    class GatedZLoss(Idea):
        @torch.no_grad()
        def describe(self, model) -> float:
            return math.sqrt(sum(p.numel() for p in model.parameters()))

        def patch_model(self, model) -> None:
            model.loss_fn = functools.partial(z_loss, inner=model.loss_fn)
            for block in model.blocks:
                attn = block.attn
                attn.gate_proj = nn.Linear(model.cfg.d_model, attn.n_heads * attn.head_dim, bias=False)
                extend_module(attn, _GateMixin)


    IDEA = GatedZLoss(''' + META.format(name="gated_z_loss") + ''')
    ''')


def idea(body: str, name: str = "candidate", imports: str = "import torch\nfrom trainer.ideas.base import Idea\n") -> str:
    """A module whose patch_model runs `body` (indented four spaces per line)."""
    hook = textwrap.indent(textwrap.dedent(body), " " * 8)
    return f"{imports}\n\nclass Candidate(Idea):\n    def patch_model(self, model):\n{hook}\n\n\nIDEA = Candidate({META.format(name=name)})\n"


# -- the sandboxed smoke test: real child processes, real tiny training --------------------------------
HANG_TIMEOUT_S = 25

SANDBOX_CASES = {
    "good": (GOOD, True, {}),
    "raises": (idea("raise ValueError('the gate projection needs d_model divisible by 7')"), True, {}),
    "nan": (idea("model.loss_fn = lambda logits, targets: logits.float().mean() * float('nan')"), True, {}),
    # The rest bypass the static guard (check=False): they test the child's audit hook itself.
    "sleeps": (idea("print('entered patch_model', flush=True)\nimport time\ntime.sleep(3600)"), False,
               {"timeout_s": HANG_TIMEOUT_S}),
    "writes": (idea("""\
        open('inside.txt', 'w').write('the workspace is writable')
        try:
            open(OUTSIDE, 'w').write('must not exist')
        except PermissionError as exc:
            print('caught:', exc)
        """), False, {}),
    "escapes": (idea("""\
        import socket, subprocess, _posixsubprocess
        attempts = {
            'torch.save': lambda: torch.save(torch.ones(1), OUTSIDE),
            'subprocess': lambda: subprocess.run(['true']),
            'fork_exec': lambda: _posixsubprocess.fork_exec(*([None] * 23)),
            'socket': lambda: socket.create_connection(('127.0.0.1', 9)),
        }
        for name, attempt in attempts.items():
            try:
                attempt()
                print('NOT REFUSED:', name)
            except PermissionError as exc:
                print('refused', name, exc)
            except Exception as exc:
                print('NOT REFUSED:', name, type(exc).__name__, exc)
        """), False, {}),
}


@pytest.fixture(scope="module")
def sandbox(data_dir, tmp_path_factory):
    """Every case's child starts at once (they spend most of their time importing torch);
    each test then waits for its own result."""
    root = tmp_path_factory.mktemp("sandbox")
    outside = root / "outside"
    outside.mkdir()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(SANDBOX_CASES))
    futures, workspaces = {}, {}
    for name, (source, check, kwargs) in SANDBOX_CASES.items():
        module = root / "modules" / f"{name}.py"
        module.parent.mkdir(exist_ok=True)
        module.write_text(source.replace("OUTSIDE", repr(str(outside / f"{name}.out"))))
        workspaces[name] = root / "ws" / name
        futures[name] = pool.submit(smoke_test, module, workspaces[name], check=check, **kwargs)
    yield {"result": lambda name: futures[name].result(), "workspace": workspaces.__getitem__, "outside": outside}
    pool.shutdown(wait=True)


def test_a_good_module_smoke_trains(sandbox):
    result = sandbox["result"]("good")
    assert result.ok, result.error + "\n" + result.log
    assert result.error == "" and math.isfinite(result.val_loss) and 0 < result.val_loss < 20


def test_an_exception_in_a_hook_is_reported_with_its_place(sandbox):
    result = sandbox["result"]("raises")
    assert not result.ok
    assert result.error.startswith("building the model with the flag on (configure, patch_model) failed: ValueError: "
                                   "the gate projection needs d_model divisible by 7 (in patch_model, line 7 of ")


def test_a_module_that_makes_the_loss_nan_fails(sandbox):
    result = sandbox["result"]("nan")
    assert not result.ok and result.val_loss is None
    assert result.error.startswith("training diverged: training loss became nan")


def test_a_module_that_hangs_is_killed_at_the_timeout(sandbox):
    result = sandbox["result"]("sleeps")
    assert not result.ok
    assert result.error.startswith(f"timed out after {HANG_TIMEOUT_S} s and was killed")
    assert "entered patch_model" in result.log  # it hung in the module, not while starting up
    assert HANG_TIMEOUT_S <= result.seconds < HANG_TIMEOUT_S + 10


def test_the_audit_hook_keeps_writes_inside_the_workspace(sandbox):
    source = SANDBOX_CASES["writes"][0]
    assert check_module(source)  # the guard would refuse it; the hook must stand on its own
    result = sandbox["result"]("writes")
    outside = sandbox["outside"] / "writes.out"
    assert not result.ok
    assert result.error.startswith(f"sandbox refused open({str(outside)!r}, 'w') for writing outside the workspace")
    assert "caught: sandbox refused" in result.log  # refused even though the module swallowed the error
    assert not outside.exists()
    assert (sandbox["workspace"]("writes") / "inside.txt").read_text() == "the workspace is writable"


def test_the_audit_hook_stops_native_writes_processes_and_sockets(sandbox):
    result = sandbox["result"]("escapes")
    assert not result.ok and "NOT REFUSED" not in result.log, result.log
    for name in ("torch.save", "subprocess", "fork_exec", "socket"):
        assert f"refused {name} sandbox refused" in result.log
    assert result.error.endswith("(4 refusals)")
    assert not (sandbox["outside"] / "escapes.out").exists()


def test_the_guard_runs_before_any_child(tmp_path):
    module = tmp_path / "bad.py"
    module.write_text(idea("open('/tmp/x', 'w')"))
    result = smoke_test(module, tmp_path / "ws")
    assert not result.ok and result.seconds < 1
    assert result.error == ("refused by the guard: line 7: 'open' is not allowed (no file, process, input or "
                            "dynamic-code access, no reflection)")


def test_a_missing_openai_package_names_the_extra(monkeypatch, tmp_path):
    """Runs where the [agent] extra is absent too (the openai tests skip there)."""
    from research_harness.agent import AgentConfigError
    from research_harness.agent.openai_backend import OpenAIAgent

    monkeypatch.setitem(sys.modules, "openai", None)  # what `import openai` meets when it is not installed
    with pytest.raises(AgentConfigError, match=r"needs the openai package: pip install 'research_harness\[agent\]'"):
        OpenAIAgent(model="scripted-model", api_key="k", transcripts=tmp_path)
