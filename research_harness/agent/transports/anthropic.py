"""The `anthropic` transport: one Messages API request per exchange (POST {base}/v1/messages),
through the official `anthropic` package (`pip install 'research_harness[anthropic]'`).

The conversation arrives in chat form (transports/__init__.py); the Messages API takes the
system message as the `system` parameter and only user/assistant turns in `messages`, and
requires `max_tokens`. It has no JSON mode: the system prompt's reply rule asks for one
JSON object, and a reply that is not one is sent back by the chat agent like any other
malformed reply. HTTP errors (429, 5xx including 529 "overloaded") and timeouts are retried
by the client itself, bounded by `max_retries`, honouring `retry-after`."""

from __future__ import annotations

import os
from typing import Mapping

from research_harness.agent.protocol import AgentConfigError
from research_harness.agent.transports import Completion
from research_harness.agent.transports._sdk import import_client, retry_settings, send

__all__ = ["AnthropicTransport", "DEFAULT_BASE_URL"]

PACKAGE, EXTRA = "anthropic", "anthropic"
DEFAULT_BASE_URL = "https://api.anthropic.com"
# Room for the largest reply, an idea module of up to 200 lines as one JSON string, with margin.
# Models whose output limit is lower (Claude 3: 4096) need RESEARCH_LLM_MAX_TOKENS.
DEFAULT_MAX_TOKENS = 8192
# A reply of thousands of tokens takes minutes at 50-100 tokens/s; 60 s (the openai default) would
# time out the implement step.
DEFAULT_TIMEOUT = 300.0
# The API refuses an assistant turn with empty content; a model's empty reply is sent back as this.
EMPTY_REPLY = "(empty reply)"

HINTS = {401: "check ANTHROPIC_API_KEY", 403: "check ANTHROPIC_API_KEY's rights (workspace, model access)",
         404: "check RESEARCH_LLM_MODEL and that ANTHROPIC_BASE_URL is the server's root, without /v1 "
              "(the client adds /v1/messages)",
         400: "check RESEARCH_LLM_MODEL and RESEARCH_LLM_MAX_TOKENS (at most the model's output limit)",
         413: "the request is larger than the API accepts",
         529: "the API is overloaded; try again later or raise RESEARCH_LLM_MAX_RETRIES"}


class AnthropicTransport:
    """Configuration: arguments, else the environment (RESEARCH_LLM_MODEL, ANTHROPIC_API_KEY,
    ANTHROPIC_BASE_URL for a proxy or gateway, RESEARCH_LLM_MAX_TOKENS, RESEARCH_LLM_TIMEOUT,
    RESEARCH_LLM_MAX_RETRIES). The key is never taken from RESEARCH_LLM_API_KEY: that one is
    the openai endpoint's and must not be sent to another provider."""

    backend = "anthropic"

    def __init__(self, base_url: str | None = None, model: str | None = None, api_key: str | None = None, *,
                 timeout: float | None = None, max_retries: int | None = None, max_tokens: int | None = None,
                 temperature: float | None = None, env: Mapping[str, str] | None = None):
        env = os.environ if env is None else env
        self.base_url = (base_url or env.get("ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.model = model or env.get("RESEARCH_LLM_MODEL")
        api_key = api_key or env.get("ANTHROPIC_API_KEY")
        missing = ([] if self.model else ["RESEARCH_LLM_MODEL (the model name, e.g. claude-sonnet-4-5)"]) + \
                  ([] if api_key else ["ANTHROPIC_API_KEY (any non-empty value for a local server without auth)"])
        if missing:
            raise AgentConfigError("the anthropic agent backend is not configured: set " + " and ".join(missing)
                                   + f"; ANTHROPIC_BASE_URL picks the endpoint (now {self.base_url})")
        try:
            self.max_tokens = int(max_tokens if max_tokens is not None
                                  else env.get("RESEARCH_LLM_MAX_TOKENS", DEFAULT_MAX_TOKENS))
        except ValueError:
            raise AgentConfigError(f"RESEARCH_LLM_MAX_TOKENS must be a whole number, got "
                                   f"{env.get('RESEARCH_LLM_MAX_TOKENS')!r}") from None
        self._sdk = import_client(PACKAGE, self.backend, EXTRA)
        self.timeout, self.max_retries = retry_settings(env, timeout, max_retries, default_timeout=DEFAULT_TIMEOUT)
        self.temperature = temperature
        # api_key and base_url are passed explicitly so the client reads no credentials or
        # profiles of its own: what is used is what the error messages name.
        self._client = self._sdk.Anthropic(api_key=api_key, base_url=self.base_url, timeout=self.timeout,
                                           max_retries=self.max_retries)

    def complete(self, task: str, messages: list[dict]) -> Completion:
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        turns = [{"role": m["role"], "content": m["content"] or EMPTY_REPLY}
                 for m in messages if m["role"] != "system"]
        extra = {} if self.temperature is None else {"temperature": self.temperature}
        message = send(self._sdk, lambda: self._client.messages.create(
                           model=self.model, max_tokens=self.max_tokens, system=system, messages=turns, **extra),
                       where=f"the Anthropic endpoint {self.base_url} (task {task}, model {self.model})",
                       timeout=self.timeout, attempts=self.max_retries + 1, url_var="ANTHROPIC_BASE_URL", hints=HINTS)
        # The reply's text is its text blocks in order (a model may split it; other block
        # types, such as thinking, are not the answer).
        text = "".join(block.text for block in message.content if getattr(block, "type", None) == "text")
        usage = message.usage.model_dump(exclude_none=True) if message.usage is not None else {}
        return Completion(text, message.stop_reason, usage)


TRANSPORT = AnthropicTransport
