"""The implementation step of the discovery loop, and its undo.

An idea of the registry (built-in, experiments/ideas/, entry points) is implemented
already. An idea a model proposed is written by the agent. Its source is linted by the
guard and its IDEA metadata read from the syntax tree (never imported here), then it is
staged and smoke-trained in the sandbox (research_harness.sandbox), which returns an
export this process evaluates; only then does it join experiments/ideas/generated/, and
its configure() runs once more in the sandbox at the study's preset and budget, the
validated changes going into the journal. A failure goes back to the model once as
`error` (secrets redacted), and a second failure marks the idea Failed. A generated idea
that fails is reverted: its module moves to archive/ideas/, so the trainer's flags return
to the baseline's. Where no sandbox can start, model code is refused before it runs."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from trainer.ideas import Idea, UntrustedIdea, UntrustedIdeaError, read_untrusted_idea
from trainer.atomic import write_atomic

from research_harness.agent.protocol import AgentError
from research_harness.discovery.journal import Entry, Journal
from research_harness.runner import Arm

IMPLEMENT_ATTEMPTS = 2  # a model's code gets its error back once, then the idea is Failed


class IdeaFailed(Exception):
    """The idea failed a step (its code, its flag-off path, a diverged run); the journal says why."""


class ImplementationSteps:
    """Mixed into `Discovery` (research_harness.discovery.study): the generated-code path."""

    def implement(self, slot: int, error: str | None = None) -> dict:
        """An idea of the registry is implemented already. A model's idea is written by the
        agent, checked by the guard before any import, smoke-trained in a sandboxed child,
        and given its error back once; after that it is Failed and its module reverted.
        One session at a time implements a slot (a workspace lock), so two sessions never
        overwrite each other's module."""
        self.require_open(slot, "implementation")
        with self.runner.workspace.lock(f"implement-{slot}"):
            journal, entry = self.entry(slot)
            if entry.implementation.get("ok") and error is None:
                return entry.implementation
            known = self.ideas().get(entry.idea)
            if known is not None and not self._generated(known):
                return self._set_implementation(slot, {"ok": True, "generated": False,
                                                       "module": self.runner.workspace.shown_path(known.source_file)})
            from research_harness.sandbox import bwrap  # noqa: PLC0415

            bwrap.require(self.settings.sandbox)  # fail closed, before the model is even asked
            attempts = list(entry.implementation.get("attempts", []))
            while len(attempts) < IMPLEMENT_ATTEMPTS:
                seconds: dict = {}  # the sandbox jobs' wall times (chrome: benchmarks/ideas_per_hour.py reads them)
                problem, path, configured = self._write_and_check(entry, journal, slot, error, seconds)
                attempts.append({"error": problem, "module": self.runner.workspace.shown_path(path) if path else None,
                                 **seconds})
                if not problem:
                    self._reload_ideas()
                    return self._set_implementation(slot, {"ok": True, "generated": True, "module": self.runner.workspace.shown_path(path),
                                                           "attempts": attempts, "configured": configured,
                                                           "sandbox": self.settings.sandbox})
                error = problem
            self._set_implementation(slot, {"ok": False, "generated": True, "attempts": attempts})
        self._fail(slot, f"its code failed twice; last error: {error}")
        raise IdeaFailed(f"{entry.idea}: the model's code failed twice; last error: {error}")

    def _generated(self, idea: Idea) -> bool:
        return isinstance(idea, UntrustedIdea)

    def _write_and_check(self, entry: Entry, journal: Journal, slot: int, error: str | None, seconds: dict):
        """(problem, published path, validated config changes): "" and the module's path in
        generated/ when it passed. The module is staged and smoke-tested outside generated/
        first, so a module that fails never becomes an idea of the registry. The wall times of
        the sandbox jobs that ran go into `seconds` (smoke_s, configure_s)."""
        from research_harness.sandbox import jobs  # noqa: PLC0415
        from research_harness.sandbox.guard import check_module, idea_name  # noqa: PLC0415

        try:
            source = self.agent.implement(entry.metadata, self._context(journal, slot), error)
        except AgentError as exc:
            return f"the agent could not implement it: {exc}", None, None
        problems = check_module(source)
        if problems:  # the lint: an honest model learns the rules before anything runs
            return "the code guard refused the module: " + "; ".join(problems), None, None
        if idea_name(source) != entry.idea:
            return f"the module's IDEA is named {idea_name(source)!r} but the idea is {entry.idea!r}", None, None
        staged = write_atomic(self.runner.workspace.root / ".sandbox" / "staged" / f"{entry.idea}.py", source)
        try:
            read_untrusted_idea(staged)
        except UntrustedIdeaError as exc:
            return f"the module's IDEA metadata cannot be read without running it: {exc}", None, None
        mode = self.settings.sandbox
        t0 = time.perf_counter()
        smoke = jobs.smoke_test(staged, self.runner.workspace.root, data=self.runner.data(4096), mode=mode)
        seconds["smoke_s"] = round(time.perf_counter() - t0, 3)
        if not smoke.ok:
            return f"the sandboxed smoke test failed: {smoke.error}", None, None
        published = write_atomic(self.generated_dir / f"{entry.idea}.py", source)
        staged.unlink(missing_ok=True)
        base = self.runner.plan(Arm("baseline"))
        t0 = time.perf_counter()
        try:
            configured = jobs.configure({published.name: published}, [entry.idea], preset=base.preset,
                                        tokens=self.settings.tokens, workspace=self.runner.workspace.root,
                                        mode=mode)
        except jobs.SandboxRunFailed as exc:
            published.unlink(missing_ok=True)
            return f"configure() failed in the sandbox at the study's preset: {exc}", None, None
        finally:
            seconds["configure_s"] = round(time.perf_counter() - t0, 3)
        self.runner.configured.update(configured)
        return "", published, configured[entry.idea]

    def _set_implementation(self, slot: int, info: dict) -> dict:
        with self.editing() as journal:
            journal.entry_for_slot(slot).implementation = info
        return info

    def revert(self, entry: Entry) -> Path | None:
        """The workflow's "revert all code changes": a failed generated idea's module moves to
        archive/ideas/, so the trainer's flags return to the baseline's."""
        module = self.generated_dir / f"{entry.idea}.py"
        if not module.exists():
            return None
        target = self.runner.workspace.archive / "ideas" / module.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(module), target)
        self._reload_ideas()
        return target

    def _fail(self, slot: int, reason: str) -> None:
        with self.editing() as journal:
            entry = journal.entry_for_slot(slot)
            entry.fail(reason)
        if entry.implementation.get("generated"):
            self.revert(entry)

