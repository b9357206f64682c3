"""The guard on model-written idea modules (static, guard.py) and the sandboxed smoke test
(a real child process with an audit hook and real tiny training, sandbox.py + smoke.py)."""

from __future__ import annotations

import concurrent.futures
import math
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from research_harness.sandbox.guard import MAX_CODE_LINES, GuardError, check_module, code_lines, ensure_safe
from research_harness.agent.prompts import EXAMPLE_MODULE
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


# -- the static guard --------------------------------------------------------------------------------
def test_a_good_module_and_the_prompts_example_pass():
    assert check_module(GOOD) == []
    assert check_module(EXAMPLE_MODULE) == []
    ensure_safe(GOOD)


REFUSED = [
    ("import os\n" + idea("pass"), 1, "import of 'os' is not allowed"),
    (idea("pass", imports="import subprocess\nfrom trainer.ideas.base import Idea\n"), 1, "import of 'subprocess'"),
    (idea("pass", imports="from torch import load\nfrom trainer.ideas.base import Idea\n"), 1, "importing 'load' from 'torch'"),
    (idea("open('/tmp/x', 'w').write('x')"), 7, "'open' is not allowed"),
    (idea("eval('1 + 1')"), 7, "'eval' is not allowed"),
    (idea("exec('x = 1')"), 7, "'exec' is not allowed"),
    (idea("__import__('os').system('true')"), 7, "'__import__' is not allowed"),
    (idea("getattr(torch, 'lo' + 'ad')('/tmp/x')"), 7, "'getattr' is not allowed"),
    (idea("x = ().__class__.__bases__[0].__subclasses__()"), 7, "the attribute '__class__' is not allowed"),
    (idea("torch.os.system('true')"), 7, "the attribute 'os' is not allowed"),  # starts a process
    (idea("torch.utils.cpp_extension.load_inline('x', '')"), 7, "the attribute 'utils' is not allowed"),
    (idea("torch.save(model, '/tmp/m.pt')"), 7, "the attribute 'save' is not allowed"),
    (idea("pass", imports="import trainer.ideas\nfrom trainer.ideas.base import Idea\n") +
     "\n\ndef escape():\n    return trainer.ideas.importlib.import_module('os')\n", 14, "the attribute 'importlib'"),
    (idea("x = model._modules"), 7, "the private attribute '_modules'"),
    (idea("x = '{0.__init__.__globals__}'.format(model)"), 7, "str.format is not allowed"),
    (idea("x = type('X', (), {'__getattr__': print})"), 7, "the string '__getattr__' names a dunder"),
    (idea("import torch.nn.functional as F\nF.cross_entropy = None"), 8, "assigning into the imported 'F'"),
    (idea("pass") + "\nglobal state\n", 12, "`global` statements are not allowed"),
    (idea("pass") + "\ntorch.set_default_dtype(torch.float64)\n", 12, "top-level expr statement"),
    (idea("pass", imports="from .base import Idea\n"), 1, "relative imports are not allowed"),
    (idea("pass", imports="from torch import *\nfrom trainer.ideas.base import Idea\n"), 1, "`from torch import *`"),
    (idea("match model:\n    case _:\n        pass"), 7, "`match` statements are not allowed"),
    (idea("pass") + "\ndef __getattr__(name):\n    return name\n", 12, "defining '__getattr__' is not allowed"),
    (idea("x = (lambda: (yield))().gi_frame.f_globals"), 7, "the attribute 'gi_frame' is not allowed"),
]


def _marked(source: str) -> tuple[str, int]:
    """A source with one line marked `# HERE`, and that line's number."""
    return source, next(i for i, line in enumerate(source.splitlines(), 1) if "# HERE" in line)


# Importing a module must do nothing: the flag-off baseline runs in the same process afterwards.
IMPORT_TIME = [
    (_marked(idea("pass") + "\nSCALE = torch.ones(3)  # HERE\n"), "a call in a module-level constant runs at import"),
    (_marked("import torch\nfrom trainer.ideas.base import Idea\n\n\nclass Candidate(Idea):\n"
             "    torch.set_printoptions  # HERE\n\n    def patch_model(self, model):\n        pass\n\n\n"
             f"IDEA = Candidate({META.format(name='candidate')})\n"), "an Expr statement in a class body runs at import"),
    (_marked("import torch\nfrom trainer.ideas.base import Idea\n\n\nclass Candidate(Idea):\n"
             "    def __init__(self, **kw):  # HERE\n        super().__init__(**kw)\n\n\n"
             f"IDEA = Candidate({META.format(name='candidate')})\n"), "Candidate.__init__ runs when IDEA is built"),
    (_marked(idea("pass") + "\n\ndef helper(x=torch.zeros(1)):  # HERE\n    return x\n"),
     "a call in the default arguments of helper"),
    (_marked("import functools\n" + idea("pass") + "\n\n@functools.partial(print)  # HERE\ndef helper():\n    return 1\n"),
     "the decorator call partial(...) on helper runs at import time"),
    (_marked(idea("torch.set_default_dtype(torch.float64)  # HERE")), "the attribute 'set_default_dtype' is not allowed"),
    (_marked(idea("torch.manual_seed(0)  # HERE")), "the attribute 'manual_seed' is not allowed"),
]


