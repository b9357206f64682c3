"""Research agents: the judgement steps of the workflow (propose, review, refine,
implement, review_paper, review_abstract, revise_paper) behind one `Agent` protocol.

Kept light on purpose: importing this package loads neither torch nor openai; the
backends, the guard and the sandbox load on first use (`research_harness.agent.OpenAIAgent`
imports the openai backend then). docs/AGENT.md describes the wire protocol."""

from __future__ import annotations

from importlib import import_module

from research_harness.agent.protocol import (
    Agent,
    AgentConfigError,
    AgentError,
    AgentReplyError,
    AgentUnavailable,
)

__all__ = ["Agent", "AgentError", "AgentConfigError", "AgentReplyError", "AgentUnavailable", "OpenAIAgent",
           "TranscriptStore", "check_module", "GuardError", "smoke_test", "SmokeResult", "TASKS"]

_LAZY = {"OpenAIAgent": "openai_backend", "TranscriptStore": "transcripts", "check_module": "guard",
         "GuardError": "guard", "smoke_test": "sandbox", "SmokeResult": "sandbox", "TASKS": "wire"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f"research_harness.agent.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'research_harness.agent' has no attribute {name!r}")
