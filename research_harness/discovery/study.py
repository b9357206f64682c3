"""The discovery loop: ideation -> review -> refinement -> implementation -> flag-off
verification -> arms -> the gate -> confirmation on fresh seeds (the default; sized and
written to the journal before its first run). Every step reads its state from the
journal and the run store and writes it back under the journal lock, so any step can be
rerun, resumed or selected alone with -k, and two sessions may share a workspace.

The research agent (catalogue or a model) proposes, reviews, refines and implements;
the statistics (research_harness.gates) decide: the workflow's d gate decides what runs
next, the evidence level what may be claimed. A model's code is untrusted: checked by
the AST guard, smoke-trained in a sandboxed child, then held to the same flag-off
identity and the same gate as any idea; a generated idea that fails is reverted."""

from __future__ import annotations

import hashlib
import math
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from trainer.ideas import Idea, UnknownIdeaError, discover_ideas
from trainer.run import TrainingDiverged

from research_harness import baseline as phase1
from research_harness import gates, vocabulary
from research_harness.agent.protocol import AgentError
from research_harness.discovery.implementation import IMPLEMENT_ATTEMPTS, IdeaFailed, ImplementationSteps
from research_harness.discovery.journal import CLOSED, PROCEEDED, Entry, Journal, format_candidates, write_idea_log
from research_harness.discovery.replay import require_agreement
from research_harness.runner import Arm, Runner
from research_harness.workspace import ARM_SEEDS, CONFIRMATION_SEEDS, EXTENSION_SEEDS, MAX_CONFIRM_SEEDS, MAX_IDEAS

# Tolerance for the flag-off rerun on CUDA, where kernels are not bit-deterministic. Measured
# (docs/BENCHMARKS.md, H100, gpu-88m, 1M tokens): two fresh-session reruns of one seed moved
# val_loss by 0.00095 and 0.00271 nats (0.38 sigma of the seeds at most). The three values'
# standard deviation, 0.0019 nats, puts 3 standard deviations of a rerun's difference at
# 0.008 nats: 0.8 to 1.1 baseline sigma (sigma 0.0098 in phase 1, 0.0071 in the benchmark).
# A smaller leak cannot be told from CUDA's run-to-run noise; the CPU gate (bit-identity) can.
CUDA_TOLERANCE_SIGMAS = 1.0


def flag_off_gate(reference: dict | None, rerun: dict, sigma: float) -> tuple[bool | None, bool | None, str, str]:
    """(passed, bit_identical, how, rule) for a flag-off seed-42 rerun against the stored
    seed-42 run: on CPU it passes when bit-identical; on CUDA within CUDA_TOLERANCE_SIGMAS
    baseline sigma (and is called bit-identical only when it is); without a same-code,
    same-device reference both are None and the workflow's 1-sigma rule decides."""
    comparable = reference is not None and reference["code_fingerprint"] == rerun["code_fingerprint"] and \
        reference["device"]["type"] == rerun["device"]["type"]
    if not comparable:
        return None, None, "compared (no same-code reference record) with", \
            "no same-code seed-42 record exists, so the workflow's 1-sigma rule is the gate"
    delta = rerun["val_loss"] - reference["val_loss"]
    identical = delta == 0
    if rerun["device"]["type"] != "cuda":
        return identical, identical, "bit-identical to" if identical else f"NOT identical to (delta {delta:+.6g} nats)", \
            "the gate is bit-identity on CPU"
    passed = abs(delta) <= CUDA_TOLERANCE_SIGMAS * sigma
    how = ("bit-identical to" if identical else
           f"within {CUDA_TOLERANCE_SIGMAS:g} sigma (delta {delta:+.6g} nats) of" if passed else
           f"further than {CUDA_TOLERANCE_SIGMAS:g} sigma (delta {delta:+.6g} nats) from")
    return passed, identical, how, (f"the gate is a CUDA tolerance of {CUDA_TOLERANCE_SIGMAS:g} baseline sigma: CUDA "
                                    f"kernels are not bit-deterministic, so a smaller leak goes unseen there")


