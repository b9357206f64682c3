"""Research agents: the judgement steps of the workflow (propose, review, refine,
implement, review_paper, review_abstract, revise_paper) behind one `Agent` protocol.

Kept light on purpose: importing this package loads neither torch nor a client package.
A model backend is three layers: `prompts` (what the model is told), `chat.ChatAgent` (the
skills and the ask / validate / retry / replay loop) and a transport (`transports/`: one
request to one API); `backends.make_agent` picks a backend by name. docs/AGENT.md
describes the wire protocol."""

from __future__ import annotations

from research_harness.agent.protocol import (
    Agent,
    AgentConfigError,
    AgentError,
    AgentReplyError,
    AgentUnavailable,
)

__all__ = ["Agent", "AgentError", "AgentConfigError", "AgentReplyError", "AgentUnavailable"]
