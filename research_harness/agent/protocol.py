"""What a research agent is: one method per judgement step of the workflow, plain data
in and out, so the study loop never depends on which backend answers (the offline
`catalogue`, or a model reached through a transport by `chat.ChatAgent`, see docs/AGENT.md).

Inputs are dicts, lists and strings (the caller renders reports to text first), so a
backend can put them in a prompt or a lookup table alike. Replies are the TypedDicts
below; `research_harness.agent.wire` validates them for backends that parse text.
Every backend raises only `AgentError` subclasses, so the loop can record the failure
in the journal and move on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypedDict, Union, runtime_checkable

if TYPE_CHECKING:
    from research_harness.agent.transcripts import TranscriptStore

__all__ = [
    "Agent", "AgentError", "AgentConfigError", "AgentReplyError", "AgentUnavailable",
    "ProposeContext", "Proposal", "Score", "Review", "ExpectedEffect", "Refinement", "Finding", "Revision",
]


# -- errors ------------------------------------------------------------------------------
class AgentError(RuntimeError):
    """Any failure of an agent step; the message is one line that says the fix."""


class AgentConfigError(AgentError):
    """The backend is not configured (missing model, key or package)."""


class AgentReplyError(AgentError):
    """The model kept replying with text that is not the reply shape, after all retries."""


class AgentUnavailable(AgentError):
    """The endpoint failed (HTTP error, timeout, refused connection) after all retries."""


def one_line(text, limit: int = 200) -> str:
    """`text` on one line, cut to `limit` characters: what error messages quote of a reply."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


# -- inputs ------------------------------------------------------------------------------
class ProposeContext(TypedDict, total=False):
    extension_points: str  # how an idea may change the trainer (trainer/ideas/base.py's docstring)
    baseline: str  # the baseline report, as text
    idea_log: str  # what was tried so far and how it went, as text
    tried: list[str]  # idea names already in the log: never proposed again


# -- replies -----------------------------------------------------------------------------
class Proposal(TypedDict):
    name: str  # lowercase identifier; the flag becomes --use_<name>
    category: str  # one of trainer.ideas.base.CATEGORIES
    title: str
    pitch: str
    math: str  # LaTeX without surrounding $$
    why_it_might_work: str
    why_it_might_not: str
    references: list[str]
    success_criterion: str


class Score(TypedDict):
    name: str
    feasibility: int  # 1..5
    novelty: int  # 1..5
    testability: int  # 1..5
    rationale: str


class Review(TypedDict):
    scores: list[Score]  # one per candidate, in any order
    selected: str  # one of the scored names


class ExpectedEffect(TypedDict):
    # The openai backend requires both numbers; a backend that computes them from a
    # stored baseline may give None while none exists. Extra keys (e.g. "relative") are fine.
    # Predicted reduction of final val_loss (0 = no effect expected). A model's reply gives it
    # >= 0; the catalogue's measured prior of an idea that raised val_loss is negative.
    nats: float | None
    sigmas: float | None  # the same reduction in units of the baseline's seed-to-seed std


class Refinement(TypedDict):
    hypothesis: str
    control: str
    experimental: str
    expected_effect: ExpectedEffect
    success_criterion: str
    plan: list[str]  # ordered steps


class Finding(TypedDict):
    section: str
    severity: str  # "major" | "minor"
    issue: str
    fix: str


class Revision(TypedDict):
    sections: dict[str, str]  # section title -> new markdown body (only the sections that change)
    changelog: list[str]


Context = dict  # free-form extra inputs: reports, journal excerpts, the number registry, ...


@runtime_checkable
class Agent(Protocol):
    """The seven skills, and what the study records about the agent. Each call is one
    judgement; a backend may keep state (transcripts, hashes used) but a call's result
    depends only on its arguments and that state."""

    # What the study and the paper read (conclude.paper_inputs, Discovery.ideate):
    backend: str  # "catalogue", "openai", "anthropic", ...: the study drops a model's proposals named like existing ideas
    model: str | None  # the model named in the paper; None for an agent without one
    transcripts: "TranscriptStore | None"  # where its exchanges are recorded; the paper cites their hashes

    def propose(self, context: ProposeContext, n: int) -> list[Proposal]:
        """Up to n new ideas; none named as in context['tried']."""

    def review(self, candidates: list[Proposal], context: Context) -> Review:
        """Score each candidate 1-5 on feasibility, novelty, testability and pick one."""

    def refine(self, idea: Proposal, context: Context) -> Refinement:
        """Turn the selected idea into a testable plan with a predicted effect size."""

    def implement(self, idea: Union[Proposal, dict], context: Context, error: str | None = None) -> str:
        """Python source of an idea module defining IDEA; `error` is the previous attempt's
        failure (guard refusal, smoke-test error) for the agent to repair."""

    def review_paper(self, markdown: str, context: Context) -> list[Finding]:
        """Findings on the whole paper; an empty list means it passes."""

    def review_abstract(self, abstract: str, context: Context) -> list[Finding]:
        """Findings on the abstract alone."""

    def revise_paper(self, sections: dict[str, str], findings: list[Finding], context: Context) -> Revision:
        """New text for the sections the findings ask to change, with a changelog."""
