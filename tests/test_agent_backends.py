"""Choosing the research agent: the built-in transports are found by their files, each
names its extra when its package is missing, and a third transport registered by another
package's entry point needs nothing but its transport class. Runs without any extra (the
tests that need a client package skip with its install hint)."""

from __future__ import annotations

import sys
import textwrap

import pytest

from research_harness.agent import AgentConfigError
from research_harness.agent.backends import CatalogueAgent, agent_names, make_agent, requirement
from research_harness.agent.protocol import Agent
from research_harness.agent.transports.anthropic import AnthropicTransport
from research_harness.agent.transports.openai import OpenAITransport

PLAIN_HTTP = '''
"""A third transport: the chat-completions wire through the standard library alone."""
import json
import os
import urllib.request

from research_harness.agent.transports import Completion


class PlainHTTPTransport:
    backend = "plain_http"

    def __init__(self):
        self.base_url, self.model = os.environ["PLAIN_HTTP_URL"], os.environ["PLAIN_HTTP_MODEL"]

    def complete(self, task, messages):
        body = json.dumps({"model": self.model, "messages": messages}).encode()
        request = urllib.request.Request(self.base_url + "/chat/completions", body,
                                         {"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            reply = json.load(response)
        choice = reply["choices"][0]
        return Completion(choice["message"]["content"], choice["finish_reason"], reply["usage"])
'''


def test_the_built_in_backends_are_listed_by_name():
    assert agent_names()[:3] == ["catalogue", "anthropic", "openai"]
    assert requirement("openai") == ("openai", "agent") and requirement("anthropic") == ("anthropic", "anthropic")
    assert requirement("catalogue") is None


@pytest.mark.parametrize("package, extra, transport", [("openai", "agent", "OpenAITransport"),
                                                       ("anthropic", "anthropic", "AnthropicTransport")])
def test_a_missing_client_package_names_the_extra(package, extra, transport, monkeypatch):
    module = __import__(f"research_harness.agent.transports.{package}", fromlist=[transport])
    monkeypatch.setitem(sys.modules, package, None)  # what `import <package>` meets when it is not installed
    with pytest.raises(AgentConfigError, match=rf"the {package} agent backend needs the {package} package: "
                                               rf"pip install 'research_harness\[{extra}\]'"):
        getattr(module, transport)(model="m", api_key="k")


def test_the_catalogue_agent_declares_what_the_study_reads():
    agent = make_agent("catalogue", workspace=".", ideas=dict)
    assert isinstance(agent, CatalogueAgent) and isinstance(agent, Agent)
    assert (agent.backend, agent.model, agent.transcripts) == ("catalogue", None, None)


def test_anthropic_by_name_is_configured_from_the_environment(monkeypatch, anthropic_server, tmp_path):
    pytest.importorskip("anthropic", reason="needs the [anthropic] extra: pip install 'research_harness[anthropic]'")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic_server.base_url)
    monkeypatch.setenv("RESEARCH_LLM_MODEL", "claude-scripted")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    anthropic_server.script("review_abstract", {"findings": []})
    agent = make_agent("anthropic", workspace=tmp_path, ideas=dict)
    assert isinstance(agent, Agent) and (agent.backend, agent.model) == ("anthropic", "claude-scripted")
    assert agent.review_abstract("text", {}) == []
    assert agent.transcripts.root == tmp_path / "runs" / "agent" and len(agent.transcripts.all()) == 1


def test_a_third_transport_by_entry_point_is_one_class(monkeypatch, llm_server, tmp_path):
    """Another package ships one module and one entry point; the harness wraps its transport
    in the chat agent, so prompts, validation, retries and transcripts come for free."""
    site = tmp_path / "site"
    (site / "plain_http_transport-0.1.dist-info").mkdir(parents=True)
    (site / "plain_http_transport.py").write_text(textwrap.dedent(PLAIN_HTTP))
    (site / "plain_http_transport-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: plain-http-transport\nVersion: 0.1\n")
    (site / "plain_http_transport-0.1.dist-info" / "entry_points.txt").write_text(
        "[research_harness.transports]\nplain_http = plain_http_transport:PlainHTTPTransport\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PLAIN_HTTP_URL", llm_server.base_url)
    monkeypatch.setenv("PLAIN_HTTP_MODEL", "scripted-model")
    assert "plain_http" in agent_names() and requirement("plain_http") is None

    llm_server.script("review_abstract", "not json", {"findings": []})  # a malformed reply is sent back
    agent = make_agent("plain_http", workspace=tmp_path / "ws", ideas=dict)
    assert isinstance(agent, Agent) and (agent.backend, agent.model) == ("plain_http", "scripted-model")
    assert agent.review_abstract("text", {}) == []
    assert len(llm_server.requests) == 2 and "could not be used" in llm_server.requests[1]["messages"][-1]["content"]
    assert len(agent.transcripts.all()) == 2 and agent.transcripts.root == tmp_path / "ws" / "runs" / "agent"


def test_an_unknown_name_lists_the_choices():
    with pytest.raises(AgentConfigError, match="unknown research agent 'oracle'; choose one of: catalogue, anthropic, "
                                               "openai"):
        make_agent("oracle", workspace=".", ideas=dict)


# -- each transport checks its configuration before importing its client package, so these run
# without any extra (moved here from test_agent_openai.py / test_agent_anthropic.py, which skip without it)
def test_the_openai_transport_names_its_missing_configuration_without_its_package(monkeypatch):
    for var in ("RESEARCH_LLM_MODEL", "RESEARCH_LLM_API_KEY", "OPENAI_API_KEY", "RESEARCH_LLM_BASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(AgentConfigError) as err:
        OpenAITransport()
    assert str(err.value) == ("the openai agent backend is not configured: set RESEARCH_LLM_MODEL (the model name) and "
                              "RESEARCH_LLM_API_KEY or OPENAI_API_KEY (any non-empty value for a local server without "
                              "auth); RESEARCH_LLM_BASE_URL picks the endpoint (now https://api.openai.com/v1)")
    monkeypatch.setenv("RESEARCH_LLM_MODEL", "some-model")
    with pytest.raises(AgentConfigError, match="set RESEARCH_LLM_API_KEY or OPENAI_API_KEY"):
        OpenAITransport()


def test_the_anthropic_transport_names_its_missing_configuration_without_its_package(monkeypatch):
    for var in ("RESEARCH_LLM_MODEL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "RESEARCH_LLM_API_KEY",
                "RESEARCH_LLM_MAX_TOKENS", "RESEARCH_LLM_TIMEOUT", "RESEARCH_LLM_MAX_RETRIES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RESEARCH_LLM_API_KEY", "the-openai-endpoints-key")  # never sent to another provider
    with pytest.raises(AgentConfigError) as err:
        AnthropicTransport()
    assert str(err.value) == ("the anthropic agent backend is not configured: set RESEARCH_LLM_MODEL (the model name, "
                              "e.g. claude-sonnet-4-5) and ANTHROPIC_API_KEY (any non-empty value for a local server "
                              "without auth); ANTHROPIC_BASE_URL picks the endpoint (now https://api.anthropic.com)")
    monkeypatch.setenv("RESEARCH_LLM_MODEL", "some-model")
    with pytest.raises(AgentConfigError, match="set ANTHROPIC_API_KEY"):
        AnthropicTransport()
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    monkeypatch.setenv("RESEARCH_LLM_MAX_TOKENS", "lots")
    with pytest.raises(AgentConfigError, match="RESEARCH_LLM_MAX_TOKENS must be a whole number, got 'lots'"):
        AnthropicTransport()
