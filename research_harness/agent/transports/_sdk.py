"""What the two official clients share. The `openai` and `anthropic` packages are generated
from one template: the same exception classes (APITimeoutError, APIConnectionError,
APIStatusError), the same bounded retries of 408/409/429/5xx and dropped connections, the
same `retry-after-ms`/`retry-after` handling. So the settings that drive those retries and
the translation of what is left into one-line `AgentUnavailable` errors are written once.
A transport over another client does not need this module."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from research_harness.agent.protocol import AgentConfigError, AgentUnavailable, one_line

TIMEOUT_VAR, RETRIES_VAR = "RESEARCH_LLM_TIMEOUT", "RESEARCH_LLM_MAX_RETRIES"


def retry_settings(env: Mapping[str, str], timeout: float | None, max_retries: int | None,
                   default_timeout: float) -> tuple[float, int]:
    """Seconds per HTTP attempt and retries after the first: arguments, else the environment."""
    try:
        seconds = float(timeout if timeout is not None else env.get(TIMEOUT_VAR, default_timeout))
        retries = int(max_retries if max_retries is not None else env.get(RETRIES_VAR, 2))
    except ValueError:
        raise AgentConfigError(f"{TIMEOUT_VAR} must be a number of seconds and {RETRIES_VAR} a whole number; got "
                               f"{env.get(TIMEOUT_VAR)!r} and {env.get(RETRIES_VAR)!r}") from None
    return seconds, max(0, retries)


def import_client(package: str, backend: str, extra: str):
    try:
        return __import__(package)
    except ImportError:
        raise AgentConfigError(f"the {backend} agent backend needs the {package} package: "
                               f"pip install 'research_harness[{extra}]'") from None


def send(sdk, create: Callable[[], Any], *, where: str, timeout: float, attempts: int, url_var: str,
         hints: Mapping[int, str]) -> Any:
    """`create()` (the client call, which retries by itself), with its final failure turned
    into AgentUnavailable: `where` names the endpoint, task and model; `hints` the fix per
    HTTP status (5xx and the rest get a generic one)."""
    try:
        return create()
    except sdk.APITimeoutError:
        raise AgentUnavailable(f"{where} did not answer within {timeout:g} s in {attempts} attempts; check that the "
                               f"server is up and not overloaded, or raise {TIMEOUT_VAR}") from None
    except sdk.APIConnectionError as exc:
        raise AgentUnavailable(f"{where} could not be reached ({one_line(exc)}) in {attempts} attempts; check that "
                               f"the server is running and {url_var}") from None
    except sdk.APIStatusError as exc:
        code = exc.status_code
        hint = hints.get(code) or ("check the server's logs" if code >= 500 else "check the request the server refused")
        # the clients retry exactly these statuses; saying "after N attempts" for a 401 would mislead
        tries = f" after {attempts} attempts" if code >= 500 or code in (408, 409, 429) else ""
        raise AgentUnavailable(f"{where} answered HTTP {code}{tries}: {one_line(_said(exc))}; {hint}") from None


def _said(exc) -> str:
    """The server's own error message: the clients keep the JSON body as `body`, either the
    inner {"message": ...} (openai) or the whole {"error": {"message": ...}} (anthropic)."""
    body = exc.body if isinstance(exc.body, dict) else {}
    inner = body.get("error")
    return body.get("message") or (inner.get("message") if isinstance(inner, dict) else inner) or exc.message
