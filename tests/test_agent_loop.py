"""The discovery loop driven by a model through the real `openai` client, against a
scripted OpenAI-compatible server on 127.0.0.1, at tiny scale: the model proposes,
reviews, refines and implements; its code is linted and read without being imported,
smoke-trained in the bubblewrap sandbox, verified flag-off (in the sandbox, scored here)
and judged by the same gate as any idea. The first test runs once per transport (the
`anthropic` one against a scripted Messages API server): the loop must not care which
carried the conversation."""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
from pathlib import Path

import pytest

from research_harness.agent.chat import ChatAgent
from research_harness.agent.transcripts import TranscriptStore
from research_harness.agent.transports.anthropic import AnthropicTransport
from research_harness.agent.transports.openai import OpenAITransport
from research_harness.baseline import BASELINE
from research_harness.discovery.study import Discovery, IdeaFailed, SlotSkipped
from research_harness.runner import Runner
from research_harness.workspace import ARM_SEEDS, BASELINE_SEEDS, Settings, Workspace

from helpers.agent_server import Status
from helpers.anthropic_server import ScriptedAnthropicServer

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = {"openai": "agent", "anthropic": "anthropic"}


def _needs_client(package: str) -> None:
    pytest.importorskip(package, reason=f"needs the [{EXTRAS[package]}] extra: "
                                        f"pip install 'research_harness[{EXTRAS[package]}]'")


@pytest.fixture
def llm_server(llm_server):
    """The scripted OpenAI-compatible server, for the tests that drive the openai client."""
    _needs_client("openai")
    return llm_server


@pytest.fixture(params=["openai", "anthropic"])
def model_server(request):
    """A scripted server of either wire format; agent_for picks the matching transport."""
    _needs_client(request.param)
    return request.getfixturevalue("llm_server" if request.param == "openai" else "anthropic_server")


def proposal(name, category="attention"):
    return {"name": name, "category": category, "title": f"Head temperature ({name})",
            "pitch": "Scale each head's queries by a learnable temperature.", "math": r"q_h \leftarrow \tau_h q_h",
            "why_it_might_work": "Heads can sharpen or soften their attention.",
            "why_it_might_not": "QK-norm already fixes the logit scale.",
            "references": ["Henry et al. (2020). Query-Key Normalization for Transformers."],
            "success_criterion": "Cohen's d >= 0.5 on final val_loss"}


IDEAS = {"ideas": [proposal("head_temp"), proposal("norm_temp", "normalization"), proposal("opt_temp", "optimizer")]}
REVIEW = {"scores": [{"name": p["name"], "feasibility": 5, "novelty": 4, "testability": 3, "rationale": "small"}
                     for p in IDEAS["ideas"]], "selected": "head_temp"}
REFINE = {"hypothesis": "--use_head_temp lowers final val_loss", "control": "stored baseline runs, seeds 42/137/256",
          "experimental": "--use_head_temp true, same seeds", "expected_effect": {"nats": 0.01, "sigmas": 1.0},
          "success_criterion": "Cohen's d >= 0.5", "plan": ["implement", "smoke test", "3 seeds per arm"]}
GOOD_MODULE = '''import torch
from trainer.ideas.base import Idea, extend_module


class _Temperature:
    def attend(self, q, k, v):
        return super().attend(q * self.temperature, k, v)


class HeadTemp(Idea):
    def patch_model(self, model):
        for block in model.blocks:
            block.attn.temperature = torch.nn.Parameter(torch.ones(block.attn.n_heads, 1, 1))
            extend_module(block.attn, _Temperature)


IDEA = HeadTemp(name="head_temp", title="Head temperature (head_temp)", category="attention",
                pitch="Scale each head's queries by a learnable temperature.", math="q_h \\\\leftarrow \\\\tau_h q_h",
                why_it_might_work="Heads can sharpen or soften their attention.",
                why_it_might_not="QK-norm already fixes the logit scale.",
                references=["Henry et al. (2020). Query-Key Normalization for Transformers."])
'''
MARKER = "/tmp/research_harness_guard_marker"
UNSAFE = {
    "imports os": GOOD_MODULE.replace("import torch\n", "import os\nimport torch\n"),
    "opens a file": GOOD_MODULE.replace("    def patch_model(self, model):\n",
                                        f"    def patch_model(self, model):\n        open({MARKER!r}, 'w').write('x')\n"),
    "starts a process": GOOD_MODULE.replace("import torch\n", "import subprocess\nimport torch\n").replace(
        "    def patch_model(self, model):\n", "    def patch_model(self, model):\n        subprocess.run(['true'])\n"),
    "leaks at import": GOOD_MODULE.replace("class HeadTemp(Idea):\n",
                                           "class HeadTemp(Idea):\n    torch.set_default_dtype(torch.float64)\n"),
}


