"""The wire protocol's vocabulary: task names, the `task: <name>` first line of the system
message, and reply-shape validation (docs/AGENT.md is the spec).

Validation turns a model's raw text into the plain data a skill returns, or raises
`ReplyShapeError` whose message names the field and what was expected: that message is
sent back to the model verbatim, so it must say exactly what to change."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from trainer.ideas.base import CATEGORIES

__all__ = ["TASKS", "ReplyShapeError", "task_line", "parse_reply", "strip_code_fence", "CATEGORIES"]

TASKS = ("propose", "review", "refine", "implement", "review_paper", "review_abstract", "revise_paper")
SEVERITIES = ("major", "minor")
PROPOSAL_FIELDS = ("name", "category", "title", "pitch", "math", "why_it_might_work", "why_it_might_not",
                   "references", "success_criterion")
SCORE_FIELDS = ("feasibility", "novelty", "testability")
REFINE_FIELDS = ("hypothesis", "control", "experimental", "expected_effect", "success_criterion", "plan")
FINDING_FIELDS = ("section", "severity", "issue", "fix")


class ReplyShapeError(ValueError):
    """A reply that is not JSON or not the task's shape; the message is for the model."""


def task_line(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; tasks: {', '.join(TASKS)}")
    return f"task: {task}"


# -- field checks -------------------------------------------------------------------------------
def _obj(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise ReplyShapeError(f"{where} must be a JSON object, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    if value == [] or value == {}:
        return "an empty array" if isinstance(value, list) else "an empty object"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _path(where: str, key: str) -> str:
    """A field's place in the reply, e.g. 'ideas[1].category' or 'selected'."""
    return f"{where}.{key}" if where else key


def _field(obj: dict, key: str, where: str) -> Any:
    if key not in obj:
        raise ReplyShapeError(f"{where or 'the reply'} is missing the field {key!r}")
    return obj[key]


def _text(obj: dict, key: str, where: str, *, empty_ok: bool = False) -> str:
    value = _field(obj, key, where)
    if not isinstance(value, str):
        raise ReplyShapeError(f"field {_path(where, key)!r} must be a string, got {_kind(value)}")
    if not empty_ok and not value.strip():
        raise ReplyShapeError(f"field {_path(where, key)!r} must not be empty")
    return value.strip()


def _texts(obj: dict, key: str, where: str, *, empty_ok: bool = True) -> list[str]:
    value = _field(obj, key, where)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ReplyShapeError(f"field {_path(where, key)!r} must be an array of strings, got {_kind(value)}")
    if not empty_ok and not value:
        raise ReplyShapeError(f"field {_path(where, key)!r} must not be empty")
    return [v.strip() for v in value]


def _score(obj: dict, key: str, where: str) -> int:
    value = _field(obj, key, where)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise ReplyShapeError(f"field {_path(where, key)!r} must be an integer from 1 to 5, got {json.dumps(value)}")
    return value


def _number(obj: dict, key: str, where: str) -> float:
    value = _field(obj, key, where)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ReplyShapeError(f"field {_path(where, key)!r} must be a finite number >= 0, got {json.dumps(value)}")
    return float(value)


# -- one validator per task ---------------------------------------------------------------------
def _proposal(item: Any, where: str) -> dict:
    item = _obj(item, where)
    out = {k: _text(item, k, where) for k in PROPOSAL_FIELDS if k != "references"}
    out["references"] = _texts(item, "references", where)
    name = out["name"]
    if not name.isidentifier() or name != name.lower() or name.startswith("_"):
        raise ReplyShapeError(f"field '{where}.name' must be a lowercase Python identifier such as 'qk_clip' "
                              f"(it becomes the flag --use_<name>), got {name!r}")
    if out["category"] not in CATEGORIES:
        raise ReplyShapeError(f"field '{where}.category' must be one of {', '.join(CATEGORIES)}; got {out['category']!r}")
    return {k: out[k] for k in PROPOSAL_FIELDS}


def _propose(reply: dict, *, tried=(), n: int | None = None, **_) -> dict:
    ideas = _field(reply, "ideas", "")
    if not isinstance(ideas, list) or not ideas:
        raise ReplyShapeError(f"the reply's 'ideas' must be a non-empty array of idea objects, got {_kind(ideas)}")
    parsed = [_proposal(item, f"ideas[{i}]") for i, item in enumerate(ideas)]
    names = [p["name"] for p in parsed]
    dupes = sorted({x for x in names if names.count(x) > 1})
    if dupes:
        raise ReplyShapeError(f"two ideas share the name {dupes[0]!r}; give every idea its own name")
    fresh = [p for p in parsed if p["name"] not in set(tried)]
    if not fresh:
        raise ReplyShapeError(f"every proposed name was already tried ({', '.join(names)}); "
                              "propose ideas with new names that are not in the list of tried names")
    dropped = [p["name"] for p in parsed if p["name"] in set(tried)]
    return {"ideas": fresh[:n] if n else fresh, "dropped": dropped}


def _review(reply: dict, *, candidates=None, **_) -> dict:
    scores = _field(reply, "scores", "")
    if not isinstance(scores, list) or not scores:
        raise ReplyShapeError(f"the reply's 'scores' must be a non-empty array, got {_kind(scores)}")
    out = []
    for i, item in enumerate(scores):
        where = f"scores[{i}]"
        item = _obj(item, where)
        entry = {"name": _text(item, "name", where)}
        entry.update({k: _score(item, k, where) for k in SCORE_FIELDS})
        entry["rationale"] = _text(item, "rationale", where)
        out.append(entry)
    names = [s["name"] for s in out]
    if len(set(names)) != len(names):
        raise ReplyShapeError("each candidate must be scored exactly once; a name appears twice in 'scores'")
    if candidates is not None:
        missing, extra = sorted(set(candidates) - set(names)), sorted(set(names) - set(candidates))
        if missing or extra:
            raise ReplyShapeError(f"'scores' must score exactly the candidates {', '.join(sorted(candidates))}"
                                  + (f"; missing: {', '.join(missing)}" if missing else "")
                                  + (f"; not a candidate: {', '.join(extra)}" if extra else ""))
    selected = _text(reply, "selected", "")
    if selected not in names:
        raise ReplyShapeError(f"'selected' must be one of the scored names ({', '.join(names)}), got {selected!r}")
    return {"scores": out, "selected": selected}


def _refine(reply: dict, **_) -> dict:
    out = {k: _text(reply, k, "") for k in ("hypothesis", "control", "experimental", "success_criterion")}
    effect = _obj(_field(reply, "expected_effect", ""), "field 'expected_effect'")
    out["expected_effect"] = {"nats": _number(effect, "nats", "expected_effect"),
                              "sigmas": _number(effect, "sigmas", "expected_effect")}
    out["plan"] = _texts(reply, "plan", "", empty_ok=False)
    return {k: out[k] for k in REFINE_FIELDS}


_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_+-]*\s*\n(.*?)\n?```\s*$", re.S)


def strip_code_fence(source: str) -> str:
    """Models often wrap code in a markdown fence even inside JSON; take what is inside."""
    m = _FENCE.match(source)
    return m.group(1) if m else source


def _implement(reply: dict, **_) -> dict:
    module = strip_code_fence(_text(reply, "module", ""))
    if "IDEA" not in module:
        raise ReplyShapeError("the reply's 'module' must be the whole Python module, defining a module-level IDEA")
    return {"module": module.rstrip() + "\n"}


def _findings(reply: dict, **_) -> dict:
    findings = _field(reply, "findings", "")
    if not isinstance(findings, list):
        raise ReplyShapeError(f"the reply's 'findings' must be an array (empty when nothing needs fixing), "
                              f"got {_kind(findings)}")
    out = []
    for i, item in enumerate(findings):
        where = f"findings[{i}]"
        item = _obj(item, where)
        entry = {k: _text(item, k, where) for k in FINDING_FIELDS}
        if entry["severity"] not in SEVERITIES:
            raise ReplyShapeError(f"field '{where}.severity' must be \"major\" or \"minor\", got {entry['severity']!r}")
        out.append(entry)
    return {"findings": out}


def _revise(reply: dict, **_) -> dict:
    sections = _obj(_field(reply, "sections", ""), "field 'sections'")
    for title, body in sections.items():
        if not title.strip():
            raise ReplyShapeError("a key of 'sections' is empty; keys are section titles such as 'Results'")
        if not isinstance(body, str):
            raise ReplyShapeError(f"sections[{title!r}] must be the section's markdown as a string, got {_kind(body)}")
    return {"sections": {t.strip(): b for t, b in sections.items()},
            "changelog": _texts(reply, "changelog", "")}


_VALIDATORS = {"propose": _propose, "review": _review, "refine": _refine, "implement": _implement,
               "review_paper": _findings, "review_abstract": _findings, "revise_paper": _revise}


def parse_reply(task: str, text: str | None, **expect) -> dict:
    """The validated, normalised reply object. `expect` carries what the request implies:
    tried= and n= for propose, candidates= (names) for review."""
    if task not in _VALIDATORS:
        raise ValueError(f"unknown task {task!r}; tasks: {', '.join(TASKS)}")
    if text is None or not text.strip():
        raise ReplyShapeError("the reply was empty; reply with one JSON object")
    try:
        reply = json.loads(strip_code_fence(text))
    except json.JSONDecodeError as exc:
        raise ReplyShapeError(f"the reply is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
                              "reply with one JSON object and nothing else") from None
    return _VALIDATORS[task](_obj(reply, "the reply"), **expect)


# -- the reply shapes as the system prompts state them (docs/AGENT.md repeats them) ----------
_IDEA_SHAPE = ('{"name": "<lowercase_identifier>", "category": "<' + " | ".join(CATEGORIES) + '>", '
               '"title": "...", "pitch": "...", "math": "<LaTeX, no $$>", "why_it_might_work": "...", '
               '"why_it_might_not": "...", "references": ["Author et al. (year). Title."], '
               '"success_criterion": "..."}')
_FINDINGS_SHAPE = ('{"findings": [{"section": "<section title>", "severity": "major | minor", '
                   '"issue": "<what is wrong>", "fix": "<the concrete change>"}]}')
SHAPES = {
    "propose": '{"ideas": [' + _IDEA_SHAPE + ", ...]}",
    "review": ('{"scores": [{"name": "<candidate name>", "feasibility": <1-5>, "novelty": <1-5>, '
               '"testability": <1-5>, "rationale": "..."}, ...], "selected": "<one of the scored names>"}'),
    "refine": ('{"hypothesis": "...", "control": "...", "experimental": "...", '
               '"expected_effect": {"nats": <float >= 0>, "sigmas": <float >= 0>}, '
               '"success_criterion": "...", "plan": ["<step>", ...]}'),
    "implement": '{"module": "<the whole Python module, as one JSON string>"}',
    "review_paper": _FINDINGS_SHAPE,
    "review_abstract": _FINDINGS_SHAPE,
    "revise_paper": ('{"sections": {"<section title>": "<the new markdown body, without its heading>"}, '
                     '"changelog": ["<one line per change>"]}'),
}
