"""Phase 2 and the closing phases, driven step by step as the experiment tests drive
them. Baseline seed 42 and every flag-off verification are real (tiny) training runs;
the other runs are planted records with chosen losses, so each branch is reached on
purpose: proceed (preliminary), confirmation (confirmed), suggestive with extension,
noise, three failures, a leak caught before any experimental run."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import trainer.model
from research_harness import conclude
from research_harness.agent.backends import CatalogueAgent
from research_harness.baseline import BASELINE
from research_harness.discovery.study import Discovery, SlotSkipped
from research_harness.runner import Arm, Runner
from research_harness.workspace import (
    ARM_SEEDS,
    BASELINE_SEEDS,
    CONFIRMATION_SEEDS,
    EXTENSION_SEEDS,
    Settings,
    Workspace,
)
from trainer.ideas import discover_ideas

IDEA_TEMPLATE = '''
import torch
from trainer.ideas.base import Idea, extend_module


class _Temperature:
    def attend(self, q, k, v):
        return super().attend(q * self.temperature, k, v)


class _Tempered(Idea):
    def patch_model(self, model):
        for block in model.blocks:
            block.attn.temperature = torch.nn.Parameter(torch.ones(block.attn.n_heads, 1, 1))
            extend_module(block.attn, _Temperature)


IDEA = _Tempered(
    name="{name}", title="{title}", category="{category}",
    pitch="A learnable temperature per head.", math="q_h \\\\leftarrow \\\\tau_h q_h",
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

# Baseline offsets from the real seed-42 loss (the control arm is the baseline).
OFFSETS = {42: 0.0, 137: 0.01, 256: -0.01, 512: 0.02, 1024: -0.02}
JITTER = {42: 0.012, 137: -0.015, 256: 0.004, 512: -0.003, 1024: 0.003}


def write_idea(ws_root, name, category):
    folder = ws_root / "experiments" / "ideas"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(IDEA_TEMPLATE.format(name=name, title=f"Test idea {name}", category=category))


def make_runner(tmp_path, **settings) -> Runner:
    return Runner(Settings(research_dir=tmp_path, tokens=3000, preset="tiny", device="cpu", **settings), Workspace(tmp_path),
                  log=lambda *a: None)


@pytest.fixture
def study(tmp_path, data_dir):
    runner = make_runner(tmp_path)
    base42, trained = runner.get_or_train(BASELINE, 42)
    assert trained
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


def discovery_with(runner, names_categories, seed=0):
    for name, category in names_categories:
        write_idea(runner.workspace.root, name, category)
    everything = discover_ideas(runner.idea_dirs)
    subset = {n: everything[n] for n, _ in names_categories}
    disc = Discovery(runner, agent=CatalogueAgent(lambda: subset, seed))
    disc._ideas = subset
    return disc


def run_slot(disc: Discovery, slot: int, exp_offsets: dict, base42: dict) -> str:
    """Drive one slot as the experiment tests do, with planted experimental losses."""
    disc.review(slot)
    disc.refine(slot)
    disc.implement(slot)
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


def better(by: float) -> dict:
    return {s: OFFSETS[s] - by + JITTER[s] for s in OFFSETS}


def test_proceed_at_three_seeds_is_preliminary_and_never_called_validated(study):
    runner, base42 = study
    disc = discovery_with(runner, [("alpha_idea", "attention")])
    assert run_slot(disc, 1, better(0.03), base42) == "Proceeded (preliminary)"
    entry = disc.journal().entry_for_slot(1)
    decision = entry.decisions[0]
    assert decision["decision"] == "proceed" and decision["evidence"]["level"] == "preliminary"
    assert entry.verdict == "preliminary: passed the workflow's gate, not confirmed"
    assert "μ_control=" in entry.result and "paired t p=" in entry.result
    with pytest.raises(SlotSkipped, match="proceeds to the paper"):
        disc.ideate(2)
    report = runner.workspace.experiment_report("alpha_idea", "3k").read_text()
    for needle in ("Cohen's d", "Hedges' g", "95% CI of the standardized effect", "Paired d_z",
                   "Pre-registered test (decides the evidence) | paired t", "p adjusted for the looks and the study's",
                   "Evidence level | **preliminary**", "passes by chance", "Not the research scale",
                   "![Validation loss during training"):
        assert needle in report, needle
    assert "Seeds were added after a first look" not in report  # one look: no peeking caveat
    assert (runner.workspace.research_docs / "figures" / "alpha_idea_val_loss_curves.png").exists()
    # The idea's module is named relative to the workspace, in the report and in the idea log alike.
    module = runner.workspace.shown_path(disc.ideas()["alpha_idea"].source_file)
    assert not Path(module).is_absolute() and f"`{module}`" in report
    assert str(runner.workspace.root) not in report
    assert str(runner.workspace.root) not in runner.workspace.idea_log("3k").read_text()
    log = runner.workspace.idea_log("3k").read_text()
    assert "## RID-01" in log and "Proceeded (preliminary)" in log and "| Validated |" not in log
    assert "- **Evidence**: preliminary" in log
    for field in ("# Ideation and review", "- **Pitch**:", "- **Math**:", "- **Pro**:", "- **Con**:", "- **Flag**: `--use_",
                  "| Candidate | Feasibility | Novelty | Testability | Total | Why |"):
        assert field in log, field

    from research_harness.paper import write_paper

    result = write_paper(conclude.paper_inputs(disc, entry), runner.workspace.papers, agent=disc.agent,
                         compile_pdf=False)
    assert result.passed, result.findings
    assert "preliminary" in result.title and "the stored baseline runs of the same seeds" in \
        result.markdown_path.read_text()
    provenance = json.loads(result.provenance_path.read_text())
    numbers = {n["name"]: n["text"] for n in provenance["numbers"]}
    assert numbers["n.runs"] == "8"  # 5 baseline runs (3 of them the control arm) and 3 experimental runs
    assert provenance["evidence_level"] == entry.evidence["level"]  # the paper and the journal agree
    summary = conclude.summary(disc)
    assert "Evidence: PRELIMINARY" in summary and "CONFIRMED" not in summary and "Hedges' g" in summary
    assert conclude.archive(disc) == []  # the final report, the paper and its figures stay in place


def assert_engine_agrees(disc: Discovery) -> None:
    """The recorded study replayed through the study engine (research_harness.engine) gives the
    journal's outcome: which idea proceeded, and confirmed / not confirmed / reversed."""
    from research_harness.discovery.replay import disagreements, replay

    assert disagreements(disc) == []
    step = replay(disc)
    journal = disc.journal()
    proceeded = disc.proceeded()
    assert step.paper_idea[0] == (proceeded.slot - 1 if proceeded else -1)
    for entry in journal.entries:
        if entry.status in ("Failed", "Inconclusive"):
            assert step.tried[0, entry.slot - 1] and step.paper_idea[0] != entry.slot - 1
        assert step.second_look[0, entry.slot - 1] == (len(entry.decisions) > 1 and entry.decisions[1]["look"] == 1)
    if proceeded is None:
        return
    done = any(d["look"] == 2 for d in proceeded.decisions)
    assert (step.state[0] == 1) == (done or not disc.design()["confirm"])  # waiting for its fresh seeds otherwise
    assert step.confirmed[0] == (proceeded.status == "Validated")
    assert step.not_confirmed[0] == (proceeded.status == "Not confirmed")
    assert step.reversed[0] == bool(proceeded.evidence.get("reversed"))


