"""The sandbox for model-written code: its metadata read without running it, the one rule
deciding where a run trains, the validation of what configure() returns, redaction, and
real bubblewrap jobs (smoke tests and a flag-off run whose export the parent evaluates).
The attacks on the boundary live in test_sandbox_attacks.py."""

from __future__ import annotations

import concurrent.futures
import math
import textwrap
from pathlib import Path

import pytest

from research_harness.sandbox import bwrap, jobs, runs_in_sandbox
from research_harness.secrets import redact, secret_values
from trainer.ideas import UntrustedIdea, UntrustedIdeaError, discover_ideas, read_untrusted_idea
from trainer.run import RunOptions, TrainingSession, plan_run

META = ('name="{name}", title="t", category="training-dynamics", pitch="p", math="m", '
        'why_it_might_work="w", why_it_might_not="n", references=["A (2020). B."]')


def module(name: str, body: str = "pass", hook: str = "patch_model", extra: str = "") -> str:
    body = textwrap.indent(textwrap.dedent(body), " " * 8)
    return (f"import torch\nimport torch.nn.functional as F\nfrom trainer.ideas.base import Idea\n{extra}\n\n"
            f"class Mine(Idea):\n    def {hook}(self, *args):\n{body}\n\n\nIDEA = Mine({META.format(name=name)})\n")


# -- metadata without running the module ------------------------------------------------------------

def test_a_generated_module_is_read_from_its_syntax_tree_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "generated" / "sneaky.py"
    path.parent.mkdir()
    path.write_text(f"open({str(marker)!r}, 'w').write('x')\n" + module("sneaky", hook="configure"))
    idea = read_untrusted_idea(path)
    assert isinstance(idea, UntrustedIdea) and idea.name == "sneaky" and idea.hooks == ("configure",)
    assert idea.references == ["A (2020). B."] and idea.source_file == str(path)
    assert discover_ideas(untrusted_dirs=[tmp_path / "generated"])["sneaky"].hooks == ("configure",)
    assert discover_ideas([tmp_path / "generated"])["sneaky"].__class__ is UntrustedIdea  # by the folder's name
    assert not marker.exists()
    with pytest.raises(UntrustedIdeaError, match="runs only in the sandbox"):
        plan_run("tiny", flags=["sneaky"], untrusted_dirs=[tmp_path / "generated"])
    with pytest.raises(UntrustedIdeaError, match="hooks never run in the study process"):
        idea.patch_model(None)


@pytest.mark.parametrize("source, reason", [
    (module("x").replace('name="x"', 'name="x".upper()'), "must be a literal"),
    (module("x").replace('category="training-dynamics"', 'category="vibes"'), "is not one of"),
    (module("x").replace('pitch="p"', "pitch=3"), "pitch must be a string"),
    (module("x").replace('references=["A (2020). B."]', "references=[1]"), "references must be a list of strings"),
    (module("x").replace("IDEA = Mine(", "IDEA = Mine(calibration_only=True, "), "cannot be calibration_only"),
    (module("x").replace("IDEA = Mine(", "IDEA = Mine(colour='red', "), "no field 'colour'"),
    ("x = 1\n", "no module-level `IDEA"),
])
def test_metadata_that_cannot_be_read_without_running_is_refused(tmp_path, source, reason):
    path = tmp_path / "m.py"
    path.write_text(source)
    with pytest.raises(UntrustedIdeaError, match=reason):
        read_untrusted_idea(path)


def test_one_rule_decides_where_a_run_trains(tmp_path):
    gen = tmp_path / "generated"
    gen.mkdir()
    (gen / "mine.py").write_text(module("mine", hook="configure"))
    configured = {"mine": {"train": {"muon_lr": 0.03}}}
    flagged = plan_run("tiny", flags=["mine"], untrusted_dirs=[gen], configured=configured)
    loaded = plan_run("tiny", untrusted_dirs=[gen], load=["mine"], purpose="verify:mine")
    builtin = plan_run("tiny", flags=["z_loss"], untrusted_dirs=[gen])
    assert runs_in_sandbox(flagged) and runs_in_sandbox(loaded) and not runs_in_sandbox(builtin)
    assert flagged.train_cfg.muon_lr == 0.03  # the validated change, applied without running the module
    assert not loaded.flags and [i.name for i in loaded.loaded] == ["mine"]


# -- what configure() may return --------------------------------------------------------------------

@pytest.fixture(scope="module")
def base():
    return jobs.base_configs("tiny", 4096, "cpu")


