"""Phase 2: the autonomous discovery loop, at most three ideas.

Each idea slot is a test class whose tests run in the workflow's order: ideation (3
candidates from the research agent), review (scores, selection), refinement (plan,
idea log), implementation (a model's code is guarded and smoke-trained first),
flag-off verification, control and experimental arms (seeds 42, 137, 256; sequential),
the Cohen's d gate with the evidence level beside it, extension seeds 512 and 1024 when
suggestive, the final gate, the confirmation on fresh seeds when the gate proceeds (fixed
and journaled before its first run; --research-no-confirm skips it) and the cleanup.
A slot runs only if every earlier idea failed; steps that are not needed are skipped
with the reason (`pytest -rs` tells the story). An idea that fails is an expected
outcome of research, reported as xfail with the reason, not an error."""


import pytest

from research_harness.discovery.study import Discovery, IdeaFailed, SlotSkipped
from research_harness.gates import Decision
from research_harness.workspace import ARM_SEEDS, EXTENSION_SEEDS
from trainer.run import TrainingDiverged

pytestmark = pytest.mark.research_phase("discovery")

seed_ids = lambda s: f"seed={s}"  # noqa: E731


@pytest.fixture(scope="module")
def discovery(research):
    return Discovery(research.runner)


def _step(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except SlotSkipped as exc:
        pytest.skip(str(exc))
    except IdeaFailed as exc:
        pytest.xfail(str(exc))


class IdeaSlot:
    slot = 0

    def test_ideation(self, discovery, record_property):
        record = _step(discovery.ideate, self.slot)
        assert len(record["candidates"]) >= 1 and len(record["proposals"]) == len(record["candidates"])
        record_property("research_note", f"idea {self.slot} candidates: {', '.join(record['candidates'])}")

    def test_review(self, discovery, record_property):
        record = _step(discovery.review, self.slot)
        assert record["selected"] in record["candidates"]
        assert {s["name"] for s in record["scores"]} == set(record["candidates"])
        record_property("research_note", f"idea {self.slot} selected: {record['selected']}")

    def test_refinement(self, discovery):
        plan = _step(discovery.refine, self.slot)
        assert plan["hypothesis"] and plan["control"] and plan["experimental"] and plan["expected_effect"]

    def test_implementation(self, discovery):
        info = _step(discovery.implement, self.slot)
        assert info["ok"] and info["module"]

    def test_verify_flag_off(self, discovery, record_property):
        result = _step(discovery.verify, self.slot)
        record_property("research_note", f"idea {self.slot} flag-off verification: {result['summary']}")
        if not result["passed"]:
            pytest.xfail(f"the flag-off path is not the baseline: {result['summary']}")

    @pytest.mark.parametrize("seed", ARM_SEEDS, ids=seed_ids)
    def test_control(self, seed, discovery, record_run):
        rec, trained = _step(discovery.arm_run, self.slot, "control", seed)
        assert rec["seed"] == seed and not rec["flags"]
        record_run(f"control{self.slot}", rec, trained)

    @pytest.mark.parametrize("seed", ARM_SEEDS, ids=seed_ids)
    def test_experimental(self, seed, discovery, record_run):
        try:
            rec, trained = _step(discovery.arm_run, self.slot, "exp", seed)
        except TrainingDiverged as exc:
            pytest.xfail(f"experimental seed {seed} diverged: {exc}")
        _, entry = discovery.entry(self.slot)
        assert rec["seed"] == seed and rec["flags"] == [entry.idea]
        record_run(f"exp{self.slot}", rec, trained)

    def test_gate(self, discovery, record_property):
        decision = _step(discovery.gate, self.slot)
        _, entry = discovery.entry(self.slot)
        assert entry.status == decision["status"] and decision["look"] == 0
        record_property("research_note", f"idea {self.slot} ({entry.idea}) gate at 3 seeds: d = {decision['d']:.3f} "
                                         f"-> {decision['decision']}; {entry.verdict}")
        if decision["decision"] == Decision.NOISE.value:
            pytest.xfail(f"{entry.idea}: Cohen's d = {decision['d']:.3f} < 0.2, the gate's decision is noise "
                         f"({entry.verdict}); marked Failed, next idea")

    @pytest.mark.parametrize("seed", EXTENSION_SEEDS, ids=seed_ids)
    def test_extension_control(self, seed, discovery, record_run):
        rec, trained = _step(discovery.arm_run, self.slot, "control", seed, extension=True)
        assert rec["seed"] == seed
        record_run(f"control{self.slot}", rec, trained)

    @pytest.mark.parametrize("seed", EXTENSION_SEEDS, ids=seed_ids)
    def test_extension_experimental(self, seed, discovery, record_run):
        try:
            rec, trained = _step(discovery.arm_run, self.slot, "exp", seed, extension=True)
        except TrainingDiverged as exc:
            pytest.xfail(f"experimental seed {seed} diverged: {exc}")
        assert rec["seed"] == seed
        record_run(f"exp{self.slot}", rec, trained)

    def test_final_gate(self, discovery, record_property):
        decision = _step(discovery.gate, self.slot, final=True)
        _, entry = discovery.entry(self.slot)
        assert decision["look"] == 1 and len(decision["seeds"]) == 5
        record_property("research_note", f"idea {self.slot} ({entry.idea}) gate at 5 seeds: d = {decision['d']:.3f} "
                                         f"-> {entry.status}")
        if decision["decision"] != Decision.PROCEED.value:
            pytest.xfail(f"{entry.idea}: Cohen's d = {decision['d']:.3f} after 5 seeds per arm: {entry.status}")

    def test_confirmation(self, discovery, record_run, record_property):
        extra = _step(discovery.confirmation_seeds, self.slot)
        for which in ("control", "exp"):
            for seed in extra:
                rec, trained = _step(discovery.confirmation_run, self.slot, which, seed)
                record_run(f"{which}{self.slot}", rec, trained)
        decision = _step(discovery.confirm, self.slot)
        _, entry = discovery.entry(self.slot)
        level = (decision.get("evidence") or {}).get("level", entry.evidence.get("level"))
        record_property("research_note", f"idea {self.slot} ({entry.idea}) confirmation on {len(decision['seeds'])} "
                                         f"fresh seeds per arm: evidence {level}")
        assert decision["look"] == 2 and entry.status in ("Validated", "Not confirmed", "Proceeded (preliminary)")

    def test_report_and_cleanup(self, discovery, research, record_property):
        try:
            _, entry = discovery.entry(self.slot)
        except SlotSkipped as exc:
            pytest.skip(str(exc))
        path = discovery.write_report(self.slot)
        if path:
            assert path.exists()
            record_property("research_report_written", str(path))
        record_property("research_report_written", str(research.workspace.idea_log(research.settings.label)))
        label = research.settings.label
        research.runner.remove_checkpoints(f"baseline_{label}_seed*", f"exp_{label}_seed*", f"verify_{label}_seed*")
        assert research.workspace.idea_log(research.settings.label).exists()
        assert not list(research.workspace.checkpoints.glob(f"exp_{label}_seed*"))


class TestIdea1(IdeaSlot):
    slot = 1


class TestIdea2(IdeaSlot):
    slot = 2


class TestIdea3(IdeaSlot):
    slot = 3