def confirm_with(disc: Discovery, slot: int, fresh: dict, base42: dict) -> dict:
    """Drive the confirmation as test_phase2_discovery's test_confirmation does, with planted
    losses on the fresh seeds: {seed: (control offset, experimental offset)}."""
    runner = disc.runner
    entry = disc.journal().entry_for_slot(slot)
    extra = disc.confirmation_seeds(slot)
    assert extra == list(CONFIRMATION_SEEDS[:len(extra)]) and len(extra) >= 6
    assert not set(extra) & set(BASELINE_SEEDS)  # fresh: never the gate's seeds
    for seed in extra:
        c, e = fresh[seed]
        plant(runner, BASELINE, seed, base42["val_loss"] + c, base42)
        plant(runner, Arm("exp", (entry.idea,)), seed, base42["val_loss"] + e, base42)
    for which in ("control", "exp"):
        for seed in extra:
            record, trained = disc.confirmation_run(slot, which, seed)
            assert record["seed"] == seed and not trained
    with pytest.raises(SlotSkipped, match="not a confirmation seed"):
        disc.confirmation_run(slot, "exp", 42)
    return disc.confirm(slot)


def _fresh(shift: float) -> dict:
    """Fresh seeds whose experimental arm is lower by ``shift`` nats, give or take a little."""
    return {s: (0.01 * (-1) ** i, 0.01 * (-1) ** i - shift + 0.002 * (i % 3 - 1))
            for i, s in enumerate(CONFIRMATION_SEEDS[:10])}


