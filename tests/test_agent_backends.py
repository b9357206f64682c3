"""Choosing a research agent: what a missing optional package says. Runs where the [agent]
extra is absent too (the openai tests skip there)."""

from __future__ import annotations

import sys

import pytest


def test_a_missing_openai_package_names_the_extra(monkeypatch, tmp_path):
    from research_harness.agent import AgentConfigError
    from research_harness.agent.openai_backend import OpenAIAgent

    monkeypatch.setitem(sys.modules, "openai", None)  # what `import openai` meets when it is not installed
    with pytest.raises(AgentConfigError, match=r"needs the openai package: pip install 'research_harness\[agent\]'"):
        OpenAIAgent(model="scripted-model", api_key="k", transcripts=tmp_path)