@pytest.mark.parametrize("marked, reason", IMPORT_TIME, ids=[r[1][:40] for r in IMPORT_TIME])
def test_code_that_would_run_at_import_or_change_global_state_is_refused(marked, reason):
    source, line = marked
    problems = check_module(source)
    assert any(p.startswith(f"line {line}: ") and reason in p for p in problems), problems


@pytest.mark.parametrize("source, line, reason", REFUSED, ids=[r[2][:40] for r in REFUSED])
def test_dangerous_modules_are_refused_with_line_and_reason(source, line, reason):
    problems = check_module(source)
    assert any(p.startswith(f"line {line}: ") and reason in p for p in problems), problems
    with pytest.raises(GuardError, match="refused"):
        ensure_safe(source)


def test_a_syntax_error_is_reported_with_its_line():
    assert check_module("import torch\n\ndef f(:\n    pass\n") == ["line 3: syntax error: invalid syntax"]


def test_a_module_without_idea_is_refused():
    assert check_module("import torch\n\nX = 1\n") == [
        "module: no module-level `IDEA = ...`; define IDEA as an instance of your Idea subclass"]
    assert check_module("def f():\n    IDEA = 1\n")  # inside a function does not count


def test_the_line_limit_counts_code_not_docstrings_or_comments():
    doc = '"""' + "\n".join(f"explanation {i}" for i in range(400)) + '"""\n'
    comments = "".join(f"# note {i}\n\n" for i in range(300))
    body = "".join(f"A{i} = {i}\n" for i in range(MAX_CODE_LINES - 3))
    module = doc + comments + "import torch\n" + body + "IDEA = None\n"  # MAX - 1 code lines
    assert code_lines(module) == MAX_CODE_LINES - 1
    assert check_module(module) == []
    too_long = module + "B = 1\n"
    assert code_lines(too_long) == MAX_CODE_LINES
    assert check_module(too_long) == [f"module: {MAX_CODE_LINES} lines of code; the limit is {MAX_CODE_LINES - 1} "
                                      "(blank lines, comments and docstrings do not count)"]


# -- the guard never crashes, whatever it is given --------------------------------------------------
NAMES = st.sampled_from(["x", "torch", "F", "model", "self", "IDEA", "open", "eval", "__class__", "__init__",
                         "_private", "os", "load", "getattr", "gi_frame", "annotations", "__future__", "nn"])
MODULES = st.sampled_from(["os", "torch", "torch.nn", "math", "subprocess", "trainer.ideas.base", "__future__",
                           "torch.utils", "functools", ".base", "", "a.b.c"])


def _expr(depth: int = 2):
    leaf = st.one_of(NAMES, st.integers(-3, 300).map(str), st.sampled_from(["'__globals__'", "'x'", "None", "()"]))
    if depth == 0:
        return leaf
    sub = _expr(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(sub, NAMES).map(lambda t: f"{t[0]}.{t[1]}"),
        st.tuples(sub, st.lists(sub, max_size=3)).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
        st.tuples(sub, sub).map(lambda t: f"{t[0]}[{t[1]}]"),
        st.tuples(sub, st.sampled_from(["+", "*", " and ", " if x else "]), sub).map("".join),
        sub.map(lambda e: f"lambda: {e}"),
        sub.map(lambda e: f"'{{0.{e}}}'.format(x)"),
    )


def _statement(depth: int = 2):
    e = _expr(2)
    simple = st.one_of(
        st.tuples(NAMES, e).map(lambda t: f"{t[0]} = {t[1]}"),
        e,
        st.tuples(MODULES, NAMES).map(lambda t: f"from {t[0]} import {t[1]}"),
        MODULES.map(lambda m: f"import {m}"),
        NAMES.map(lambda n: f"global {n}"),
        st.sampled_from(["pass", "return", "del x", "raise", "x.y = 1", "def f(:", "class (", "\x00", "]]"]),
    )
    if depth == 0:
        return simple
    block = st.lists(_statement(depth - 1), min_size=1, max_size=3)
    header = st.one_of(NAMES.map(lambda n: f"def {n}(self, *a, **k):"), NAMES.map(lambda n: f"class {n}(Idea):"),
                       e.map(lambda x: f"if {x}:"), e.map(lambda x: f"with {x} as y:"),
                       st.just("try:"), st.just("match x:"), st.just("while True:"))
    nested = st.tuples(header, block).map(lambda t: t[0] + "\n" + textwrap.indent("\n".join(t[1]), "    "))
    return st.one_of(simple, nested)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_statement(), min_size=1, max_size=8))
def test_random_snippets_never_crash_the_guard(statements):
    problems = check_module("\n".join(statements) + "\n")
    assert isinstance(problems, list) and all(isinstance(p, str) and p for p in problems)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_text_never_crashes_the_guard(text):
    assert isinstance(check_module(text), list)


def test_pathological_nesting_is_reported_not_raised():
    assert check_module("x = " + "(" * 5000 + ")" * 5000 + "\nIDEA = x\n")
    assert check_module("x = " + "-" * 100_000 + "1\nIDEA = x\n")


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

