"""A scripted, local server that speaks the Anthropic Messages API (POST /v1/messages), for
tests that drive the real `anthropic` client: the script, the request log and the HTTP
plumbing of tests/helpers/agent_server.py, with this dialect:

* the task is read from the `system` parameter's first line `task: <name>`;
* requests the real API refuses are refused the same way, before the script is read, so a
  transport that sends the wrong shape fails its tests: no key (401: neither `x-api-key` nor
  `authorization: Bearer`, which newer clients send), no `anthropic-version` (400), no integer `max_tokens`, a `system` role inside `messages`, a
  first turn that is not `user`, turns that do not alternate, empty content (400);
* a reply is the real response shape: `content` blocks, `stop_reason`, `usage` with
  `input_tokens`/`output_tokens`; errors are `{"type": "error", "error": {"type", "message"}}`
  with the API's error types (429 rate_limit_error, 529 overloaded_error, ...); 429 and 5xx
  carry `retry-after` as the API does, and `retry-after-ms: 10`, which the client prefers,
  so a retried test waits 10 ms and not a second.

Replies, besides those of agent_server (dict/list, str, Status, Delay):
  Stop(content, reason)   content sent with that stop_reason (e.g. "max_tokens": cut off)
  Blocks([...])           the content blocks verbatim (e.g. a thinking block before the text)

Use it as the fixture `anthropic_server` (tests/conftest.py registers this module for every test):

    anthropic_server.script("review", "not json", Status(529), REVIEW)
    transport = AnthropicTransport(base_url=anthropic_server.base_url, model="m", api_key="k")
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from helpers.agent_server import ScriptedLLMServer, Status, task_of_system

__all__ = ["ScriptedAnthropicServer", "Stop", "Blocks", "api_key", "anthropic_server"]

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
               529: "overloaded_error"}


@dataclass(frozen=True)
class Stop:
    content: Any
    reason: str


@dataclass(frozen=True)
class Blocks:
    blocks: list


def api_key(headers: dict) -> str | None:
    """The key a request carried, in either header the API takes."""
    bearer = headers.get("authorization") or ""
    return headers.get("x-api-key") or (bearer[len("Bearer "):] if bearer.startswith("Bearer ") else None)


def _text(content) -> str:
    """A string content, or the text of a list of content blocks."""
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return content if isinstance(content, str) else ""


class ScriptedAnthropicServer(ScriptedLLMServer):
    PATH = "/v1/messages"
    BASE_PATH = ""  # the client's base URL is the server's root; it appends /v1/messages

    def task_of(self, body: dict) -> str | None:
        return task_of_system(_text(body.get("system")))

    def refuse(self, headers: dict, body: dict) -> Status | None:
        if not api_key(headers):
            return Status(401, "x-api-key header is required")
        if not headers.get("anthropic-version"):
            return Status(400, "anthropic-version: header is required")
        max_tokens = body.get("max_tokens")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            return Status(400, "max_tokens: Field required (a positive integer)")
        if not isinstance(body.get("model"), str) or not body["model"]:
            return Status(400, "model: Field required")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return Status(400, "messages: at least one message is required")
        for i, m in enumerate(messages):
            role = m.get("role") if isinstance(m, dict) else None
            if role not in ("user", "assistant"):
                return Status(400, f"messages.{i}.role: Input should be 'user' or 'assistant' (system prompts go "
                                   "in the top-level system parameter)")
            if i == 0 and role != "user":
                return Status(400, "messages: the first message must use the user role")
            if i and role == messages[i - 1]["role"]:
                return Status(400, "messages: roles must alternate between user and assistant")
            if not _text(m.get("content")).strip():
                return Status(400, f"messages.{i}: all messages must have non-empty content")
        return None

    def completion(self, body: dict, content: Any, number: int) -> dict:
        reason = "end_turn"
        if isinstance(content, Stop):
            content, reason = content.content, content.reason
        if isinstance(content, Blocks):
            blocks = list(content.blocks)
        else:
            blocks = [{"type": "text", "text": content if isinstance(content, str) else json.dumps(content)}]
        prompt = _text(body.get("system")) + " ".join(_text(m.get("content")) for m in body.get("messages") or [])
        return {"id": f"msg_{number:024d}", "type": "message", "role": "assistant",
                "model": body.get("model", self.model), "content": blocks, "stop_reason": reason,
                "stop_sequence": None,
                "usage": {"input_tokens": len(prompt.split()),
                          "output_tokens": max(1, sum(len(_text([b])) for b in blocks) // 4)}}

    def error(self, status: Status) -> tuple[dict, dict]:
        headers = {"retry-after": "1", "retry-after-ms": "10"} if status.code >= 500 or status.code == 429 else {}
        payload = {"type": "error", "error": {"type": ERROR_TYPES.get(status.code, "api_error"),
                                              "message": status.body or f"scripted HTTP {status.code}"}}
        return payload, {"request-id": "req_scripted", **headers, **dict(status.headers)}


@pytest.fixture
def anthropic_server():
    """A fresh scripted Messages API server per test (see the module docstring)."""
    with ScriptedAnthropicServer() as server:
        yield server