def _study(tmp_path, **settings):
    runner = make_runner(tmp_path, **settings)
    base42, _ = runner.get_or_train(BASELINE, 42)
    for seed in BASELINE_SEEDS[1:]:
        plant(runner, BASELINE, seed, base42["val_loss"] + OFFSETS[seed], base42)
    return runner, base42


def test_a_confirmation_on_fresh_seeds_can_confirm(tmp_path, data_dir):
    runner, base42 = _study(tmp_path)
    disc = discovery_with(runner, [("beta_idea", "attention")])
    assert run_slot(disc, 1, better(0.03), base42) == "Proceeded (preliminary)"
    decision = confirm_with(disc, 1, _fresh(0.03), base42)
    entry = disc.journal().entry_for_slot(1)
    assert decision["look"] == 2 and decision["seeds"] == entry.confirmation["seeds"]  # the fresh seeds only
    assert entry.evidence["level"] == "confirmed" and entry.status == "Validated" == decision["status"]
    assert entry.evidence["deciding_look"] == 2 and entry.evidence["alpha_effective"] == 0.05
    assert disc.confirm(1) == decision  # resumable: a second call adds nothing
    assert "confirmation on fresh seeds" in runner.workspace.experiment_report("beta_idea", "3k").read_text()
    assert_engine_agrees(disc)
    # The engine referees the live flow: a journal that says something its records do not is an error.
    from research_harness.discovery.replay import require_agreement

    with disc.editing() as journal:
        journal.entry_for_slot(1).evidence["level"] = "not confirmed"
    with pytest.raises(RuntimeError, match="confirmed: journal False, engine True"):
        require_agreement(disc)


def test_the_confirmation_is_fixed_and_journaled_before_it_runs_and_ignores_the_gates_seeds(tmp_path, data_dir):
    """Regression (issue 15): with --research-confirm --research-max-seeds 5 a gate that proceeded at 5
    seeds got a "confirmation look" on the same 5 seeds and became Validated. Now the gate's seeds
    never confirm: the seeds below would pass that old look, and the fresh seeds (no effect) decide."""
    runner, base42 = _study(tmp_path)
    disc = discovery_with(runner, [("mu_idea", "attention")])
    # d = 0.499 at 3 seeds (suggestive), 0.52 at 5 (proceed); paired p = 0.0063 at 5 seeds.
    offsets = {42: -0.0072, 137: 0.0079, 256: -0.0181, 512: 0.0066, 1024: -0.0319}
    assert run_slot(disc, 1, offsets, base42) == "Proceeded (preliminary)"
    entry = disc.journal().entry_for_slot(1)
    assert [d["decision"] for d in entry.decisions] == ["suggestive", "proceed"]
    assert entry.evidence["level"] == "preliminary" and "has not run yet" in entry.evidence["reason"]
    seeds = disc.confirmation_seeds(1)
    entry = disc.journal().entry_for_slot(1)  # the plan is in the journal before any confirmation run exists
    plan = entry.confirmation
    assert plan["seeds"] == seeds and plan["n"] == len(seeds) and "power" in plan["reason"]
    assert plan["source"] == "the plan's expected_effect.sigmas"
    assert all(runner.lookup(BASELINE, s) is None for s in seeds)
    assert f"confirmation fixed before any run: {len(seeds)} fresh seeds" in entry.status_history[-1]["note"]
    lost = {s: (0.01 * (-1) ** i, 0.01 * (-1) ** i + (0.004 if i % 2 else -0.005)) for i, s in
            enumerate(CONFIRMATION_SEEDS[:10])}
    decision = confirm_with(disc, 1, lost, base42)
    entry = disc.journal().entry_for_slot(1)
    assert decision["seeds"] == seeds and entry.status == "Not confirmed" and entry.evidence["level"] == "not confirmed"
    assert not entry.evidence["reversed"] and disc.proceeded().idea == "mu_idea"  # the study still ends here
    assert "| Validated |" not in runner.workspace.idea_log("3k").read_text()
    assert_engine_agrees(disc)