def test_a_configure_change_is_kept_field_by_field(base):
    returned = {"model": {**base["model"], "rope_base": 500000.0},
                "train": {**base["train"], "muon_lr": 0.05, "adamw_betas": [0.9, 0.99]}}
    assert jobs.config_changes(returned, base) == {"model": {"rope_base": 500000.0},
                                                   "train": {"muon_lr": 0.05, "adamw_betas": [0.9, 0.99]}}
    assert jobs.config_changes(base, base) == {}


@pytest.mark.parametrize("part, field, value, reason", [
    ("train", "train_tokens", 10**9, "may not change train.train_tokens"),
    ("train", "eval_tokens", 64, "may not change train.eval_tokens"),
    ("train", "eval_count", 1, "may not change train.eval_count"),
    ("train", "dtype", "bf16", "may not change train.dtype"),
    ("model", "vocab_size", 300, "may not change model.vocab_size"),
    ("model", "seq_len", 32, "may not change model.seq_len"),
    ("train", "muon_lr", "0.1", "expected a value like"),
    ("train", "muon_lr", float("nan"), "expected a value like"),
    ("model", "n_layers", 2.5, "expected a value like"),
    ("model", "n_heads", 3, "invalid model configuration"),
])
def test_configure_may_not_change_the_measurement_or_break_the_config(base, part, field, value, reason):
    returned = {"model": dict(base["model"]), "train": dict(base["train"])}
    returned[part][field] = value
    with pytest.raises(jobs.SandboxRunFailed, match=reason):
        jobs.config_changes(returned, base)


def test_configure_returning_other_fields_is_refused(base):
    with pytest.raises(jobs.SandboxRunFailed, match="other fields"):
        jobs.config_changes({"model": {**base["model"], "backdoor": 1}, "train": base["train"]}, base)
    with pytest.raises(jobs.SandboxRunFailed, match="no configuration"):
        jobs.config_changes("model", base)


def test_secret_values_are_redacted():
    env = {"OPENAI_API_KEY": "sk-live-abcdef123", "MY_SERVICE_TOKEN": "tok-999999", "PATH": "/usr/bin",
           "SHORT_KEY": "1"}
    assert secret_values(env) == ["sk-live-abcdef123", "tok-999999"]
    assert redact("key sk-live-abcdef123 and tok-999999 in /usr/bin", env) == \
        "key [redacted] and [redacted] in /usr/bin"


def test_a_run_without_a_sandbox_is_said_in_the_facts_the_reports_use():
    from research_harness.facts import run_facts

    base = {"run_key": "a", "started": "2026-01-01T00:00:00+00:00", "finished": "2026-01-01T00:01:00+00:00",
            "tokens_per_s": 1.0, "device": {"name": "cpu", "host": "h"}, "flags": [], "config": {},
            "code_fingerprint": "x"}
    assert run_facts([base]).unsandboxed == 0
    assert run_facts([base, {**base, "run_key": "b", "sandbox": {"mode": "bwrap"}}]).unsandboxed == 0
    assert run_facts([base, {**base, "run_key": "b", "sandbox": {"mode": "none"}}]).unsandboxed == 1


# -- real sandboxed jobs ------------------------------------------------------------------------------

TIMEOUT_S = 30
CASES = {
    "good": module("good", """\
        model = args[0]
        inner = model.loss_fn
        def loss(logits, targets):
            return inner(logits, targets) + 1e-4 * torch.logsumexp(logits.float(), -1).square().mean()
        model.loss_fn = loss
        """, extra="") + "\n" + textwrap.dedent("""\
        def configure(self, model_cfg, train_cfg):
            train_cfg.muon_lr = 0.03
        Mine.configure = configure
        """),
    "raises": module("raises", "raise ValueError('the gate needs d_model divisible by 7')"),
    "nan": module("nan", "args[0].loss_fn = lambda logits, targets: logits.float().mean() * float('nan')"),
    "sleeps": module("sleeps", "print('entered patch_model', flush=True)\nimport time\ntime.sleep(3600)"),
    "noexport": module("noexport", """\
        model = args[0]
        def forward(idx, targets=None):
            if idx.sum().item() > 0:  # data-dependent Python control flow: no static export
                idx = idx.clone()
            logits = model.logits(model.hidden_states(idx))
            return logits if targets is None else model.loss_fn(logits, targets)
        model.forward = forward
        """),
}


