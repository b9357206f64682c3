"""The chat agent over the openai transport, through the real `openai` client against a
local scripted OpenAI-compatible server (tests/helpers/agent_server.py): no mocks of the client.
The agent's loop (validation, retries, replay) is tested here once; tests/test_agent_anthropic.py
checks the same behaviour through the other transport."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("openai", reason="needs the [agent] extra: pip install 'research_harness[agent]'")
from research_harness.agent import Agent, AgentReplyError, AgentUnavailable  # noqa: E402
from research_harness.agent.chat import ChatAgent  # noqa: E402
from research_harness.agent.transcripts import TranscriptStore, transcript_hash  # noqa: E402
from research_harness.agent.transports.openai import OpenAITransport  # noqa: E402
from research_harness.agent.wire import TASKS  # noqa: E402

from helpers.agent_replies import HAPPY, MODULE, PROPOSAL, REFINE, REVIEW, SECOND  # noqa: E402
from helpers.agent_server import Delay, Status  # noqa: E402

MODEL = "scripted-model"


def make_agent(server, tmp_path, **kwargs) -> ChatAgent:
    kwargs = {"timeout": 5.0, "max_retries": 2, **kwargs}
    return ChatAgent(OpenAITransport(base_url=server.base_url, model=MODEL, api_key="test-key", **kwargs),
                     transcripts=TranscriptStore(tmp_path / "runs" / "agent"))


# -- each task's happy path ---------------------------------------------------------------------------
@pytest.mark.parametrize("task", TASKS)
def test_each_task_is_one_json_completion(task, llm_server, tmp_path):
    call, reply, expected = HAPPY[task]
    llm_server.script(task, reply)
    agent = make_agent(llm_server, tmp_path)
    assert call(agent) == expected
    [request] = llm_server.requests
    body, messages = request["body"], request["messages"]
    assert request["task"] == task and request["authorization"] == "Bearer test-key"
    assert body["model"] == MODEL and body["response_format"] == {"type": "json_object"}
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"].split("\n", 1)[0] == f"task: {task}"
    # the transcript: request, raw and parsed reply, usage, latency, hash
    [record] = TranscriptStore(tmp_path / "runs" / "agent").all()
    assert record["hash"] == transcript_hash(task, MODEL, messages) == agent.transcript_hashes[0]
    assert (tmp_path / "runs" / "agent" / f"{record['hash']}.json").exists()
    assert record["messages"] == messages and record["base_url"] == llm_server.base_url
    assert record["reply"]["raw"] == json.dumps(reply) and record["reply"]["error"] is None
    assert record["reply"]["parsed"] is not None
    assert record["usage"]["completion_tokens"] > 0 and record["usage"]["prompt_tokens"] > 0
    assert record["latency_s"] > 0 and record["created"]


def test_propose_drops_tried_names_and_lists_them_in_the_prompt(llm_server, tmp_path):
    tried = {**PROPOSAL, "name": "z_loss"}
    llm_server.script("propose", {"ideas": [tried, PROPOSAL]})
    agent = make_agent(llm_server, tmp_path)
    assert agent.propose({"tried": ["z_loss"]}, n=3) == [PROPOSAL]
    assert agent.last_dropped == ["z_loss"]
    assert "z_loss" in llm_server.requests[0]["messages"][1]["content"]


def test_propose_returns_no_more_ideas_than_asked(llm_server, tmp_path):
    third = {**PROPOSAL, "name": "layer_scale", "title": "Layer scale"}
    llm_server.script("propose", {"ideas": [PROPOSAL, SECOND, third]})
    agent = make_agent(llm_server, tmp_path)
    assert agent.propose({}, n=2) == [PROPOSAL, SECOND]
    assert "ideas wanted" in llm_server.requests[0]["messages"][1]["content"]
    assert len(llm_server.requests) == 1  # cut, not sent back


def test_propose_with_only_tried_names_is_asked_again(llm_server, tmp_path):
    llm_server.script("propose", {"ideas": [{**PROPOSAL, "name": "z_loss"}]}, {"ideas": [PROPOSAL]})
    agent = make_agent(llm_server, tmp_path)
    assert agent.propose({"tried": ["z_loss"]}, n=1) == [PROPOSAL]
    assert "every proposed name was already tried (z_loss)" in llm_server.requests[1]["messages"][-1]["content"]


def test_implement_sends_the_previous_error_for_repair(llm_server, tmp_path):
    llm_server.script("implement", {"module": MODULE})
    make_agent(llm_server, tmp_path).implement(PROPOSAL, {}, error="line 3: 'open' is not allowed")
    assert "## error\nline 3: 'open' is not allowed" in llm_server.requests[0]["messages"][1]["content"]


# -- malformed replies ----------------------------------------------------------------------------------
def test_malformed_json_then_a_good_reply(llm_server, tmp_path):
    llm_server.script("refine", "Sure! Here is the plan: {hypothesis", REFINE)
    agent = make_agent(llm_server, tmp_path)
    assert agent.refine(PROPOSAL, {}) == REFINE
    first, second = llm_server.requests
    assert second["messages"][:2] == first["messages"]
    assert second["messages"][2] == {"role": "assistant", "content": "Sure! Here is the plan: {hypothesis"}
    retry = second["messages"][3]
    assert retry["role"] == "user" and "the reply is not valid JSON (Expecting value at line 1 column 1)" in retry["content"]
    assert agent.last_call == {"task": "refine", "hashes": agent.transcript_hashes, "attempts": 2}
    errors = [r["reply"]["error"] for r in TranscriptStore(tmp_path / "runs" / "agent").all()]
    assert errors[0].startswith("the reply is not valid JSON") and errors[1] is None


def test_three_malformed_replies_raise_after_exactly_three_requests(llm_server, tmp_path):
    llm_server.script("review", "not json", "[1, 2]", '{"scores": []}', REVIEW)
    agent = make_agent(llm_server, tmp_path)
    with pytest.raises(AgentReplyError) as err:
        agent.review([PROPOSAL, SECOND], {})
    assert len(llm_server.requests) == 3
    message = str(err.value)
    assert message.startswith(f"review: model {MODEL} at {llm_server.base_url} gave no usable reply in 3 attempts")
    assert "last error: the reply's 'scores' must be a non-empty array, got an empty array" in message


@pytest.mark.parametrize("bad, error", [
    ({k: v for k, v in REFINE.items() if k != "plan"}, "the reply is missing the field 'plan'"),
    ({**REFINE, "expected_effect": "about 0.01 nats"}, "field 'expected_effect' must be a JSON object, got a string"),
])
def test_a_wrong_shape_is_sent_back_with_the_validation_error(bad, error, llm_server, tmp_path):
    llm_server.script("refine", bad, REFINE)
    assert make_agent(llm_server, tmp_path).refine(PROPOSAL, {}) == REFINE
    assert len(llm_server.requests) == 2
    assert error in llm_server.requests[1]["messages"][-1]["content"]


def test_a_score_out_of_range_is_sent_back(llm_server, tmp_path):
    bad = json.loads(json.dumps(REVIEW))
    bad["scores"][0]["novelty"] = 7
    llm_server.script("review", bad, REVIEW)
    assert make_agent(llm_server, tmp_path).review([PROPOSAL, SECOND], {}) == REVIEW
    assert "field 'scores[0].novelty' must be an integer from 1 to 5, got 7" in llm_server.requests[1]["messages"][-1]["content"]


def test_a_review_must_score_exactly_the_candidates(llm_server, tmp_path):
    llm_server.script("review", {**REVIEW, "scores": REVIEW["scores"][:1], "selected": "qk_clip"}, REVIEW)
    make_agent(llm_server, tmp_path).review([PROPOSAL, SECOND], {})
    assert "missing: soft_gate" in llm_server.requests[1]["messages"][-1]["content"]


# -- HTTP errors and timeouts -------------------------------------------------------------------------
def test_an_http_500_is_retried_by_the_client(llm_server, tmp_path):
    llm_server.script("review_abstract", Status(500), {"findings": []})
    assert make_agent(llm_server, tmp_path).review_abstract("text", {}) == []
    assert len(llm_server.requests) == 2


def test_http_500_forever_is_unavailable_after_bounded_requests(llm_server, tmp_path):
    llm_server.always("review_paper", Status(500, "model overloaded"))
    agent = make_agent(llm_server, tmp_path, max_retries=3)  # not the client's default (2)
    with pytest.raises(AgentUnavailable) as err:
        agent.review_paper("# Paper", {})
    assert len(llm_server.requests) == 4
    assert str(err.value) == (f"the LLM endpoint {llm_server.base_url} (task review_paper, model {MODEL}) answered "
                              "HTTP 500 after 4 attempts: model overloaded; check the server's logs")
    assert TranscriptStore(tmp_path / "runs" / "agent").all() == []  # nothing to replay


def test_a_reply_slower_than_the_timeout_is_unavailable(llm_server, tmp_path):
    llm_server.always("refine", Delay(10.0, REFINE))
    agent = make_agent(llm_server, tmp_path, timeout=0.3, max_retries=1)
    with pytest.raises(AgentUnavailable) as err:
        agent.refine(PROPOSAL, {})
    assert len(llm_server.requests) == 2
    assert str(err.value).startswith(f"the LLM endpoint {llm_server.base_url} (task refine, model {MODEL}) did not "
                                     "answer within 0.3 s in 2 attempts")


def test_a_refused_connection_names_the_endpoint(tmp_path):
    agent = ChatAgent(OpenAITransport(base_url="http://127.0.0.1:9/v1", model=MODEL, api_key="k", max_retries=0),
                      transcripts=tmp_path)
    with pytest.raises(AgentUnavailable, match=r"http://127\.0\.0\.1:9/v1 .* could not be reached .*RESEARCH_LLM_BASE_URL"):
        agent.review_abstract("text", {})


# -- replay from transcripts ----------------------------------------------------------------------------
def test_a_second_agent_replays_the_transcripts_without_any_request(llm_server, tmp_path):
    llm_server.script("propose", "oops", {"ideas": [PROPOSAL, SECOND]})
    llm_server.script("implement", {"module": MODULE})
    first = make_agent(llm_server, tmp_path)
    ideas = first.propose({"tried": []}, n=2)
    module = first.implement(ideas[0], {})
    assert len(llm_server.requests) == 3
    llm_server.reset()  # nothing scripted any more: a request would fail

    second = make_agent(llm_server, tmp_path)
    assert second.propose({"tried": []}, n=2) == ideas
    assert second.implement(ideas[0], {}) == module
    assert llm_server.requests == []
    assert second.transcript_hashes == first.transcript_hashes


def test_a_changed_request_is_not_replayed(llm_server, tmp_path):
    llm_server.script("refine", REFINE, REFINE)
    make_agent(llm_server, tmp_path).refine(PROPOSAL, {})
    make_agent(llm_server, tmp_path).refine(SECOND, {})
    assert len(llm_server.requests) == 2


# -- configuration --------------------------------------------------------------------------------------
def test_configuration_from_the_environment(monkeypatch, llm_server, tmp_path):
    monkeypatch.setenv("RESEARCH_LLM_BASE_URL", llm_server.base_url)
    monkeypatch.setenv("RESEARCH_LLM_MODEL", "env-model")
    monkeypatch.delenv("RESEARCH_LLM_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "fallback-key")
    llm_server.script("review_abstract", {"findings": []})
    agent = ChatAgent(OpenAITransport(), transcripts=tmp_path)
    assert isinstance(agent, Agent) and (agent.backend, agent.model) == ("openai", "env-model")
    assert agent and agent.review_abstract("text", {}) == []
    [request] = llm_server.requests
    assert request["body"]["model"] == "env-model" and request["authorization"] == "Bearer fallback-key"