def test_a_reversed_confirmation_is_reported_as_reversed(tmp_path, data_dir):
    runner, base42 = _study(tmp_path)
    disc = discovery_with(runner, [("nu_idea", "attention")])
    assert run_slot(disc, 1, better(0.03), base42) == "Proceeded (preliminary)"
    confirm_with(disc, 1, _fresh(-0.03), base42)  # every fresh seed about 0.03 nats WORSE
    entry = disc.journal().entry_for_slot(1)
    assert entry.status == "Not confirmed" and entry.evidence["reversed"] and entry.evidence["effect_nats"] < 0
    assert entry.verdict == "not confirmed: the effect reversed on fresh seeds"
    assert any("did not replicate" in lesson for lesson in entry.lessons)
    assert_engine_agrees(disc)
    summary = conclude.summary(disc)
    assert "NOT CONFIRMED" in summary and "REVERSED" in summary and "CONFIRMED on fresh" not in summary

    from research_harness.paper import write_paper

    result = write_paper(conclude.paper_inputs(disc, entry), runner.workspace.papers, agent=disc.agent,
                         compile_pdf=False)
    assert result.passed, result.findings
    text = result.markdown_path.read_text()
    assert "reversed" in result.title and "the effect reversed" in text
    assert "would settle it" not in text and "confirmation mode" not in text  # no advice to run what just ran


def test_the_aa_phase_runs_the_engine_and_confirms_in_its_own_seed_block(study):
    """The A/A repetition is driven by the study engine: it asks for exactly the runs the flow
    needs (3 gate seeds, then the block's fresh seeds once the gate proceeds), and a study
    designed without confirmation stops at the gate."""
    from research_harness.discovery import aa

    runner, base42 = study
    control_arm, exp_arm = aa.arms()
    n = aa.confirmation_count(runner)
    seeds = aa.seeds_for(1, len(BASELINE_SEEDS) + n)
    assert seeds[0] == 100_100 and not set(seeds) & (set(CONFIRMATION_SEEDS) | set(BASELINE_SEEDS))
    for i, seed in enumerate(seeds):  # the gate's seeds: the null arm 0.03 lower (proceeds); fresh seeds: no effect
        c = 0.01 * (-1) ** i
        plant(runner, control_arm, seed, base42["val_loss"] + c, base42)
        plant(runner, exp_arm, seed, base42["val_loss"] + c - (0.03 if i < 3 else 0.0) + 0.002 * (i % 3 - 1), base42)
    asked = []
    result = aa.run_repetition(runner, 1, lambda arm, rec, trained: asked.append((arm.name, rec["seed"])))
    wanted = seeds[:3] + seeds[len(BASELINE_SEEDS):]  # never the block's 4th and 5th seeds: the gate was not suggestive
    assert sorted(asked) == sorted([(a.name, s) for a in (control_arm, exp_arm) for s in wanted])
    assert result["paper"] and result["level"] == "not confirmed" and result["confirmation_seeds"] == n
    skipped = aa.run_repetition(make_runner(runner.workspace.root, confirm=False), 1)
    assert skipped["paper"] and skipped["level"] == "preliminary" and skipped["confirmation_seeds"] == 0