class SlotSkipped(Exception):
    """This step does not run; the message says why (becomes a pytest skip)."""


class Discovery(ImplementationSteps):
    """One study's discovery loop over a runner; the journal and the store hold its state."""

    def __init__(self, runner: Runner, agent=None):
        self.runner, self._agent, self._ideas = runner, agent, None

    @property
    def agent(self):
        """The research agent, built when a step first needs it (reports and summaries never do)."""
        if self._agent is None:
            from research_harness.agent.backends import make_agent  # noqa: PLC0415

            s = self.runner.settings
            self._agent = make_agent(s.agent, workspace=self.runner.workspace.root, ideas=self.ideas,
                                     seed=s.agent_seed)
        return self._agent

    # -- state ------------------------------------------------------------------------------
    @property
    def settings(self):
        return self.runner.settings

    def journal(self) -> Journal:
        journal = Journal.load(self.runner.workspace.journal_json(self.settings.label))
        # A model-written idea is planned from the configuration its configure() made in the
        # sandbox, kept in the journal: resume, reports and the store never need a sandbox for it.
        for entry in journal.entries:
            if entry.implementation.get("generated") and "configured" in entry.implementation:
                self.runner.configured[entry.idea] = entry.implementation["configured"]
        return journal

    @contextmanager
    def editing(self):
        """The journal for one read-change-write, under the workspace's journal lock (two
        sessions may share a workspace). Never train while holding it."""
        with self.runner.workspace.lock("journal"):
            journal = self.journal()
            yield journal
            journal.save()
            write_idea_log(journal, self.runner.workspace.idea_log(self.settings.label))

    def ideas(self) -> dict[str, Idea]:
        # Imported only now, in phase 2, so an idea module cannot touch phase 1's baseline.
        if self._ideas is None:
            self._ideas = discover_ideas(self.runner.idea_dirs, [self.runner.generated_dir])
        return self._ideas

    def _reload_ideas(self) -> None:
        self._ideas = None
        self.runner.forget_plans()

    @property
    def generated_dir(self) -> Path:
        return self.runner.generated_dir

    def baseline_stats(self) -> dict | None:
        base = phase1.load(self.runner, train_missing=False)
        if len(base.values) < 2:
            return None
        s = base.summary
        return {"mean": s.mean, "std": s.std, "n": s.n}

    # -- which slot runs ---------------------------------------------------------------------
    def check_slot(self, slot: int) -> None:
        if slot > MAX_IDEAS:
            raise SlotSkipped(f"at most {MAX_IDEAS} ideas are tried")
        journal = self.journal()
        for earlier in range(1, slot):
            entry = journal.entry_for_slot(earlier)
            error = journal.ideation.get(str(earlier), {}).get("error")
            if error:
                raise SlotSkipped(f"the research agent failed at idea {earlier} ({error}); the study stops there")
            if entry is None or entry.status not in CLOSED:
                raise SlotSkipped(f"idea {earlier} has not concluded yet, so idea {slot} waits")
            if entry.status in PROCEEDED:
                raise SlotSkipped(f"idea {earlier} ({entry.idea}) passed the gate and proceeds to the paper; "
                                  "no further ideas are tried")

    def entry(self, slot: int) -> tuple[Journal, Entry]:
        journal = self.journal()
        entry = journal.entry_for_slot(slot)
        if entry is None:
            raise SlotSkipped(f"idea {slot} has not been selected (run its ideation and review first)")
        return journal, entry

    def require_open(self, slot: int, step: str) -> tuple[Journal, Entry]:
        self.check_slot(slot)
        journal, entry = self.entry(slot)
        if entry.status in ("Failed", "Inconclusive", "Archived"):
            raise SlotSkipped(f"{step} not needed: idea {slot} ({entry.idea}) is {entry.status}")
        return journal, entry

    def preset_name(self) -> str:
        """The preset the study's runs use (--research-preset, else the device's default)."""
        from trainer.config import default_preset_name, resolve_device  # noqa: PLC0415

        return self.settings.preset or default_preset_name(resolve_device(self.settings.device))

    def _context(self, journal: Journal, slot: int) -> dict:
        ws = self.runner.workspace
        report = phase1.report_path(self.runner)
        from trainer.ideas import base as idea_base  # noqa: PLC0415

        return {"slot": slot, "budget": self.settings.label, "journal": journal.outcomes(),
                "tried": sorted(journal.tried()),
                "existing_ideas (names taken: propose new names)": sorted(self.ideas()),
                "baseline": self.baseline_stats(), "extension_points": idea_base.__doc__,
                "baseline_report": report.read_text(encoding="utf-8") if report.exists() else "",
                "idea_log": log.read_text(encoding="utf-8") if (log := ws.idea_log(self.settings.label)).exists() else ""}

    # -- ideation, review, refinement ----------------------------------------------------------
    def ideate(self, slot: int) -> dict:
        self.check_slot(slot)
        journal = self.journal()
        if str(slot) in journal.ideation:
            return journal.ideation[str(slot)]
        try:
            proposals = self.agent.propose(self._context(journal, slot), 3)
            if self.agent.backend != "catalogue":
                # A model's idea gets a module of its own: a name the registry already has would be
                # judged by someone else's code.
                proposals = [p for p in proposals if p["name"] not in self.ideas()]
            error = "" if proposals else "no new idea was proposed (every name is taken or was tried)"
        except AgentError as exc:
            proposals, error = [], str(exc)
        with self.editing() as journal:
            record = journal.ideation.setdefault(str(slot), {
                "candidates": [p["name"] for p in proposals], "proposals": proposals, "scores": [], "selected": None,
                "text": "", "error": error})
        if record.get("error"):
            raise SlotSkipped(f"ideation for idea {slot} failed: {record['error']}; the study stops here")
        return record

    def review(self, slot: int) -> dict:
        record = self.ideate(slot)
        if record.get("selected"):
            return record
        journal = self.journal()
        try:
            review = self.agent.review(record["proposals"], self._context(journal, slot))
        except (AgentError, ValueError) as exc:
            with self.editing() as journal:
                journal.ideation[str(slot)]["error"] = f"review failed: {exc}"
            raise SlotSkipped(f"the review of idea {slot}'s candidates failed ({exc}); the study stops here") from None
        with self.editing() as journal:
            record = journal.ideation[str(slot)]
            if not record.get("selected"):
                best = next(s for s in review["scores"] if s["name"] == review["selected"])
                record.update(scores=review["scores"], selected=review["selected"],
                              text=format_candidates(record["proposals"], review["scores"]))
                meta = next(p for p in record["proposals"] if p["name"] == review["selected"])
                entry = journal.new_entry(meta, slot)
                entry.review = best
                entry.set_status("Under Review", f"selected from {', '.join(record['candidates'])}")
        return record

    def refine(self, slot: int) -> dict:
        journal, entry = self.require_open(slot, "refinement")
        if entry.plan:
            return entry.plan
        try:
            plan = self.agent.refine(entry.metadata, {**self._context(journal, slot), "preset": self.preset_name()})
        except AgentError as exc:
            self._fail(slot, f"refinement failed: {exc}")
            raise IdeaFailed(f"refinement of {entry.idea} failed: {exc}") from None
        with self.editing() as journal:
            entry = journal.entry_for_slot(slot)
            if not entry.plan:
                entry.plan = plan
                entry.set_status("Ready to Test", "plan written: arms, seeds, criteria")
        return entry.plan

    # -- verification ------------------------------------------------------------------------
    def verify(self, slot: int) -> dict:
        """A flag-off seed-42 run, made with the idea's module loaded, must reproduce the
        stored baseline seed-42 run (bit-identical on CPU). A model's leaking code gets the
        error back once (re-implemented, re-verified) before the idea is Failed."""
        journal, entry = self.require_open(slot, "verification")
        if entry.verification.get("passed"):
            return entry.verification
        self.implement(slot)
        result = self._verify_once(slot)
        _, entry = self.entry(slot)
        if not result["passed"] and entry.implementation.get("generated") and \
                len(entry.implementation.get("attempts", [])) < IMPLEMENT_ATTEMPTS:
            self.implement(slot, error=f"the flag-off path differs from the baseline: {result['summary']}")
            result = self._verify_once(slot)
        if not result["passed"]:
            self._fail(slot, "flag-off path differs from the baseline: rejected before any experimental run. "
                             "An idea must act only through its flag (no import-time side effects, no edits to "
                             "shared code paths).")
        return result

    def _verify_once(self, slot: int) -> dict:
        _, entry = self.entry(slot)
        self.ideas()  # the idea modules are loaded, as they are for the experimental arm
        module = self.ideas()[entry.idea].source_file
        code = hashlib.sha256(Path(module).read_bytes()).hexdigest()[:12] if module else ""
        base = phase1.load(self.runner)
        summary = base.summary
        # The idea's module is loaded with its flag off: a model-written one therefore trains in
        # the sandbox, which imports it, and is scored by this process like every run.
        rerun, _ = self.runner.get_or_train(Arm("verify", (), purpose=f"verify:{entry.idea}:{code}",
                                                load=(entry.idea,)), 42)
        reference = base.records.get(42)
        ref_value = reference["val_loss"] if reference else base.val_loss[42]
        delta = rerun["val_loss"] - ref_value
        sigmas = abs(rerun["val_loss"] - summary.mean) / summary.std
        within = sigmas <= 1.0
        gate_passed, identical, how, rule = flag_off_gate(reference, rerun, summary.std)
        comparable = gate_passed is not None
        passed = gate_passed if comparable else within
        from research_harness.stats import prob_within_k_sigma_in_sample  # noqa: PLC0415

        ref_text = f"{ref_value:.6f}" if reference else f"{ref_value:.4f}, as the reused report gives it"
        text = (f"flag-off seed-42 rerun val_loss {rerun['val_loss']:.6f} is {how} the stored baseline seed-42 run "
                f"({ref_text}); it lies {sigmas:.2f} sigma from the baseline mean {summary.mean:.4f} "
                f"(sigma {summary.std:.4f}): {'within' if within else 'outside'} 1 sigma. {rule[0].upper() + rule[1:]}.")
        if comparable and passed and not within:
            text += (" Being outside 1 sigma is then a property of baseline seed 42 itself, one of the "
                     f"{summary.n} runs the sigma comes from: such a run lies within 1 sigma of their mean only "
                     f"about {prob_within_k_sigma_in_sample(summary.n):.0%} of the time.")
        result = {"rerun_key": rerun["run_key"], "reference_key": reference["run_key"] if reference else None,
                  "rerun_val_loss": rerun["val_loss"], "reference_val_loss": ref_value, "delta": delta,
                  "bit_identical": identical, "sigmas_from_mean": sigmas, "within_1_sigma": within, "passed": passed,
                  "summary": text}
        with self.editing() as journal:
            journal.entry_for_slot(slot).verification = result
        return result

    # -- arms ----------------------------------------------------------------------------------
    def arm(self, entry: Entry, which: str) -> Arm:
        """The control arm is the baseline: its runs are the stored baseline runs of the same seeds."""
        return Arm("baseline") if which == "control" else Arm("exp", (entry.idea,))

    def arm_run(self, slot: int, which: str, seed: int, *, extension: bool = False) -> tuple[dict, bool]:
        _, entry = self.require_open(slot, f"{which} seed {seed}")
        if not entry.verification.get("passed"):
            raise SlotSkipped(f"idea {slot} ({entry.idea}) has not passed flag-off verification")
        if extension and (not entry.decisions or entry.decisions[0]["decision"] != gates.Decision.SUGGESTIVE.value):
            why = "the gate has not run yet" if not entry.decisions else f"the 3-seed gate said {entry.decisions[0]['decision']}"
            raise SlotSkipped(f"seed {seed} not needed: {why} ({vocabulary.extension_rule()})")
        if entry.status == "Ready to Test":
            with self.editing() as journal:
                journal.entry_for_slot(slot).set_status("Testing", "control and experimental arms started")
        return self._run(slot, entry, which, seed, EXTENSION_SEEDS if extension else ARM_SEEDS)

    def _run(self, slot: int, entry: Entry, which: str, seed: int, seeds) -> tuple[dict, bool]:
        arm = self.arm(entry, which)
        key = self.runner.key(arm, seed)
        if entry.runs.get(which, {}).get(str(seed)) != key:
            with self.editing() as journal:  # the key is kept, so the records stay reachable after a revert
                journal.entry_for_slot(slot).runs.setdefault(which, {})[str(seed)] = key
        self.runner.prefetch(arm, seeds)
        try:
            return self.runner.get_or_train(arm, seed)
        except TrainingDiverged as exc:
            lesson = f"{which} seed {seed} diverged: {exc}"
            with self.editing() as journal:
                lessons = journal.entry_for_slot(slot).lessons
                if lesson not in lessons:
                    lessons.append(lesson)
            raise

    def arm_records(self, entry: Entry, which: str, seeds) -> tuple[list[dict], list[dict]]:
        """The finished and the diverged runs of one arm, by the run keys the journal kept."""
        keys = entry.runs.get(which, {})
        finished, failed = [], []
        for seed in seeds:
            try:
                key = keys.get(str(seed)) or self.runner.key(self.arm(entry, which), seed)
            except UnknownIdeaError:  # a reverted idea's seed that never ran
                continue
            if (rec := self.runner.store.get(key)) is not None:
                finished.append(rec)
            elif (fail := self.runner.store.get_failed(key)) is not None:
                failed.append(fail)
        return finished, failed

    # -- the gate and the evidence --------------------------------------------------------------
    def look_pairs(self, entry: Entry, looks=None) -> list:
        out = []
        for seeds in (entry.looks if looks is None else looks):
            if not seeds:
                out.append(None)
                continue
            control, _ = self.arm_records(entry, "control", seeds)
            exp, _ = self.arm_records(entry, "exp", seeds)
            out.append(({r["seed"]: r["val_loss"] for r in control}, {r["seed"]: r["val_loss"] for r in exp}))
        return out

    def design(self, journal: Journal | None = None) -> dict:
        """The study's design: fixed in the journal at its first gate, else this session's flags."""
        journal = journal or self.journal()
        return journal.design or {"confirm": self.settings.confirm,
                                  "max_confirm_seeds": self.settings.max_confirm_seeds}

    def null_rates(self, journal: Journal | None = None) -> dict:
        """The simulated rates of this study's design with no true effect, which its reports
        and paper quote (the engine's simulation, :mod:`research_harness.calibration`)."""
        from research_harness import calibration  # noqa: PLC0415 - the simulation only when a report needs it

        design = self.design(journal)
        return calibration.null_rates(confirm=bool(design.get("confirm")),
                                      max_confirm_seeds=int(design.get("max_confirm_seeds", MAX_CONFIRM_SEEDS)))

    def family_p(self, journal: Journal, entry: Entry) -> list[float]:
        """The exploratory look-adjusted p of the study's other ideas that reached a gate."""
        return [gates.idea_p(self.look_pairs(other)) for other in journal.entries
                if other.idea != entry.idea and other.looks]

    def assess(self, journal: Journal, entry: Entry, looks, passed_gate: bool) -> gates.Evidence:
        return gates.assess(self.look_pairs(entry, looks), bool(self.design(journal).get("confirm")),
                            self.family_p(journal, entry), passed_gate=passed_gate)

    def gate(self, slot: int, final: bool = False) -> dict:
        _, entry = self.require_open(slot, "the final gate" if final else "the gate")
        if final and (not entry.decisions or entry.decisions[0]["decision"] != gates.Decision.SUGGESTIVE.value):
            raise SlotSkipped("no second look needed: the 3-seed gate was not suggestive")
        look = 1 if final else 0
        seeds = list(ARM_SEEDS) + (list(EXTENSION_SEEDS) if final else [])
        control, _ = self.arm_records(entry, "control", seeds)
        exp, failed = self.arm_records(entry, "exp", seeds)
        if not failed and (len(control) != len(seeds) or len(exp) != len(seeds)) and \
                not any(d.get("look") == look for d in entry.decisions):
            raise AssertionError(f"the gate needs {len(seeds)} finished runs per arm; have control {len(control)}, "
                                 f"experimental {len(exp)} (run the arm tests first)")
        label = self.settings.label
        with self.editing() as journal:
            entry = journal.entry_for_slot(slot)
            done = [d for d in entry.decisions if d.get("look") == look]
            if done:  # decided already, maybe by another session sharing the workspace
                return done[-1]
            if not journal.design:
                journal.design = self.design(journal)
            looks = [list(ARM_SEEDS)] + ([seeds] if final else [])
            clear = None  # the words of a clear result the gate did not pass (hurt, or consistent but small)
            if failed:
                d, decision, evidence = -math.inf, gates.Decision.NOISE, None
                reason = f"{len(failed)} experimental run(s) diverged"
            else:
                test = gates.evidence_test(*self.look_pairs(entry, [seeds])[0])
                d, decision = test.cohens_d, gates.decide(test.cohens_d)
                entry.looks = looks
                evidence = self.assess(journal, entry, looks, decision is gates.Decision.PROCEED)
                reason = f"d = {gates.format_effect(d)}"
                c = sum(r["val_loss"] for r in control) / len(control)
                e = sum(r["val_loss"] for r in exp) / len(exp)
                entry.result = (f"μ_exp={e:.4f} vs μ_control={c:.4f} (the stored baseline runs of the same seeds), "
                                f"d={reason[4:]}, {test.decided_by} p={test.p:.3g}, N={len(seeds)} seeds at {label} "
                                "tokens")
                if decision is not gates.Decision.PROCEED:
                    reading, interval = gates.read_look(test)
                    clear = vocabulary.reading_words(reading, interval, test.test.mean_diff, gates.format_effect(d))
            status = gates.journal_status(decision, evidence.level if evidence else "not supported", final=final)
            record = {"look": look, "seeds": seeds, "d": d, "decision": decision.value, "status": status,
                      "evidence": _evidence_dict(evidence), "date": date.today().isoformat()}
            entry.decisions.append(record)
            entry.evidence = record["evidence"] or entry.evidence
            entry.verdict = gates.verdict_words(decision, evidence.level if evidence else "not supported")
            if clear:
                entry.verdict += f"; {clear}"
            note = {"Failed": f"{reason} < {gates.NOISE_BELOW:g}: the gate's decision is noise; the idea is disabled"
                    if not failed else reason,
                    "Inconclusive": f"{reason}: still suggestive after {len(seeds)} seeds per arm; not enough for a paper",
                    "Testing": f"{reason}: suggestive; seeds {', '.join(map(str, EXTENSION_SEEDS))} run on both arms"}.get(
                status, f"{reason} >= {gates.PROCEED_AT:g}: proceeds to the paper; evidence "
                        f"{evidence.level.value if evidence else ''}" + ("; confirmation on fresh seeds follows" if journal.design.get("confirm") else
                           "; confirmation skipped (--research-no-confirm)"))
            entry.set_status(status, note + (f"; {clear}" if clear else ""))
            if status in ("Failed", "Inconclusive") and clear:
                entry.lessons.append(f"At {label} tokens {entry.idea}: {clear} ({reason}).")
            elif status == "Failed":
                entry.lessons.append(f"At {label} tokens {entry.idea} did not beat the baseline's noise ({reason}).")
            elif status == "Inconclusive":
                entry.lessons.append(f"{entry.idea} may have a small effect ({reason}); it stays unconfirmed.")
        self.runner.decided(entry.idea, {**record, "run_keys": {"control": [r["run_key"] for r in control],
                                                                "experimental": [r["run_key"] for r in exp]}})
        self.write_report(slot)
        require_agreement(self)  # the study engine referees the flow that just ran
        if status in ("Failed", "Inconclusive") and entry.implementation.get("generated"):
            self.revert(entry)
        return record

    def planned_effect(self, entry: Entry) -> tuple[float | None, str]:
        """The pre-registered effect the confirmation is sized for, in baseline sigmas, and
        where it comes from: the refine step's expected_effect (sigmas, else nats over the
        baseline sigma), else the catalogue's prior (the idea's expected_gain, a fraction of
        the baseline loss)."""
        effect = (entry.plan or {}).get("expected_effect") or {}
        base = self.baseline_stats()
        if isinstance(effect.get("sigmas"), (int, float)):
            return float(effect["sigmas"]), "the plan's expected_effect.sigmas"
        if isinstance(effect.get("nats"), (int, float)) and base and base["std"] > 0:
            return float(effect["nats"]) / base["std"], "the plan's expected_effect.nats over the baseline sigma"
        gain = entry.metadata.get("expected_gain", Idea.__dataclass_fields__["expected_gain"].default)
        if gain is None or not base or not base["std"] > 0:
            return None, "no planned effect (no plan and no baseline sigma)"
        return float(gain) * base["mean"] / base["std"], "the catalogue's prior (expected_gain of the baseline loss)"

    def confirmation_plan(self, slot: int) -> dict:
        """The confirmation's fresh seeds, fixed and written to the journal before any of
        them trains: {"seeds", "n", "planned_sigmas", "source", "reason"}. A study designed
        without confirmation (--research-no-confirm) skips it and says so."""
        journal, entry = self.entry(slot)
        if entry.confirmation.get("seeds"):
            return entry.confirmation
        if not self.design(journal).get("confirm"):
            raise SlotSkipped("confirmation skipped: the study runs with --research-no-confirm, so the best evidence "
                              "level is preliminary")
        if entry.status != "Proceeded (preliminary)":
            raise SlotSkipped(f"no confirmation needed: idea {slot} ({entry.idea}) is {entry.status}")
        planned, source = self.planned_effect(entry)
        n, why = gates.confirmation_size(planned, int(self.design(journal).get("max_confirm_seeds",
                                                                              MAX_CONFIRM_SEEDS)))
        plan = {"seeds": list(CONFIRMATION_SEEDS[:n]), "n": n, "planned_sigmas": planned, "source": source,
                "reason": f"{why}; planned effect from {source}"}
        with self.editing() as journal:
            entry = journal.entry_for_slot(slot)
            if not entry.confirmation.get("seeds"):
                entry.confirmation = plan
                entry.set_status(entry.status, f"confirmation fixed before any run: {n} fresh seeds per arm "
                                                f"({plan['seeds'][0]}..{plan['seeds'][-1]}) on both arms; {plan['reason']}")
        return entry.confirmation

    def confirmation_seeds(self, slot: int) -> list[int]:
        """The fresh seeds both arms run for the confirmation (see :meth:`confirmation_plan`)."""
        return list(self.confirmation_plan(slot)["seeds"])

    def confirmation_run(self, slot: int, which: str, seed: int) -> tuple[dict, bool]:
        extra = self.confirmation_seeds(slot)
        if seed not in extra:
            raise SlotSkipped(f"seed {seed} is not a confirmation seed of idea {slot} ({', '.join(map(str, extra))})")
        return self._run(slot, self.entry(slot)[1], which, seed, extra)

    def confirm(self, slot: int) -> dict:
        """The confirmation: the fresh seeds on both arms, then the evidence from them alone
        (one-sided paired t at alpha 0.05). A diverged confirmation run leaves the result
        preliminary, and says so."""
        seeds = self.confirmation_seeds(slot)
        _, entry = self.entry(slot)
        diverged = []
        if not any(d.get("look") == gates.CONFIRMATION_LOOK for d in entry.decisions):
            for which in ("control", "exp"):
                for seed in seeds:
                    try:
                        self._run(slot, entry, which, seed, seeds)
                    except TrainingDiverged:
                        diverged.append(f"{which} seed {seed}")
        with self.editing() as journal:
            entry = journal.entry_for_slot(slot)
            done = [d for d in entry.decisions if d.get("look") == gates.CONFIRMATION_LOOK]
            if done:
                return done[-1]
            looks = [entry.looks[0], entry.looks[1] if len(entry.looks) > 1 else None, seeds]
            if diverged:
                evidence, d = None, math.nan
                status, note = entry.status, f"confirmation run(s) diverged ({', '.join(diverged)}): the result stays " \
                                             "preliminary"
                entry.lessons.append(note)
            else:
                d = gates.evidence_test(*self.look_pairs(entry, [seeds])[0]).cohens_d
                entry.looks = looks
                evidence = self.assess(journal, entry, looks, True)
                status = gates.journal_status(gates.Decision.PROCEED, evidence.level)
                note = f"confirmation on {len(seeds)} fresh seeds per arm: evidence {evidence.level.value}"
                if evidence.reversed:
                    note += "; the effect REVERSED on the fresh seeds"
                    entry.lessons.append(f"{entry.idea} passed the gate, but on {len(seeds)} fresh seeds per arm the "
                                         f"experimental arm was worse ({evidence.effect_nats:+.4g} nats): the gate's "
                                         "result did not replicate.")
                elif evidence.level is gates.EvidenceLevel.NOT_CONFIRMED:
                    entry.lessons.append(f"{entry.idea} passed the gate, but the fresh seeds did not confirm it "
                                         f"(p = {evidence.p_family_adjusted:.3g}).")
                entry.evidence = _evidence_dict(evidence)
                entry.verdict = gates.verdict_words(gates.Decision.PROCEED, evidence.level, evidence.reversed)
            record = {"look": gates.CONFIRMATION_LOOK, "seeds": seeds, "d": d,
                      "decision": gates.Decision.PROCEED.value, "status": status,
                      "evidence": _evidence_dict(evidence), "date": date.today().isoformat()}
            entry.decisions.append(record)
            entry.set_status(status, note)
        self.write_report(slot)
        require_agreement(self)
        return record

    # -- reports ----------------------------------------------------------------------------
    def write_report(self, slot: int) -> Path | None:
        # Imported here: the report's tables load pandas, which no step before a report needs.
        from research_harness.discovery.experiment_report import write_experiment_report  # noqa: PLC0415

        _, entry = self.entry(slot)
        if not entry.decisions and entry.verification.get("passed", True):
            return None
        return write_experiment_report(self, entry)

    def proceeded(self) -> Entry | None:
        """The idea that passed the gate (confirmed or preliminary), if any: it gets the paper."""
        return next((e for e in self.journal().entries if e.status in PROCEEDED), None)


def _evidence_dict(evidence: gates.Evidence | None) -> dict:
    if evidence is None:
        return {}
    return {"level": evidence.level.value, "p_look_adjusted": evidence.p_look_adjusted,
            "p_family_adjusted": evidence.p_family_adjusted, "decided_by": evidence.decided_by,
            "lower_bound": evidence.lower_bound, "alpha_effective": evidence.alpha_effective,
            "deciding_look": evidence.deciding_look, "reason": evidence.reason, "effect_nats": evidence.effect_nats,
            "reversed": evidence.reversed}


def write_discovery_reports(runner: Runner) -> list[Path]:
    """The idea log and every experiment report, from the journal and the store. A report
    that phase 4 archived stays in archive/: it is not written again."""
    disc = Discovery(runner)
    label = runner.settings.label
    with runner.workspace.lock("journal"):
        journal = disc.journal()
        if not journal.entries:
            return []
        written = [write_idea_log(journal, runner.workspace.idea_log(label))]
    for entry in journal.entries:
        report = runner.workspace.experiment_report(entry.idea, label)
        if (runner.workspace.archive / "experiments" / report.name).exists():
            continue
        path = disc.write_report(entry.slot)
        if path:
            written.append(path)
    return written