@pytest.fixture(scope="module")
def smoke(require_sandbox, corpus, tmp_path_factory):
    """Every case's sandbox starts at once (most of their time is torch's import); each
    test waits for its own result."""
    root = tmp_path_factory.mktemp("smoke")
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=3)
    futures = {}
    for name, source in CASES.items():
        path = root / "staged" / f"{name}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text(source)
        futures[name] = pool.submit(jobs.smoke_test, path, root / "ws", data=corpus, timeout_s=TIMEOUT_S
                                    if name == "sleeps" else jobs.SMOKE_TIMEOUT_S)
    yield {"result": lambda name: futures[name].result(), "root": root}
    pool.shutdown(wait=True)


def test_a_good_module_smoke_trains_and_the_parent_scores_its_export(smoke):
    result = smoke["result"]("good")
    assert result.ok, result.error + "\n" + result.log
    assert math.isfinite(result.val_loss) and 0 < result.val_loss < 20
    assert result.changes == {"train": {"muon_lr": 0.03}}
    assert not (smoke["root"] / "ws" / ".sandbox" / "smoke-good").exists()  # the job's folder is removed


def test_an_exception_in_a_hook_is_reported_with_its_place(smoke):
    result = smoke["result"]("raises")
    assert not result.ok
    assert result.error.startswith("building the model (patch_model) failed: ValueError: the gate needs d_model "
                                   "divisible by 7 (in patch_model, line 8 of raises.py)"), result.error


def test_a_module_that_makes_the_loss_nan_fails(smoke):
    result = smoke["result"]("nan")
    assert not result.ok and result.val_loss is None
    assert result.error.startswith("training diverged: training loss became nan"), result.error


def test_a_module_that_hangs_is_killed_at_the_timeout(smoke):
    result = smoke["result"]("sleeps")
    assert not result.ok
    assert result.error.startswith(f"timed out after {TIMEOUT_S} s and was killed"), result.error
    assert TIMEOUT_S <= result.seconds < TIMEOUT_S + 30


def test_a_model_that_cannot_be_exported_says_what_the_export_needs(smoke):
    result = smoke["result"]("noexport")
    assert not result.ok
    assert result.error.startswith("exporting the model with torch.export failed") and \
        "no data-dependent Python control flow" in result.error, result.error


def test_a_flag_off_run_in_the_sandbox_equals_the_in_process_run_bit_for_bit(require_sandbox, corpus, tmp_path):
    """The verification rerun of a model-written idea: its module is loaded (imported in the
    sandbox) with the flag off; trained there and evaluated here, it must be the baseline."""
    gen = tmp_path / "generated"
    gen.mkdir()
    (gen / "quiet.py").write_text(module("quiet", "args[0].loss_fn = args[0].loss_fn"))
    tokens, overrides = 3072, {"eval_count": 2}
    here = TrainingSession(plan=plan_run("tiny", train_tokens=tokens, train_overrides=overrides).bind_data(corpus),
                           log=lambda *a: None).run(42, RunOptions(quiet=True))
    plan = plan_run("tiny", train_tokens=tokens, train_overrides=overrides, untrusted_dirs=[gen], load=["quiet"],
                    purpose="verify:quiet").bind_data(corpus)
    assert runs_in_sandbox(plan)
    import torch

    there = jobs.train(plan, 42, workspace=tmp_path / "ws", mode="bwrap", threads=torch.get_num_threads())
    assert there["val_loss"] == here["val_loss"]
    assert [h["val_loss"] for h in there["history"]] == [h["val_loss"] for h in here["history"]]
    assert there["sandbox"]["mode"] == "bwrap" and "train_loss" in there["sandbox"]["reported_by_sandbox"]
    assert there["run_key"] == plan.key(42) != here["run_key"]
    assert not (tmp_path / "ws" / ".sandbox" / plan.key(42)).exists()


def test_without_a_working_bwrap_model_code_is_refused_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("RESEARCH_BWRAP", str(tmp_path / "no-such-bwrap"))
    assert "does not exist" in bwrap.probe()
    with pytest.raises(bwrap.SandboxUnavailable, match=r"refused: no sandbox can start here .*apt-get install "
                                                       r"bubblewrap.*--research-sandbox none"):
        bwrap.require("bwrap")
    bwrap.require("none")  # the explicit opt-out is the user's to take
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("RESEARCH_BWRAP", str(fake))
    with pytest.raises(bwrap.SandboxUnavailable, match="No permissions to create new namespace"):
        bwrap.require("bwrap")
    assert Path(fake).exists()
