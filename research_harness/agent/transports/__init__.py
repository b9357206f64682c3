"""Transports: how one chat exchange reaches a model. Everything else (the prompts, reply
validation, retries of malformed replies, transcripts and replay) lives in
`research_harness.agent.chat.ChatAgent`, so a transport is only the wire.

A transport is any object with

    backend: str     # its name, as --research-agent takes it and the paper records it
    model: str       # the model name; part of every transcript's hash
    base_url: str    # where it sends requests (recorded in transcripts, named in errors)
    def complete(self, task: str, messages: list[dict]) -> Completion: ...

`messages` is the conversation in chat form: a `system` message first, then `user` and
`assistant` turns alternating, each with string `content`. `complete` returns the reply's
text (None or "" when the model gave none), the provider's finish reason and its usage
block as a plain dict. HTTP errors and timeouts are the transport's to retry (bounded);
then it raises `AgentUnavailable` with one line that names the fix. A missing setting or
package raises `AgentConfigError` naming the variable or the extra, at construction.

A built-in transport is one module in this folder whose name is the backend's name and
which defines `TRANSPORT` (a class taking no required arguments: it reads its settings
from the environment); `PACKAGE` and `EXTRA` name the import it needs and the pip extra
that brings it. Another package registers its own under the entry-point group
`research_harness.transports` (docs/AGENT.md)."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import NamedTuple, Protocol, runtime_checkable

__all__ = ["Completion", "Transport", "builtin", "requirement"]


class Completion(NamedTuple):
    text: str | None
    finish_reason: str | None  # the provider's own word: "stop", "length", "end_turn", "max_tokens", ...
    usage: dict  # the provider's token counts, as it names them


@runtime_checkable
class Transport(Protocol):
    backend: str
    model: str
    base_url: str

    def complete(self, task: str, messages: list[dict]) -> Completion:
        """One request; the reply's text, finish reason and usage."""


def builtin() -> list[str]:
    """The built-in transports' names: the public modules of this folder (found without
    importing them, so listing names never loads a client package)."""
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_"))


def _module(name: str):
    if name not in builtin():
        raise KeyError(name)
    return importlib.import_module(f"{__name__}.{name}")


def transport_class(name: str) -> type:
    """The built-in transport class called `name` (its module imports no client package)."""
    return _module(name).TRANSPORT


def requirement(name: str) -> tuple[str, str]:
    """(the package `name` imports, the pip extra that installs it)."""
    module = _module(name)
    return module.PACKAGE, module.EXTRA