def with_planted_baseline(root: Path) -> Runner:
    """A tiny-preset workspace at 3000 tokens with baseline seed 42 trained and the other
    baseline seeds planted beside it (they need no training here)."""
    runner = Runner(Settings(research_dir=root, tokens=3000, preset="tiny", device="cpu"), Workspace(root),
                    log=lambda *a: None)
    base42, _ = runner.get_or_train(BASELINE, 42)
    for i, seed in enumerate(BASELINE_SEEDS[1:]):
        rec = copy.deepcopy(base42)
        rec.pop("record_path")
        key = runner.key(BASELINE, seed)
        rec.update(seed=seed, val_loss=base42["val_loss"] + 0.01 * (i - 1.5), run_key=key)
        runner.store.put(rec, run_key=key, arm="baseline")
    return runner


@pytest.fixture
def workspace(tmp_path, data_dir):
    return with_planted_baseline(tmp_path)


def agent_for(server, runner, **kw):
    kind = AnthropicTransport if isinstance(server, ScriptedAnthropicServer) else OpenAITransport
    transport = kind(base_url=server.base_url, model="scripted-model", api_key="test",
                     timeout=kw.pop("timeout", 10), max_retries=kw.pop("max_retries", 1))
    return ChatAgent(transport, transcripts=TranscriptStore.for_workspace(runner.workspace.root))


def inputs_of(request) -> str:
    """The user turn that carried a request's inputs (the system prompt travels apart in the Messages API)."""
    return next(m["content"] for m in request["messages"] if m["role"] == "user")


def script_until_implement(server, *modules):
    server.script("propose", "this is not JSON", IDEAS)  # a malformed reply is retried with the parse error
    server.script("review", REVIEW)
    server.script("refine", REFINE)
    server.script("implement", *({"module": m} for m in modules))


def test_a_model_idea_is_implemented_verified_and_judged(workspace, model_server):
    llm_server = model_server
    script_until_implement(llm_server, GOOD_MODULE.replace("import torch\n", "import torch\n\ndef broken(:\n"),
                           GOOD_MODULE)
    disc = Discovery(workspace, agent=agent_for(llm_server, workspace))
    disc.review(1)
    disc.refine(1)
    info = disc.implement(1)
    assert info["ok"] and info["generated"] and len(info["attempts"]) == 2
    assert "syntax error" in info["attempts"][0]["error"] and info["attempts"][1]["error"] == ""
    assert "syntax error" in inputs_of(llm_server.requests_for("implement")[1])  # the error went back to the model
    assert len(llm_server.requests_for("propose")) == 2 and "could not be used" in \
        llm_server.requests_for("propose")[1]["messages"][-1]["content"]
    module = workspace.workspace.root / "experiments" / "ideas" / "generated" / "head_temp.py"
    assert module.read_text() == GOOD_MODULE
    assert disc.verify(1)["passed"] and disc.verify(1)["bit_identical"]
    for seed in ARM_SEEDS:
        disc.arm_run(1, "control", seed)
        rec, trained = disc.arm_run(1, "exp", seed)
        assert trained and rec["flags"] == ["head_temp"] and rec["code"]["idea_sources"]["head_temp"] == GOOD_MODULE
    decision = disc.gate(1)
    entry = disc.journal().entry_for_slot(1)
    assert entry.status == decision["status"] and decision["evidence"]["level"] in ("preliminary", "not supported")
    assert module.exists() == (entry.status != "Failed")  # a failed generated idea is reverted to archive/ideas/
    assert (workspace.workspace.archive / "ideas" / "head_temp.py").exists() == (entry.status == "Failed")
    transcripts = TranscriptStore.for_workspace(workspace.workspace.root).all()
    assert {t["task"] for t in transcripts} == {"propose", "review", "refine", "implement"}
    assert all(t["usage"] and t["latency_s"] is not None for t in transcripts)


