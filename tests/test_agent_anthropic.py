"""The chat agent over the anthropic transport, through the real `anthropic` client against
a local scripted Messages API server (tests/helpers/anthropic_server.py), which refuses what the
real API refuses: no mocks of the client."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("anthropic", reason="needs the [anthropic] extra: pip install 'research_harness[anthropic]'")
from research_harness.agent import Agent, AgentReplyError, AgentUnavailable  # noqa: E402
from research_harness.agent.chat import ChatAgent  # noqa: E402
from research_harness.agent.prompts import system_prompt  # noqa: E402
from research_harness.agent.transcripts import TranscriptStore, transcript_hash  # noqa: E402
from research_harness.agent.transports.anthropic import EMPTY_REPLY, AnthropicTransport  # noqa: E402
from research_harness.agent.wire import TASKS  # noqa: E402

from helpers.agent_replies import HAPPY, PROPOSAL, REFINE, REVIEW, SECOND  # noqa: E402
from helpers.agent_server import Delay, Status  # noqa: E402
from helpers.anthropic_server import Blocks, Stop, api_key  # noqa: E402

MODEL = "claude-scripted"
ENV = ("RESEARCH_LLM_MODEL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "RESEARCH_LLM_API_KEY",
       "RESEARCH_LLM_MAX_TOKENS", "RESEARCH_LLM_TIMEOUT", "RESEARCH_LLM_MAX_RETRIES")


def make_agent(server, tmp_path, **kwargs) -> ChatAgent:
    kwargs = {"timeout": 5.0, "max_retries": 2, **kwargs}
    return ChatAgent(AnthropicTransport(base_url=server.base_url, model=MODEL, api_key="test-key", **kwargs),
                     transcripts=TranscriptStore(tmp_path / "runs" / "agent"))


def store(tmp_path) -> TranscriptStore:
    return TranscriptStore(tmp_path / "runs" / "agent")


@pytest.mark.parametrize("task", TASKS)
def test_each_task_is_one_messages_request(task, anthropic_server, tmp_path):
    call, reply, expected = HAPPY[task]
    anthropic_server.script(task, reply)
    agent = make_agent(anthropic_server, tmp_path, max_tokens=4000)
    assert call(agent) == expected
    [request] = anthropic_server.requests
    body, headers = request["body"], request["headers"]
    assert request["path"] == "/v1/messages" and request["task"] == task
    assert api_key(headers) == "test-key" and headers["anthropic-version"]
    assert body["model"] == MODEL and body["max_tokens"] == 4000 and "response_format" not in body
    # the system prompt travels as the `system` parameter, the inputs as the one user turn
    assert body["system"].split("\n", 1)[0] == f"task: {task}"
    assert [m["role"] for m in body["messages"]] == ["user"]
    # the transcript keeps the conversation in chat form, as every transport's does
    [record] = store(tmp_path).all()
    assert [m["role"] for m in record["messages"]] == ["system", "user"]
    assert record["messages"][0]["content"] == body["system"]
    assert record["messages"][1]["content"] == body["messages"][0]["content"]
    assert record["hash"] == transcript_hash(task, MODEL, record["messages"]) == agent.transcript_hashes[0]
    assert record["base_url"] == anthropic_server.base_url and record["reply"]["raw"] == json.dumps(reply)
    assert record["reply"]["finish_reason"] == "end_turn" and record["reply"]["error"] is None
    assert record["usage"]["input_tokens"] > 0 and record["usage"]["output_tokens"] > 0
    assert isinstance(agent, Agent) and (agent.backend, agent.model) == ("anthropic", MODEL)


def test_the_system_prompt_is_the_shared_one(anthropic_server, tmp_path):
    anthropic_server.script("refine", REFINE)
    make_agent(anthropic_server, tmp_path).refine(PROPOSAL, {})
    assert anthropic_server.requests[0]["body"]["system"] == system_prompt("refine")


def test_the_text_blocks_are_the_reply(anthropic_server, tmp_path):
    """A thinking block is not the answer; the text may come in more than one block."""
    text = json.dumps(REFINE)
    anthropic_server.script("refine", Blocks([{"type": "thinking", "thinking": "{not the reply", "signature": "s"},
                                              {"type": "text", "text": text[:20]}, {"type": "text", "text": text[20:]}]))
    assert make_agent(anthropic_server, tmp_path).refine(PROPOSAL, {}) == REFINE


# -- malformed replies ----------------------------------------------------------------------------------
def test_malformed_json_then_a_good_reply(anthropic_server, tmp_path):
    anthropic_server.script("refine", "Here is the plan: {hypothesis", REFINE)
    agent = make_agent(anthropic_server, tmp_path)
    assert agent.refine(PROPOSAL, {}) == REFINE
    first, second = anthropic_server.requests
    assert second["body"]["system"] == first["body"]["system"]
    turns = second["body"]["messages"]
    assert [m["role"] for m in turns] == ["user", "assistant", "user"]
    assert turns[0] == first["body"]["messages"][0]
    assert turns[1]["content"] == "Here is the plan: {hypothesis"
    assert "the reply is not valid JSON (Expecting value at line 1 column 1)" in turns[2]["content"]
    assert agent.last_call == {"task": "refine", "hashes": agent.transcript_hashes, "attempts": 2}
    errors = [r["reply"]["error"] for r in store(tmp_path).all()]
    assert errors[0].startswith("the reply is not valid JSON") and errors[1] is None


def test_three_malformed_replies_raise_after_exactly_three_requests(anthropic_server, tmp_path):
    anthropic_server.script("review", "not json", "[1, 2]", '{"scores": []}', REVIEW)
    with pytest.raises(AgentReplyError) as err:
        make_agent(anthropic_server, tmp_path).review([PROPOSAL, SECOND], {})
    assert len(anthropic_server.requests) == 3
    assert str(err.value).startswith(f"review: model {MODEL} at {anthropic_server.base_url} gave no usable reply "
                                     "in 3 attempts; last error: the reply's 'scores' must be a non-empty array")


def test_an_empty_reply_is_sent_back_as_a_turn_the_api_accepts(anthropic_server, tmp_path):
    """The API refuses an assistant turn with empty content: the retry must still be a valid request."""
    anthropic_server.script("refine", Blocks([]), REFINE)
    assert make_agent(anthropic_server, tmp_path).refine(PROPOSAL, {}) == REFINE
    turns = anthropic_server.requests[1]["body"]["messages"]
    assert turns[1] == {"role": "assistant", "content": EMPTY_REPLY} and "the reply was empty" in turns[2]["content"]


def test_a_reply_cut_off_at_max_tokens_is_sent_back_saying_so(anthropic_server, tmp_path):
    anthropic_server.script("refine", Stop(json.dumps(REFINE)[:40], "max_tokens"), REFINE)
    assert make_agent(anthropic_server, tmp_path).refine(PROPOSAL, {}) == REFINE
    assert "cut off at the output token limit" in anthropic_server.requests[1]["body"]["messages"][2]["content"]
    assert store(tmp_path).all()[0]["reply"]["finish_reason"] == "max_tokens"


# -- HTTP errors and timeouts: the client retries, bounded -----------------------------------------------
@pytest.mark.parametrize("code", [529, 500, 429])
def test_an_overload_a_server_error_and_a_rate_limit_are_retried(code, anthropic_server, tmp_path):
    anthropic_server.script("review_abstract", Status(code), {"findings": []})
    assert make_agent(anthropic_server, tmp_path).review_abstract("text", {}) == []
    assert len(anthropic_server.requests) == 2


def test_a_server_error_forever_is_unavailable_after_bounded_requests(anthropic_server, tmp_path):
    anthropic_server.always("review_paper", Status(529, "Overloaded"))
    with pytest.raises(AgentUnavailable) as err:
        make_agent(anthropic_server, tmp_path, max_retries=3).review_paper("# Paper", {})
    assert len(anthropic_server.requests) == 4
    assert str(err.value) == (f"the Anthropic endpoint {anthropic_server.base_url} (task review_paper, model {MODEL}) "
                              "answered HTTP 529 after 4 attempts: Overloaded; the API is overloaded; try again later "
                              "or raise RESEARCH_LLM_MAX_RETRIES")
    assert store(tmp_path).all() == []  # nothing to replay


def test_a_bad_key_is_not_retried_and_names_the_variable(anthropic_server, tmp_path):
    anthropic_server.always("refine", Status(401, "invalid x-api-key"))
    with pytest.raises(AgentUnavailable, match=r"answered HTTP 401: invalid x-api-key; check ANTHROPIC_API_KEY$"):
        make_agent(anthropic_server, tmp_path).refine(PROPOSAL, {})
    assert len(anthropic_server.requests) == 1


def test_a_base_url_ending_in_v1_is_named_as_the_fault(anthropic_server, tmp_path):
    transport = AnthropicTransport(base_url=anthropic_server.base_url + "/v1", model=MODEL, api_key="k", max_retries=0)
    with pytest.raises(AgentUnavailable, match=r"HTTP 404: .*ANTHROPIC_BASE_URL is the server's root, without /v1"):
        ChatAgent(transport, transcripts=tmp_path).refine(PROPOSAL, {})
    assert anthropic_server.requests[0]["path"] == "/v1/v1/messages"


def test_a_reply_slower_than_the_timeout_is_unavailable(anthropic_server, tmp_path):
    anthropic_server.always("refine", Delay(10.0, REFINE))
    with pytest.raises(AgentUnavailable) as err:
        make_agent(anthropic_server, tmp_path, timeout=0.3, max_retries=1).refine(PROPOSAL, {})
    assert len(anthropic_server.requests) == 2
    assert str(err.value).startswith(f"the Anthropic endpoint {anthropic_server.base_url} (task refine, model "
                                     f"{MODEL}) did not answer within 0.3 s in 2 attempts")


def test_a_refused_connection_names_the_variable(tmp_path):
    transport = AnthropicTransport(base_url="http://127.0.0.1:9", model=MODEL, api_key="k", max_retries=0)
    with pytest.raises(AgentUnavailable, match=r"http://127\.0\.0\.1:9 .* could not be reached .*ANTHROPIC_BASE_URL"):
        ChatAgent(transport, transcripts=tmp_path).review_abstract("text", {})


# -- replay ----------------------------------------------------------------------------------------------
def test_a_second_agent_replays_the_transcripts_without_any_request(anthropic_server, tmp_path):
    anthropic_server.script("propose", "oops", {"ideas": [PROPOSAL, SECOND]})
    anthropic_server.script("review", REVIEW)
    first = make_agent(anthropic_server, tmp_path)
    ideas = first.propose({"tried": []}, n=2)
    review = first.review(ideas, {})
    assert len(anthropic_server.requests) == 3
    anthropic_server.reset()  # nothing scripted any more: a request would fail

    second = make_agent(anthropic_server, tmp_path)
    assert second.propose({"tried": []}, n=2) == ideas and second.review(ideas, {}) == review
    assert anthropic_server.requests == [] and second.transcript_hashes == first.transcript_hashes


# -- configuration ---------------------------------------------------------------------------------------
def test_configuration_from_the_environment(monkeypatch, anthropic_server, tmp_path):
    for var in ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic_server.base_url)
    monkeypatch.setenv("RESEARCH_LLM_MODEL", "env-model")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "anthropic-key")
    monkeypatch.setenv("RESEARCH_LLM_API_KEY", "the-openai-endpoints-key")
    monkeypatch.setenv("RESEARCH_LLM_MAX_TOKENS", "1234")
    anthropic_server.script("review_abstract", {"findings": []})
    agent = ChatAgent(AnthropicTransport(), transcripts=tmp_path)
    assert agent.review_abstract("text", {}) == []
    [request] = anthropic_server.requests
    assert request["body"]["model"] == "env-model" and request["body"]["max_tokens"] == 1234
    assert api_key(request["headers"]) == "anthropic-key"
