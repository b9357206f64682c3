"""Choosing the research agent: `catalogue` (offline, the default); a built-in transport
(`openai`: any OpenAI-compatible endpoint, the [agent] extra; `anthropic`: the Anthropic
Messages API, the [anthropic] extra), driven by `ChatAgent`; or a backend another package
registers:
* under the entry-point group `research_harness.transports`: a callable taking no arguments
  (it reads its settings from the environment) that returns a transport
  (research_harness/agent/transports/__init__.py); the harness wraps it in a ChatAgent
  recording in the workspace's runs/agent/, so the prompts, validation, retries and replay
  come for free;
* under `research_harness.agents`: a callable taking `workspace` and `seed` that returns a
  whole `Agent`."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import Callable

from research_harness.agent import transports
from research_harness.agent.protocol import AgentConfigError

TRANSPORT_GROUP, AGENT_GROUP = "research_harness.transports", "research_harness.agents"


class CatalogueAgent:
    """The offline agent: it proposes, reviews and refines ideas of the registry (built-in
    ideas, experiments/ideas/, entry points) by the documented, seeded policy of
    `research_harness.agent.catalogue`; its ideas are implemented already. It does not
    write prose, so it finds nothing to revise: the paper's hard checks are its review."""

    backend = "catalogue"
    model = None
    transcripts = None  # it asks no model: nothing to record

    def __init__(self, ideas: Callable[[], dict], seed: int = 0):
        self._ideas, self.seed = ideas, seed
        self._probes: dict = {}

    def _probe(self, idea):
        from research_harness.agent.probe import probe  # noqa: PLC0415 - builds a tiny model

        if idea.name not in self._probes:
            self._probes[idea.name] = probe(idea)
        return self._probes[idea.name]

    def propose(self, context: dict, n: int = 3) -> list[dict]:
        from research_harness.agent import catalogue  # noqa: PLC0415 - scipy; the plugin reads agent_names() at load

        chosen = catalogue.propose(self._ideas(), context.get("journal", []), n, self.seed, context.get("slot", 1))
        return [i.metadata() for i in chosen]

    def review(self, candidates: list[dict], context: dict) -> dict:
        from research_harness.agent import catalogue  # noqa: PLC0415

        ideas = self._ideas()
        tried = set(context.get("tried", ()))
        scores = [catalogue.score(ideas[c["name"]], self._probe(ideas[c["name"]]), context.get("baseline"), tried)
                  for c in candidates]
        selected = catalogue.select(scores, self.seed, context.get("slot", 1))
        note = catalogue.selection_note(scores, selected)
        if note:  # every candidate was untestable: the record says why this one was taken anyway
            chosen = next(s for s in scores if s["name"] == selected)
            chosen["rationale"] = {**chosen["rationale"], "selection": note}
        return {"scores": scores, "selected": selected}

    def refine(self, idea: dict, context: dict) -> dict:
        from research_harness.agent import catalogue  # noqa: PLC0415
        from research_harness.agent.probe import added_params_at  # noqa: PLC0415

        found = self._ideas()[idea["name"]]
        probed, preset = self._probe(found), context.get("preset")
        study_params = None
        if preset and preset != "tiny" and probed.added_params:
            try:  # shapes on the meta device: the added parameters on the study's own preset
                study_params = added_params_at(found, preset)
            except Exception:  # noqa: BLE001 - a hook that cannot run on meta: the plan says the share was not counted
                study_params = None
        return catalogue.refine(found, probed, context.get("baseline"), context.get("budget", "1M"), preset,
                                study_params)

    def implement(self, idea: dict, context: dict, error: str | None = None) -> str:
        found = self._ideas().get(idea["name"])
        if found is None or not found.source_file:
            raise AgentConfigError(f"the catalogue has no module for {idea['name']!r}; only a model backend writes code")
        return Path(found.source_file).read_text(encoding="utf-8")

    def review_paper(self, markdown: str, context: dict) -> list[dict]:
        return []

    def review_abstract(self, abstract: str, context: dict) -> list[dict]:
        return []

    def revise_paper(self, sections: dict, findings: list, context: dict) -> dict:
        return {"sections": {}, "changelog": []}


def agent_names() -> list[str]:
    """Every --research-agent choice: the built-ins, then registered backends (names only:
    no client package is imported)."""
    builtin = ["catalogue", *transports.builtin()]
    registered = {ep.name for group in (TRANSPORT_GROUP, AGENT_GROUP) for ep in entry_points(group=group)}
    return [*builtin, *sorted(registered - set(builtin))]


def requirement(name: str) -> tuple[str, str] | None:
    """(package, pip extra) a built-in transport needs, so the plugin can refuse early; None otherwise."""
    return transports.requirement(name) if name in transports.builtin() else None


def make_agent(name: str, *, workspace: Path, ideas: Callable[[], dict], seed: int = 0):
    """The agent called `name`; configuration errors raise AgentConfigError with the fix."""
    if name == "catalogue":
        return CatalogueAgent(ideas, seed)
    from research_harness.agent.chat import ChatAgent  # noqa: PLC0415 - the prompts read the trainer's ideas
    from research_harness.agent.transcripts import TranscriptStore  # noqa: PLC0415

    store = TranscriptStore.for_workspace(workspace)
    if name in transports.builtin():
        return ChatAgent(transports.transport_class(name)(), transcripts=store)
    for ep in entry_points(group=TRANSPORT_GROUP):
        if ep.name == name:
            return ChatAgent(ep.load()(), transcripts=store)
    for ep in entry_points(group=AGENT_GROUP):
        if ep.name == name:
            return ep.load()(workspace=workspace, seed=seed)
    raise AgentConfigError(f"unknown research agent {name!r}; choose one of: {', '.join(agent_names())}")