@pytest.mark.parametrize("first, second", [("imports os", "opens a file"), ("starts a process", "leaks at import")])
def test_unsafe_modules_are_refused_before_import_and_the_idea_fails(workspace, llm_server, first, second):
    Path(MARKER).unlink(missing_ok=True)
    script_until_implement(llm_server, UNSAFE[first], UNSAFE[second])
    disc = Discovery(workspace, agent=agent_for(llm_server, workspace))
    disc.review(1)
    disc.refine(1)
    with pytest.raises(IdeaFailed, match="failed twice"):
        disc.implement(1)
    entry = disc.journal().entry_for_slot(1)
    assert entry.status == "Failed" and all("code guard refused" in a["error"] for a in entry.implementation["attempts"])
    assert not (workspace.workspace.root / "experiments" / "ideas" / "generated" / "head_temp.py").exists()
    assert not Path(MARKER).exists()  # nothing was imported or run
    assert "head_temp" not in disc.ideas()
    disc.check_slot(2)  # the study moves on to the next idea


def test_an_endpoint_that_keeps_failing_stops_the_study_with_an_honest_message(workspace, llm_server):
    from research_harness import conclude

    llm_server.always("propose", Status(500))
    disc = Discovery(workspace, agent=agent_for(llm_server, workspace, max_retries=1, timeout=2))
    with pytest.raises(SlotSkipped, match="ideation for idea 1 failed: .*the study stops here"):
        disc.ideate(1)
    assert len(llm_server.requests_for("propose")) == 2  # one try and one bounded retry
    assert "HTTP 500" in disc.journal().ideation["1"]["error"] or "500" in disc.journal().ideation["1"]["error"]
    with pytest.raises(SlotSkipped, match="the research agent failed at idea 1"):
        disc.check_slot(2)
    assert "The research agent failed before any idea was selected" in conclude.summary(disc)


def test_a_killed_study_replays_its_transcripts_without_asking_again(workspace, llm_server):
    script_until_implement(llm_server, GOOD_MODULE)
    docs = workspace.workspace.research_docs
    snapshot = {p.name: p.read_text() for p in docs.glob("*")} if docs.exists() else {}
    first = Discovery(workspace, agent=agent_for(llm_server, workspace))
    first.review(1)
    first.refine(1)
    before = len(llm_server.requests)
    journal = json.loads(workspace.workspace.journal_json("3k").read_text())
    for path in docs.glob("*.*"):  # killed before the journal was written: only the model's answers remain
        path.unlink()
    for name, text in snapshot.items():
        (docs / name).write_text(text)
    again = Discovery(workspace, agent=agent_for(llm_server, workspace))
    again.review(1)
    plan = again.refine(1)
    assert len(llm_server.requests) == before  # every answer came from runs/agent/, no request was sent
    assert plan == journal["entries"][0]["plan"]
    assert again.journal().ideation["1"]["selected"] == "head_temp"


