"""Research agents: the judgement steps of the workflow (propose, review, refine,
implement, review_paper, review_abstract, revise_paper) behind one `Agent` protocol.

Kept light on purpose: importing this package loads neither torch nor openai. Backends
live in their own modules (`backends.make_agent` picks one); docs/AGENT.md describes the
wire protocol."""

from __future__ import annotations

from research_harness.agent.protocol import (
    Agent,
    AgentConfigError,
    AgentError,
    AgentReplyError,
    AgentUnavailable,
)

__all__ = ["Agent", "AgentError", "AgentConfigError", "AgentReplyError", "AgentUnavailable"]