def test_suggestive_branch_runs_the_extension_seeds_and_decides_again(study):
    runner, base42 = study
    disc = discovery_with(runner, [("gamma_idea", "optimizer")])
    offsets = {42: -0.001, 137: 0.004, 256: -0.012, 512: 0.0, 1024: -0.045}
    status = run_slot(disc, 1, offsets, base42)
    entry = disc.journal().entry_for_slot(1)
    assert [len(d["seeds"]) for d in entry.decisions] == [3, 5] and entry.decisions[0]["decision"] == "suggestive"
    assert status == entry.decisions[1]["status"] != "Validated"
    report = runner.workspace.experiment_report("gamma_idea", "3k").read_text()
    assert "Seeds were added after a first look" in report and "| 1024 |" in report
    assert_engine_agrees(disc)


def test_noise_branch_fails_the_idea_and_never_proposes_it_again(study):
    runner, base42 = study
    disc = discovery_with(runner, [("delta_idea", "positional"), ("eps_idea", "normalization")])
    assert run_slot(disc, 1, {s: OFFSETS[s] + JITTER[s] / 10 for s in OFFSETS}, base42) == "Failed"
    failed = disc.journal().entry_for_slot(1)
    assert "did not beat the baseline's noise" in " ".join(failed.lessons)
    assert "hurt" not in failed.verdict and "consistent" not in failed.verdict
    assert disc.ideate(2)["candidates"] == sorted({"delta_idea", "eps_idea"} - {failed.idea})
    assert run_slot(disc, 2, {s: OFFSETS[s] + 0.03 + JITTER[s] / 3 for s in OFFSETS}, base42) == "Failed"
    hurt = disc.journal().entry_for_slot(2)
    assert hurt.decisions[0]["d"] < -0.2
    # A clear loss is said to have hurt, with its interval, not called noise.
    for text in (hurt.verdict, " ".join(hurt.lessons), hurt.status_history[-1]["note"]):
        assert "it hurt: val_loss rose by" in text and "entirely below zero" in text, text
    assert "did not beat the baseline's noise" not in " ".join(hurt.lessons)


def test_a_consistent_improvement_below_the_threshold_is_said_to_be_one(study):
    """Better on every seed by 0.0008 nats: the gate's d stays below 0.2 (its decision is
    noise), but the words say what the seeds show, with the interval."""
    runner, base42 = study
    disc = discovery_with(runner, [("zeta_idea", "optimizer")])
    assert run_slot(disc, 1, {s: OFFSETS[s] - 0.0008 + JITTER[s] / 100 for s in OFFSETS}, base42) == "Failed"
    entry = disc.journal().entry_for_slot(1)
    assert 0 < entry.decisions[0]["d"] < 0.2 and entry.decisions[0]["decision"] == "noise"
    assert "consistent but below the workflow's threshold" in entry.verdict and "entirely above zero" in entry.verdict
    assert "consistent but below the workflow's threshold" in " ".join(entry.lessons)
    report = runner.workspace.experiment_report("zeta_idea", "3k").read_text()
    assert "consistent but below the workflow's threshold" in report


def test_three_failures_end_the_loop_with_an_honest_summary(study):
    runner, base42 = study
    disc = discovery_with(runner, [("i_one", "optimizer"), ("i_two", "attention"), ("i_three", "positional"),
                                   ("i_four", "normalization")])
    for slot in (1, 2, 3):
        assert run_slot(disc, slot, {s: OFFSETS[s] + 0.002 for s in OFFSETS}, base42) == "Failed"
    with pytest.raises(SlotSkipped, match="at most 3 ideas"):
        disc.check_slot(4)
    assert_engine_agrees(disc)
    assert disc.proceeded() is None
    text = conclude.summary(disc)
    assert "No idea passed the gate, so no paper was written: of 3 idea(s) tried, 3 failed." in text
    assert "Lessons:" in text
    moved = conclude.archive(disc)
    assert moved and all("archive" in str(p) for p in moved)
    from research_harness.discovery.study import write_discovery_reports

    write_discovery_reports(runner)  # --research-report at the session's end must not undo the archive step
    final = disc.journal().entries[-1].idea
    assert [p.name for p in runner.workspace.research_docs.glob("experiment_*.md")] == [f"experiment_{final}_3k.md"]
    assert runner.workspace.idea_log("3k").read_text().count("- **Status**: Failed") == 3