def test_pytest_experiments_with_the_openai_agent_runs_the_loop(pytester, llm_server, data_dir):
    """`pytest experiments/ --research-agent openai` pointed at an OpenAI-compatible server."""
    shutil.copytree(ROOT / "experiments", pytester.path / "experiments", ignore=shutil.ignore_patterns("__pycache__"))
    llm_server.always("propose", IDEAS)
    llm_server.always("review", REVIEW)
    llm_server.always("refine", REFINE)
    llm_server.always("implement", {"module": GOOD_MODULE})
    llm_server.always("review_paper", {"findings": []})
    llm_server.always("review_abstract", {"findings": []})
    env = {"RESEARCH_LLM_BASE_URL": llm_server.base_url, "RESEARCH_LLM_MODEL": "scripted-model",
           "RESEARCH_LLM_API_KEY": "test"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        result = pytester.runpytest_subprocess("experiments", "-k", "smoke or baseline or TestIdea1", "-rsx",
                                               "--research-agent", "openai", "--research-tokens", "3000",
                                               "--research-preset", "tiny", "--research-device", "cpu", "-p", "no:cacheprovider")
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("error", 0) == 0, result.stdout.str()
    journal = json.loads((pytester.path / "docs/research/journal_3k.json").read_text())
    entry = journal["entries"][0]
    assert entry["idea"] == "head_temp" and entry["implementation"]["generated"]
    assert entry["verification"]["passed"] and entry["decisions"]
    assert {r["task"] for r in llm_server.requests} >= {"propose", "review", "refine", "implement"}


def test_a_model_written_idea_trains_in_the_sandbox_with_the_same_numbers_and_cannot_touch_this_process(
        workspace, require_sandbox):
    """Its runs train in the sandbox (same thread count: bit-identical to training here) and
    are scored here; a hook that changed process-wide state changes only its own process."""
    import torch

    from research_harness.runner import Arm
    from research_harness.sandbox import jobs, runs_in_sandbox

    root = workspace.workspace.root / "experiments" / "ideas"
    (root / "generated").mkdir(parents=True)
    (root / "here_temp.py").write_text(GOOD_MODULE.replace('name="head_temp"', 'name="here_temp"'))
    (root / "generated" / "apart_temp.py").write_text(GOOD_MODULE.replace('name="head_temp"', 'name="apart_temp"'))
    (root / "generated" / "rogue_temp.py").write_text(GOOD_MODULE.replace('name="head_temp"', 'name="rogue_temp"').replace(
        "    def patch_model(self, model):\n", "    def patch_model(self, model):\n        torch.set_default_dtype(torch.float64)\n"))
    for name in ("apart_temp", "rogue_temp"):  # what the implementation step does once a module is published
        path = root / "generated" / f"{name}.py"
        workspace.configured.update(jobs.configure({path.name: path}, [name], preset="tiny", tokens=3000,
                                                   workspace=workspace.workspace.root, mode="bwrap"))
    assert workspace.configured["apart_temp"] == {}
    here, _ = workspace.get_or_train(Arm("exp", ("here_temp",)), 42)
    apart, _ = workspace.get_or_train(Arm("exp", ("apart_temp",)), 42)
    assert not runs_in_sandbox(workspace.plan(Arm("exp", ("here_temp",))))
    assert runs_in_sandbox(workspace.plan(Arm("exp", ("apart_temp",))))
    assert apart["executor"] == "sandbox" and apart["sandbox"]["mode"] == "bwrap"
    assert apart["val_loss"] == here["val_loss"]
    assert [h["val_loss"] for h in apart["history"]] == [h["val_loss"] for h in here["history"]]
    try:  # float64 everywhere in its own process: whatever it makes of that, this process is untouched
        rogue, _ = workspace.get_or_train(Arm("exp", ("rogue_temp",)), 42)
    except jobs.SandboxRunFailed:
        assert workspace.lookup(Arm("exp", ("rogue_temp",)), 42) is None  # refused: nothing stored
    else:
        assert rogue["executor"] == "sandbox" and math.isfinite(rogue["val_loss"])
    assert torch.get_default_dtype() == torch.float32
    again, trained = workspace.get_or_train(Arm("baseline"), 42)
    assert not trained and again["val_loss"] == workspace.lookup(Arm("baseline"), 42)["val_loss"]


def test_a_model_proposal_named_like_an_existing_idea_is_dropped(workspace, llm_server):
    """Its module would be someone else's code: a model's idea always gets a module of its own."""
    llm_server.script("propose", {"ideas": [proposal("z_loss", "training-dynamics"), proposal("head_temp")]})
    disc = Discovery(workspace, agent=agent_for(llm_server, workspace))
    assert disc.ideate(1)["candidates"] == ["head_temp"]
    sent = llm_server.requests_for("propose")[0]["messages"][1]["content"]
    assert "existing_ideas" in sent and "z_loss" in sent
