"""Phase 2 and the closing phases, driven step by step as the experiment tests drive
them. Baseline seed 42 and every flag-off verification are real (tiny) training runs;
the other arms are planted records with chosen losses, so each branch of the gate is
reached on purpose: noise, suggestive with extension, proceed, and three failures."""

from __future__ import annotations

import copy
import textwrap

import pytest

import trainer.model
from research_harness import conclude
from research_harness.baseline import BASELINE
from research_harness.discovery.study import Discovery, SlotSkipped
from research_harness.gates import decide
from research_harness.runner import Arm, Runner
from research_harness.workspace import ARM_SEEDS, BASELINE_SEEDS, EXTENSION_SEEDS, Settings, Workspace
from trainer.ideas import discover_ideas

IDEA_TEMPLATE = '''
from trainer.ideas.base import Idea

class _Scaled(Idea):
    def patch_model(self, model):
        model.final_norm.weight.data.mul_({scale})

IDEA = _Scaled(
    name="{name}", title="{title}", category="{category}",
    pitch="Scale the final norm.", math="h \\\\leftarrow {scale} h",
    why_it_might_work="It might.", why_it_might_not="It might not.",
    references=["Tester et al. (2024). A test idea."],
)
'''

LEAKY = '''
import trainer.model as _m
from trainer.ideas.base import Idea

_original = _m.cross_entropy_loss
_m.cross_entropy_loss = lambda logits, targets: _original(logits, targets) + 0.01 * logits.float().pow(2).mean()  # a leak

IDEA = Idea(name="leaky", title="A leaky idea", category="optimizer", pitch="Leaks.", math="x",
            why_it_might_work="-", why_it_might_not="-", references=["Nobody (2025). Leaks."])
'''

# Baseline offsets from the real seed-42 loss: control arm (seeds 42/137/256) sd = 0.01.
OFFSETS = {42: 0.0, 137: 0.01, 256: -0.01, 512: 0.02, 1024: -0.02}


def write_idea(ws_root, name, category, scale=1.01):
    folder = ws_root / "experiments" / "ideas"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(IDEA_TEMPLATE.format(name=name, title=f"Test idea {name}", category=category,
                                                           scale=scale))


@pytest.fixture
def study(tmp_path, data_dir):
    settings = Settings(research_dir=tmp_path, tokens=3000, preset="tiny")
    runner = Runner(settings, Workspace(tmp_path), log=lambda *a: None)
    base42 = runner.ensure(BASELINE, 42)
    for seed in BASELINE_SEEDS[1:]:
        plant(runner, BASELINE, seed, base42["val_loss"] + OFFSETS[seed], base42)
    return runner, base42


def plant(runner: Runner, arm: Arm, seed: int, val_loss: float, like: dict) -> dict:
    key = runner.key(arm, seed)
    rec = copy.deepcopy(like)
    rec.pop("record_path", None)
    rec.update(seed=seed, val_loss=val_loss, flags=list(arm.flags), run_key=key)
    rec["history"][-1]["val_loss"] = val_loss
    return runner.store.put(rec, run_key=key, arm=arm.name)


def discovery_with(runner, names_categories):
    for name, category in names_categories:
        write_idea(runner.workspace.root, name, category)
    disc = Discovery(runner)
    everything = discover_ideas([runner.workspace.root / "experiments" / "ideas"])
    disc._ideas = {n: everything[n] for n, _ in names_categories}
    return disc


def run_slot(disc: Discovery, slot: int, exp_offsets: dict, base42: dict) -> str:
    """Drive one slot as the experiment tests do; planted experimental losses."""
    disc.ideate(slot)
    disc.review(slot)
    disc.refine(slot)
    assert disc.verify(slot)["passed"]
    _, entry = disc.entry(slot)
    for seed in ARM_SEEDS:
        disc.arm_run(slot, "control", seed)
        plant(disc.runner, Arm("exp", (entry.idea,)), seed, base42["val_loss"] + exp_offsets[seed], base42)
        disc.arm_run(slot, "exp", seed)
    first = disc.gate(slot)
    if first["decision"] == "suggestive":
        for seed in EXTENSION_SEEDS:
            disc.arm_run(slot, "control", seed, extension=True)
            plant(disc.runner, Arm("exp", (entry.idea,)), seed, base42["val_loss"] + exp_offsets[seed], base42)
            disc.arm_run(slot, "exp", seed, extension=True)
        disc.gate(slot, final=True)
    else:
        with pytest.raises(SlotSkipped, match="not needed"):
            disc.arm_run(slot, "exp", 512, extension=True)
    return disc.journal().entry_for_slot(slot).status