def test_flag_off_verification_catches_a_planted_leak(study):
    runner, _ = study
    folder = runner.workspace.root / "experiments" / "ideas"
    folder.mkdir(parents=True)
    (folder / "leaky.py").write_text(LEAKY)
    original = trainer.model.cross_entropy_loss
    try:
        subset = {"leaky": discover_ideas([folder])["leaky"]}  # importing the module plants the leak
        disc = Discovery(runner, agent=CatalogueAgent(lambda: subset))
        disc._ideas = subset
        disc.review(1)
        disc.refine(1)
        result = disc.verify(1)
    finally:
        trainer.model.cross_entropy_loss = original
    assert not result["passed"] and result["bit_identical"] is False and "NOT identical" in result["summary"]
    entry = disc.journal().entry_for_slot(1)
    assert entry.status == "Failed" and "rejected before any experimental run" in entry.status_history[-1]["note"]
    with pytest.raises(SlotSkipped):
        disc.arm_run(1, "exp", 42)


def test_two_processes_reviewing_one_slot_write_one_entry(study):
    """The journal's read-change-write is locked: concurrent sessions never lose or duplicate an entry."""
    runner, _ = study
    write_idea(runner.workspace.root, "zeta_idea", "attention")
    code = textwrap.dedent(f"""
        from research_harness.discovery.study import Discovery
        from research_harness.runner import Runner
        from research_harness.workspace import Settings, Workspace
        from pathlib import Path
        root = Path({str(runner.workspace.root)!r})
        runner = Runner(Settings(research_dir=root, tokens=3000, preset="tiny", device="cpu"), Workspace(root), log=lambda *a: None)
        disc = Discovery(runner)
        print(disc.review(1)["selected"])
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert outs[0][0] == outs[1][0]
    assert len(disc_entries := Discovery(runner).journal().entries) == 1 and disc_entries[0].slot == 1


def test_refine_is_told_the_preset_the_study_runs(tmp_path):
    """The catalogue's probe runs on the tiny preset; the plan must name the study's own."""
    assert Discovery(make_runner(tmp_path)).preset_name() == "tiny"
    default = Runner(Settings(research_dir=tmp_path, tokens=3000, device="cpu"), Workspace(tmp_path), log=lambda *a: None)
    assert Discovery(default).preset_name() == "cpu-small"


def test_a_diverged_run_is_a_result_never_retrained(study):
    from trainer.run import TrainingDiverged

    runner, base42 = study
    disc = discovery_with(runner, [("omega_idea", "attention")])
    disc.review(1)
    plan = disc.refine(1)
    assert "the study's own preset" in plan["probe_scope"] and "tiny preset" in plan["hypothesis"]
    disc.implement(1)
    assert disc.verify(1)["passed"]
    _, entry = disc.entry(1)
    arm = Arm("exp", (entry.idea,))
    failed = {**copy.deepcopy(base42), "status": "failed", "val_loss": float("nan"), "run_key": runner.key(arm, 42),
              "failure": {"step": 3, "tokens": 1536, "loss": float("nan"), "reason": "training loss became nan at step 3"}}
    runner.store.put_failed(failed)
    for _ in range(2):  # a later session neither retrains it nor repeats the lesson
        with pytest.raises(TrainingDiverged, match="stored failed run"):
            disc.arm_run(1, "exp", 42)
    assert runner.lookup(arm, 42) is None
    assert sum("diverged" in lesson for lesson in disc.journal().entry_for_slot(1).lessons) == 1


def test_the_design_is_fixed_at_the_first_gate(tmp_path, data_dir):
    """A study begun with --research-no-confirm cannot gain a confirmation in a later session:
    its budget and its best level were fixed at its first gate."""
    runner, base42 = _study(tmp_path, confirm=False)
    disc = discovery_with(runner, [("kappa_idea", "attention")])
    assert run_slot(disc, 1, better(0.03), base42) == "Proceeded (preliminary)"
    assert disc.journal().design == {"confirm": False, "max_confirm_seeds": 10}
    entry = disc.journal().entry_for_slot(1)
    assert "--research-no-confirm" in entry.evidence["reason"] and "skipped" in entry.status_history[-1]["note"]
    assert_engine_agrees(disc)
    later = Runner(Settings(research_dir=runner.workspace.root, tokens=3000, preset="tiny", device="cpu"),
                   runner.workspace, log=lambda *a: None)
    with pytest.raises(SlotSkipped, match="--research-no-confirm"):
        Discovery(later, agent=disc.agent).confirmation_seeds(1)


def test_cleanup_waits_for_a_run_in_training_and_tolerates_a_folder_already_gone(tmp_path):
    """The workflow's cleanup removes checkpoints by pattern; a folder whose run another
    session holds (it is training it) stays until that session lets go."""
    import threading

    runner = make_runner(tmp_path)
    busy, idle = (runner.workspace.checkpoint_dir("baseline", "3k", seed, key)
                  for seed, key in ((42, "aaaa1111"), (137, "bbbb2222")))
    for folder in (busy, idle):
        folder.mkdir(parents=True)
        (folder / "checkpoint.pt").write_bytes(b"x")
    other_session = runner.store.lock("aaaa1111")
    other_session.acquire()
    removed = []
    cleanup = threading.Thread(target=lambda: removed.extend(runner.remove_checkpoints("baseline_3k_seed*")))
    cleanup.start()
    cleanup.join(timeout=1.0)
    assert cleanup.is_alive() and busy.exists()  # still held: not deleted under the other session
    other_session.release()
    cleanup.join(timeout=10)
    assert not cleanup.is_alive() and not busy.exists() and not idle.exists()
    assert sorted(removed) == sorted([busy, idle])
    assert runner.remove_checkpoints("baseline_3k_seed*") == []  # nothing left: no error


@pytest.mark.parametrize("device, delta, passed, identical, words", [
    ("cpu", 0.0, True, True, "bit-identical to"),
    ("cpu", 1e-9, False, False, "NOT identical to"),
    ("cuda", 0.0, True, True, "bit-identical to"),
    ("cuda", 0.009, True, False, "within 1 sigma (delta +0.009 nats) of"),
    ("cuda", -0.011, False, False, "further than 1 sigma (delta -0.011 nats) from"),
])
def test_the_flag_off_gate_is_bit_identity_on_cpu_and_a_measured_tolerance_on_cuda(device, delta, passed, identical,
                                                                                  words):
    """On CUDA a rerun within the tolerance passes but is never called bit-identical (the
    paper's "reproduced bit for bit" reads that flag)."""
    from research_harness.discovery.study import CUDA_TOLERANCE_SIGMAS, flag_off_gate

    assert CUDA_TOLERANCE_SIGMAS == 1.0
    reference = {"val_loss": 5.3239, "code_fingerprint": "c0de", "device": {"type": device}}
    rerun = {**reference, "val_loss": 5.3239 + delta}
    got_passed, got_identical, how, rule = flag_off_gate(reference, rerun, sigma=0.01)
    assert (got_passed, got_identical) == (passed, identical) and how.startswith(words)
    assert ("CUDA tolerance" in rule) == (device == "cuda")
    other_code = {**rerun, "code_fingerprint": "beef"}
    assert flag_off_gate(reference, other_code, sigma=0.01)[:2] == (None, None)
    assert flag_off_gate(None, rerun, sigma=0.01)[:2] == (None, None)
    assert flag_off_gate({**reference, "device": {"type": "cpu" if device == "cuda" else "cuda"}}, rerun, 0.01)[0] is None


def test_a_journal_from_the_old_same_seed_confirmation_is_refused_and_left_alone(tmp_path):
    """Before fresh-seed confirmation, 'confirmed' came from the gate's own seeds: such a
    journal is not read as if its levels meant what this version says."""
    from research_harness.discovery.journal import Journal

    path = tmp_path / "idea_log.json"
    path.write_text(json.dumps({"entries": [], "ideation": {}, "design": {"confirm": True, "max_seeds": 5}}))
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="older research_harness.*fresh seeds.*Fix: move it"):
        Journal.load(path)
    assert path.read_bytes() == before
    path.write_text(json.dumps({"entries": [], "ideation": {}, "design": {"confirm": True, "max_confirm_seeds": 8}}))
    assert Journal.load(path).design["max_confirm_seeds"] == 8
