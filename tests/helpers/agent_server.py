"""A scripted, local OpenAI-compatible chat-completions server, for tests that drive the
real `openai` client (no mocks): stdlib ThreadingHTTPServer on 127.0.0.1, port 0, in a
daemon thread.

Use it as a fixture (tests/conftest.py registers this module as a plugin for every test):

    def test_x(llm_server):
        llm_server.script("propose", {"ideas": [...]})          # a JSON object: the reply content
        llm_server.script("review", "not json", Status(500), Delay(5.0, {...}))
        llm_server.always("refine", Status(500))                # when the task's queue is empty
        agent = ChatAgent(OpenAITransport(base_url=llm_server.base_url, model="scripted", api_key="k"),
                          transcripts=...)
        ...
        llm_server.requests              # every request received: dicts with task, body, messages, path
        llm_server.requests_for("review")

Replies, per task (the task is read from the system message's first line `task: <name>`):
  dict / list          sent as the assistant message's content (json.dumps), with a realistic usage block
  str                  sent as the content verbatim (for malformed JSON)
  Status(code, body)   an HTTP error; 5xx carry `retry-after-ms: 10` so the client retries at once
  Delay(seconds, then) waits (longer than the client's timeout, to test timeouts), then sends `then`
A request with no reply left gets HTTP 400 naming the task (not retried), so a test that
asks more than it scripted fails with a clear message. Also a context manager outside pytest:
`with ScriptedLLMServer() as server: ...`.

The script, the request log and the HTTP plumbing are the same for every wire format; a
subclass speaks another one by overriding the dialect: `PATH`, `BASE_PATH`, `task_of`,
`refuse`, `completion` and `error`: tests/helpers/anthropic_server.py speaks the Messages API."""

from __future__ import annotations

import collections
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = ["ScriptedLLMServer", "Status", "Delay", "llm_server"]


@dataclass(frozen=True)
class Status:
    code: int
    body: str = ""
    headers: tuple = ()  # extra (name, value) response headers, e.g. (("retry-after", "2"),)


@dataclass(frozen=True)
class Delay:
    seconds: float
    then: Any = None


def task_of_system(text) -> str | None:
    """The task named on a system prompt's first line `task: <name>`, or None."""
    first = text.split("\n", 1)[0].strip() if isinstance(text, str) else ""
    return first[len("task:"):].strip() if first.startswith("task:") else None


class ScriptedLLMServer:
    PATH = "/v1/chat/completions"  # the one route of this dialect
    BASE_PATH = "/v1"  # what the client's base URL ends in (it appends the rest of PATH)

    def __init__(self, model: str = "scripted-model"):
        self.model = model
        self.requests: list[dict] = []
        self._queues: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._always: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- the script ---------------------------------------------------------------------------
    def script(self, task: str, *replies: Any) -> "ScriptedLLMServer":
        with self._lock:
            self._queues[task].extend(replies)
        return self

    def always(self, task: str, reply: Any) -> "ScriptedLLMServer":
        with self._lock:
            self._always[task] = reply
        return self

    def requests_for(self, task: str) -> list[dict]:
        with self._lock:
            return [r for r in self.requests if r["task"] == task]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._queues.clear()
            self._always.clear()

    def _next_reply(self, task: str | None) -> Any:
        with self._lock:
            queue = self._queues.get(task)
            if queue:
                return queue.popleft()
            if task in self._always:
                return self._always[task]
        return Status(400, f"agent_server: no scripted reply left for task {task!r}")

    # -- the dialect: OpenAI chat completions -------------------------------------------------
    def task_of(self, body: dict) -> str | None:
        for m in body.get("messages") or []:
            if isinstance(m, dict) and m.get("role") == "system":
                return task_of_system(m.get("content"))
        return None

    def refuse(self, headers: dict, body: dict) -> Status | None:
        """A Status for a request the real API would refuse, before the script is read."""
        return None

    def completion(self, body: dict, content: Any, number: int) -> dict:
        """The success payload carrying `content` (a scripted reply that is not a Status or Delay)."""
        content = content if isinstance(content, str) else json.dumps(content)
        messages = body.get("messages") or []
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages if isinstance(m, dict))
        completion_tokens = max(1, len(content) // 4)
        return {"id": f"chatcmpl-{number}", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", self.model),
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens}}

    def error(self, status: Status) -> tuple[dict, dict]:
        """The error payload and headers; 5xx carry `retry-after-ms: 10` so the client retries at once."""
        headers = {"retry-after-ms": "10"} if status.code >= 500 else {}
        return ({"error": {"message": status.body or f"scripted HTTP {status.code}", "type": "server_error",
                           "code": status.code}}, {**headers, **dict(status.headers)})

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{self.BASE_PATH}"

    def start(self) -> "ScriptedLLMServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {}
                headers = {k.lower(): v for k, v in self.headers.items()}
                task = server.task_of(body)
                with server._lock:
                    server.requests.append({"path": self.path, "task": task, "body": body,
                                            "messages": body.get("messages") or [], "headers": headers,
                                            "authorization": headers.get("authorization"), "time": time.time()})
                    number = len(server.requests)
                if self.path.rstrip("/") != server.PATH:
                    return self._error(Status(404, f"no route {self.path}"))
                refused = server.refuse(headers, body)
                reply = refused if refused is not None else server._next_reply(task)
                if isinstance(reply, Delay):
                    if server._stop.wait(reply.seconds):
                        return
                    reply = reply.then if reply.then is not None else Status(500, "delayed reply with nothing after")
                if isinstance(reply, Status):
                    return self._error(reply)
                self._send(200, server.completion(body, reply, number))

            def _error(self, status: Status) -> None:
                payload, headers = server.error(status)
                self._send(status.code, payload, headers)

            def _send(self, code: int, payload: dict, headers: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(code)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout) and closed the socket
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="agent-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> "ScriptedLLMServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@pytest.fixture
def llm_server():
    """A fresh scripted server per test (see the module docstring)."""
    with ScriptedLLMServer() as server:
        yield server