def test_proceed_branch_validates_the_idea_and_writes_the_paper(study):
    runner, base42 = study
    disc = discovery_with(runner, [("alpha_idea", "attention")])
    status = run_slot(disc, 1, {s: OFFSETS[s] - 0.03 for s in OFFSETS}, base42)
    assert status == "Validated"
    entry = disc.journal().entry_for_slot(1)
    assert entry.decisions[0]["d"] >= 0.5 and entry.verdict == "WINNER"
    assert "N=3 seeds at 3k tokens" in entry.result and "μ_exp=" in entry.result
    with pytest.raises(SlotSkipped, match="proceeds to the paper"):
        disc.ideate(2)
    report = runner.workspace.experiment_report("alpha_idea", "3k").read_text()
    for needle in ("Cohen's d", "Hedges' g", "95% CI", "One-sided Welch p", "baseline sigmas", "Wall-clock",
                   "Per-seed values", "Verdict: WINNER", "Not the research scale"):
        assert needle in report, needle
    log = runner.workspace.idea_log.read_text()
    assert "## RID-01" in log and "Validated" in log and "| Date | Status | Note |" in log
    for field in ("# Ideation and review", "- **Pitch**:", "- **Math**:", "- **Pro**:", "- **Con**:", "- **Flag**: `--use_",
                  "- **Test**:", "- **Success**:", "| Candidate | Feasibility | Novelty | Testability | Total | Why |"):
        assert field in log, field

    from research_harness.paper import write_paper
    from research_harness.stats import summarize

    result = write_paper(conclude.paper_inputs(disc, entry), runner.workspace.papers)
    assert result.passed, result.review_after
    md = result.markdown_path.read_text()
    exp_mean = summarize([r["val_loss"] for r in disc.arm_records(1, "exp", ARM_SEEDS)[0]]).mean
    assert f"{exp_mean:.4f}" in md
    if result.pdf_path is not None:
        from pypdf import PdfReader

        text = " ".join(page.extract_text() for page in PdfReader(str(result.pdf_path)).pages)
        assert f"{exp_mean:.4f}" in text
    summary = conclude.summary(disc)
    assert "alpha_idea" in summary and "Hedges' g" in summary and "Welch p" in summary
    from research_harness import baseline as phase1

    phase1.write_report(runner, phase1.load(runner))  # a reused report still yields full-precision values
    assert phase1.load(runner).values == [runner.lookup(BASELINE, s)["val_loss"] for s in BASELINE_SEEDS]
    assert conclude.archive(disc) == []  # the final report, the paper and its figures stay in place
    assert runner.workspace.experiment_report("alpha_idea", "3k").exists()


def test_suggestive_branch_runs_the_extension_seeds_and_decides_again(study):
    runner, base42 = study
    disc = discovery_with(runner, [("beta_idea", "optimizer")])
    offsets = {42: -0.003, 137: 0.007, 256: -0.013, 512: -0.01, 1024: -0.05}
    status = run_slot(disc, 1, offsets, base42)
    entry = disc.journal().entry_for_slot(1)
    assert [len(d["seeds"]) for d in entry.decisions] == [3, 5]
    assert entry.decisions[0]["decision"] == "suggestive"
    assert status == {"proceed": "Validated", "suggestive": "Inconclusive", "noise": "Failed"}[entry.decisions[1]["decision"]]
    report = runner.workspace.experiment_report("beta_idea", "3k").read_text()
    assert "false positives" in report and "| 1024 |" in report


def test_noise_branch_fails_the_idea_and_moves_on(study):
    runner, base42 = study
    disc = discovery_with(runner, [("gamma_idea", "positional"), ("delta_idea", "normalization")])
    status = run_slot(disc, 1, {s: OFFSETS[s] + 0.0005 for s in OFFSETS}, base42)
    assert status == "Failed" and decide(disc.journal().entry_for_slot(1).decisions[0]["d"]).value == "noise"
    failed = disc.journal().entry_for_slot(1).idea
    record = disc.ideate(2)
    assert record["candidates"] == sorted({"gamma_idea", "delta_idea"} - {failed})  # never proposed again


def test_three_failures_end_the_loop_with_an_honest_summary(study):
    runner, base42 = study
    disc = discovery_with(runner, [("i_one", "optimizer"), ("i_two", "attention"), ("i_three", "positional"),
                                   ("i_four", "normalization")])
    for slot in (1, 2, 3):
        assert run_slot(disc, slot, {s: OFFSETS[s] + 0.002 for s in OFFSETS}, base42) == "Failed"
    with pytest.raises(SlotSkipped, match="at most 3 ideas"):
        disc.check_slot(4)
    assert disc.winner() is None
    text = conclude.summary(disc)
    assert "All 3 ideas failed" in text and "no paper" in text and "Lessons:" in text
    moved = conclude.archive(disc)
    assert len(moved) == 2 and all("archive" in str(p) for p in moved)
    log = runner.workspace.idea_log.read_text()
    assert log.count("- **Status**: Failed") == 3  # failed ideas are never deleted


def test_flag_off_verification_catches_a_planted_leak(study):
    runner, base42 = study
    folder = runner.workspace.root / "experiments" / "ideas"
    folder.mkdir(parents=True)
    (folder / "leaky.py").write_text(LEAKY)
    original = trainer.model.cross_entropy_loss
    try:
        disc = Discovery(runner)
        everything = discover_ideas([folder])  # importing the module plants the leak
        disc._ideas = {"leaky": everything["leaky"]}
        disc.ideate(1)
        disc.review(1)
        disc.refine(1)
        result = disc.verify(1)
    finally:
        trainer.model.cross_entropy_loss = original
    assert not result["passed"] and result["bit_identical"] is False
    assert "NOT identical" in result["summary"]
    entry = disc.journal().entry_for_slot(1)
    assert entry.status == "Failed" and "rejected before any experimental run" in entry.status_history[-1]["note"]
    with pytest.raises(SlotSkipped):
        disc.arm_run(1, "exp", 42)


def test_user_ideas_are_discovered_listed_and_judged_like_built_ins(study, tmp_path):
    runner, _ = study
    write_idea(tmp_path, "my_user_idea", "attention")
    ideas = discover_ideas([tmp_path / "experiments" / "ideas"])
    assert "my_user_idea" in ideas and len(ideas) > 8
    disc = Discovery(runner)
    record = disc.ideate(1)
    assert "my_user_idea" in record["candidates"]  # researchers' ideas are considered first in their category
    scores = {s["idea"]: s for s in record["scores"]}
    assert scores["my_user_idea"]["feasibility"] == 5 and scores["my_user_idea"]["novelty"] == 5
