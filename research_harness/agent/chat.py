"""The chat agent: the seven skills, each one exchange with a model over a transport.

    prompts.py      what the model is told (backend-independent)
    chat.py         this: ask, validate, send back a malformed reply, replay, record
    transports/     how an exchange reaches a model (openai, anthropic, ...)

Why the loop is built this way (docs/AGENT.md is the spec):
* one request per step, JSON-object replies validated by `wire.parse_reply`; a reply of
  the wrong shape is sent back with the validation error, up to `malformed_retries` times,
  because models fix their own JSON well when told exactly what was wrong;
* every exchange is a transcript (transcripts.py); a request already answered is replayed
  from disk without contacting the model, so a killed study resumes for free and the same
  transcripts reproduce the same study. The transcript holds the conversation in chat form
  whichever transport carried it, and its hash ignores the transport, so the replay does too;
* HTTP failures are the transport's (it retries, bounded, then raises AgentUnavailable)."""

from __future__ import annotations

import os
import time
from typing import Any, Mapping

from research_harness.agent import prompts, wire
from research_harness.agent.protocol import AgentReplyError, one_line
from research_harness.agent.transcripts import TranscriptStore, transcript_hash
from research_harness.agent.transports import Transport

__all__ = ["ChatAgent"]

# The finish reasons (openai's, anthropic's) that mean the reply hit the output limit: the
# retry message says so, or the model would send the same too-long reply again.
CUT_OFF = ("length", "max_tokens")


class ChatAgent:
    """An `Agent` whose skills are chat exchanges over `transport`. It reads `backend` and
    `model` from the transport; `transcripts` is the store (or its folder) it records in and
    replays from."""

    def __init__(self, transport: Transport, *, transcripts: TranscriptStore | str | os.PathLike,
                 malformed_retries: int = 2):
        self.transport = transport
        self.backend, self.model = transport.backend, transport.model
        self.transcripts = transcripts if isinstance(transcripts, TranscriptStore) else TranscriptStore(transcripts)
        self.malformed_retries = max(0, int(malformed_retries))
        self.transcript_hashes: list[str] = []  # every transcript this agent used, in first-use order
        self.last_call: dict = {}  # task, hashes, attempts of the latest skill call
        self.last_dropped: list[str] = []  # proposals dropped by the latest propose (name already tried)

    # -- the skills -------------------------------------------------------------------------------
    def propose(self, context: Mapping[str, Any], n: int = 3) -> list[dict]:
        tried = sorted(set(context.get("tried", ())))
        inputs = {"ideas wanted": n, "tried (never reuse these names)": tried or "none yet"}
        inputs.update({k: v for k, v in context.items() if k != "tried"})
        reply = self._ask("propose", prompts.request("propose", inputs, n=n), tried=tried, n=n)
        self.last_dropped = reply["dropped"]
        return reply["ideas"]

    def review(self, candidates: list[dict], context: Mapping[str, Any]) -> dict:
        names = [c["name"] for c in candidates]
        return self._ask("review", prompts.request("review", {"candidates": candidates, **context}), candidates=names)

    def refine(self, idea: Mapping[str, Any], context: Mapping[str, Any]) -> dict:
        return self._ask("refine", prompts.request("refine", {"idea": dict(idea), **context}))

    def implement(self, idea: Mapping[str, Any], context: Mapping[str, Any], error: str | None = None) -> str:
        inputs = {"idea": dict(idea), **context, "error": error}
        return self._ask("implement", prompts.request("implement", inputs))["module"]

    def review_paper(self, markdown: str, context: Mapping[str, Any]) -> list[dict]:
        return self._ask("review_paper", prompts.request("review_paper", {"paper": markdown, **context}))["findings"]

    def review_abstract(self, abstract: str, context: Mapping[str, Any]) -> list[dict]:
        return self._ask("review_abstract",
                         prompts.request("review_abstract", {"abstract": abstract, **context}))["findings"]

    def revise_paper(self, sections: Mapping[str, str], findings: list[dict], context: Mapping[str, Any]) -> dict:
        inputs = {"sections": dict(sections), "findings": findings, **context}
        return self._ask("revise_paper", prompts.request("revise_paper", inputs))

    # -- one step: ask (or replay), validate, send a malformed reply back ---------------------------
    def _ask(self, task: str, messages: list[dict], **expect: Any) -> dict:
        hashes: list[str] = []
        error = ""
        for attempt in range(1, self.malformed_retries + 2):
            record, replayed = self._exchange(task, messages)
            hashes.append(record["hash"])
            if record["hash"] not in self.transcript_hashes:
                self.transcript_hashes.append(record["hash"])
            raw = record["reply"]["raw"]
            try:
                parsed = wire.parse_reply(task, raw, **expect)
            except wire.ReplyShapeError as exc:
                error = str(exc)
                if record["reply"].get("finish_reason") in CUT_OFF:
                    error += " (the reply was cut off at the output token limit: keep it shorter)"
                if not replayed:
                    self._store(record, error=error)
                messages = prompts.retry(messages, raw, error)
                continue
            if not replayed:
                self._store(record, parsed=parsed)
            self.last_call = {"task": task, "hashes": hashes, "attempts": attempt}
            return parsed
        self.last_call = {"task": task, "hashes": hashes, "attempts": len(hashes), "error": error}
        raise AgentReplyError(f"{task}: model {self.model} at {self.transport.base_url} gave no usable reply in "
                              f"{len(hashes)} attempts; last error: {one_line(error, 300)} "
                              f"(transcripts {', '.join(hashes)})")

    def _exchange(self, task: str, messages: list[dict]) -> tuple[dict, bool]:
        """The transcript of this exact request: from disk when stored (True), else from the
        transport (False; stored by the caller once validated, so it records the verdict)."""
        stored = self.transcripts.get(task, self.model, messages)
        if stored is not None:
            return stored, True
        t0 = time.perf_counter()
        text, finish_reason, usage = self.transport.complete(task, messages)
        record = {"hash": transcript_hash(task, self.model, messages), "task": task, "model": self.model,
                  "base_url": self.transport.base_url, "messages": messages,
                  "reply": {"raw": text, "finish_reason": finish_reason}, "usage": dict(usage or {}),
                  "latency_s": round(time.perf_counter() - t0, 4)}
        return record, False

    def _store(self, record: dict, **verdict: Any) -> None:
        self.transcripts.put(task=record["task"], model=record["model"], base_url=record["base_url"],
                             messages=record["messages"], raw=record["reply"]["raw"],
                             finish_reason=record["reply"]["finish_reason"], usage=record["usage"],
                             latency_s=record["latency_s"], **verdict)
