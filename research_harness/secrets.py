"""Secret values the study process knows and model-written code must never see: the names
of the variables that hold them, and `redact`, which replaces their values in any text
that came out of a sandbox before it is stored (journal, reports, transcripts) or sent to
a model. A small neutral module: the agent and the sandbox both read it, neither imports
the other for it."""

from __future__ import annotations

import os
import re

# Named explicitly (the backends' keys) or by shape: anything that looks like a credential.
SECRET_VARIABLES = ("RESEARCH_LLM_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HF_TOKEN",
                    "HUGGING_FACE_HUB_TOKEN", "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_PASSWORD",
                    "RAY_AUTH_TOKEN", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
_SECRET_SHAPE = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
MIN_SECRET_LENGTH = 6  # shorter values ("1", "true") would redact ordinary words
REDACTED = "[redacted]"


def is_secret_name(name: str) -> bool:
    return name in SECRET_VARIABLES or bool(_SECRET_SHAPE.search(name))


def secret_values(environ=None) -> list[str]:
    """The values of secret variables in `environ` (default os.environ), longest first."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if is_secret_name(k) and v and len(v) >= MIN_SECRET_LENGTH}
    return sorted(values, key=len, reverse=True)


def redact(text: str, environ=None) -> str:
    """`text` with every known secret value replaced by [redacted]."""
    if not text:
        return text
    for value in secret_values(environ):
        text = text.replace(value, REDACTED)
    return text
