"""The `openai` transport: one chat completion per exchange against any OpenAI-compatible
endpoint (OpenAI, vLLM, llama.cpp's server, Ollama, a LiteLLM proxy), through the official
`openai` package (`pip install 'research_harness[agent]'`).

JSON mode (`response_format: json_object`) is asked for because every reply is one JSON
object; servers that honour it never send prose around it. HTTP errors and timeouts are
retried by the client itself (bounded by `max_retries`), then become one line naming the
endpoint and the variable to check."""

from __future__ import annotations

import os
from typing import Mapping

from research_harness.agent.protocol import AgentConfigError
from research_harness.agent.transports import Completion
from research_harness.agent.transports._sdk import import_client, retry_settings, send

__all__ = ["OpenAITransport", "DEFAULT_BASE_URL"]

PACKAGE, EXTRA = "openai", "agent"
DEFAULT_BASE_URL = "https://api.openai.com/v1"

HINTS = {401: "check RESEARCH_LLM_API_KEY (or OPENAI_API_KEY)", 403: "check RESEARCH_LLM_API_KEY's rights",
         404: "check RESEARCH_LLM_MODEL and that RESEARCH_LLM_BASE_URL ends in /v1",
         400: "check that the server supports response_format json_object and the model name"}


class OpenAITransport:
    """Configuration: arguments, else the environment (RESEARCH_LLM_BASE_URL or
    OPENAI_BASE_URL, RESEARCH_LLM_MODEL, RESEARCH_LLM_API_KEY or OPENAI_API_KEY,
    RESEARCH_LLM_TIMEOUT, RESEARCH_LLM_MAX_RETRIES)."""

    backend = "openai"

    def __init__(self, base_url: str | None = None, model: str | None = None, api_key: str | None = None, *,
                 timeout: float | None = None, max_retries: int | None = None, temperature: float | None = None,
                 env: Mapping[str, str] | None = None):
        env = os.environ if env is None else env
        self.base_url = (base_url or env.get("RESEARCH_LLM_BASE_URL") or env.get("OPENAI_BASE_URL")
                         or DEFAULT_BASE_URL).rstrip("/")
        self.model = model or env.get("RESEARCH_LLM_MODEL")
        api_key = api_key or env.get("RESEARCH_LLM_API_KEY") or env.get("OPENAI_API_KEY")
        missing = ([] if self.model else ["RESEARCH_LLM_MODEL (the model name)"]) + \
                  ([] if api_key else ["RESEARCH_LLM_API_KEY or OPENAI_API_KEY (any non-empty value for a local "
                                       "server without auth)"])
        if missing:
            raise AgentConfigError("the openai agent backend is not configured: set " + " and ".join(missing)
                                   + f"; RESEARCH_LLM_BASE_URL picks the endpoint (now {self.base_url})")
        self._sdk = import_client(PACKAGE, self.backend, EXTRA)
        self.timeout, self.max_retries = retry_settings(env, timeout, max_retries, default_timeout=60.0)
        self.temperature = temperature
        self._client = self._sdk.OpenAI(base_url=self.base_url, api_key=api_key, timeout=self.timeout,
                                        max_retries=self.max_retries)

    def complete(self, task: str, messages: list[dict]) -> Completion:
        extra = {} if self.temperature is None else {"temperature": self.temperature}
        completion = send(self._sdk, lambda: self._client.chat.completions.create(
                              model=self.model, messages=messages, response_format={"type": "json_object"}, **extra),
                          where=f"the LLM endpoint {self.base_url} (task {task}, model {self.model})",
                          timeout=self.timeout, attempts=self.max_retries + 1, url_var="RESEARCH_LLM_BASE_URL",
                          hints=HINTS)
        choice = completion.choices[0] if completion.choices else None
        text = choice.message.content if choice is not None else None
        if text is None and choice is not None and getattr(choice.message, "refusal", None):
            text = ""  # a refusal is a malformed reply: the model is asked again
        usage = completion.usage.model_dump(exclude_none=True) if completion.usage is not None else {}
        return Completion(text, getattr(choice, "finish_reason", None), usage)


TRANSPORT = OpenAITransport
