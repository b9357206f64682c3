"""One rendering path for every number in the paper.

A :class:`NumberRegistry` formats a value taken from run records (or a statistic
computed from them, or a named design constant of the workflow) and remembers where it
came from. The markdown, and through it the LaTeX, only ever contain numbers produced
here, so ``<topic>.provenance.json`` can map every rendered number to its records.

Number tokens in prose are found with :func:`number_tokens`: a token is the digits of a
number (sign, "%" and a k/M/B suffix stripped), so "1.32M", "-0.0123" and "95%" give
"1.32", "0.0123" and "95". Bracketed citations such as "[3]" are not numbers.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field

__all__ = ["Num", "NumberRegistry", "record_ref", "number_tokens", "fmt_value"]

# digits with optional thousands separators and decimals; not part of a word or identifier
_NUM_RE = re.compile(r"(?<![A-Za-z0-9_.])(\d+(?:,\d{3})*(?:\.\d+)?)(?:[kMB%])?(?![A-Za-z0-9_])")
_CITE_RE = re.compile(r"\[\d+(?:\s*[,\u2013-]\s*\d+)*\]")
_CODE_RE = re.compile(r"`[^`]*`")


def number_tokens(text: str) -> list[str]:
    """Number tokens of ``text`` (see the module docstring); citations and code spans are skipped."""
    text = _CODE_RE.sub(" ", _CITE_RE.sub(" ", text))
    return _NUM_RE.findall(text)


def record_ref(record: dict, arm: str = "") -> str:
    """A stable reference to a run record: its ``run_key`` when the store gave one,
    else a content hash of the record (prefixed ``sha:``)."""
    key = record.get("run_key")
    if key:
        return str(key)
    blob = json.dumps({k: v for k, v in record.items() if k != "record_path"}, sort_keys=True, default=str)
    return "sha:" + hashlib.sha256(blob.encode()).hexdigest()[:16]


def fmt_value(value, fmt: str) -> str:
    """Format ``value`` with one of the paper's formats.

    ``loss`` and ``std``: 4 decimals; ``d``/``sigma``/``ratio``: 2 decimals (signed);
    ``p``: 3 decimals, "< 0.001" below that; ``sec``: 1 decimal; ``pct``: 1 decimal
    (signed); ``int``: thousands separators; ``params``: 1.32M / 840k; ``tokens``:
    thousands separators; ``acc``: 4 decimals; ``lr``: compact general format.
    Non-finite values render as "inf", "-inf" or "n/a"; None renders as "n/a".
    """
    if value is None:
        return "n/a"
    if isinstance(value, float) and not math.isfinite(value):
        return "n/a" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if fmt in ("loss", "std", "acc"):
        return f"{value:.4f}"
    if fmt in ("d", "sigma", "ratio"):
        return f"{value:.2f}"
    if fmt == "p":
        return "< 0.001" if value < 0.001 else f"{value:.3f}"
    if fmt == "sec":
        return f"{value:.1f}"
    if fmt == "pct":
        return f"{value:+.1f}"
    if fmt in ("int", "tokens"):
        return f"{int(round(value)):,}"
    if fmt == "params":
        v = float(value)
        if v >= 1e9:
            return f"{v / 1e9:.2f}B"
        if v >= 1e6:
            return f"{v / 1e6:.2f}M"
        if v >= 1e3:
            return f"{v / 1e3:.0f}k"
        return f"{int(v)}"
    if fmt == "lr":
        return f"{value:g}"
    if fmt == "raw":
        return str(value)
    raise ValueError(f"unknown number format {fmt!r}")


@dataclass
class Num:
    """One rendered number: ``id`` (stable name), ``text`` (what the paper shows),
    ``value`` (the unrounded value), ``kind`` ("record", "statistic" or "constant") and
    ``source`` (which records, which field, which statistic or constant)."""

    id: str
    text: str
    value: object
    kind: str
    source: dict = field(default_factory=dict)


class NumberRegistry:
    """Formats numbers and records their provenance.

    Asking twice for the same ``id`` returns the same text; asking for an ``id`` with a
    different value raises ``ValueError`` (two numbers must not share a name).
    """

    def __init__(self) -> None:
        self._nums: dict[str, Num] = {}

    def _put(self, id: str, value, fmt: str, kind: str, source: dict) -> str:
        text = fmt_value(value, fmt)
        old = self._nums.get(id)
        if old is not None:
            if old.text != text:
                raise ValueError(f"number {id!r} registered as {old.text!r}, now {text!r}")
            return old.text
        self._nums[id] = Num(id=id, text=text, value=_jsonable(value), kind=kind, source=source)
        return text

    def record(self, id: str, record: dict, path: str, fmt: str, *, arm: str) -> str:
        """A field of one run record, e.g. ``path="wall_time.total_s"``."""
        value = get_path(record, path)
        return self._put(id, value, fmt, "record",
                         {"arm": arm, "field": path, "seed": record.get("seed"), "run_keys": [record_ref(record, arm)],
                          "record_paths": [p for p in [record.get("record_path")] if p]})

    def shared(self, id: str, records: list[dict], path: str, fmt: str, *, arm: str = "all") -> str:
        """A field every record holds with the same value (a config value, the device).
        If the records disagree the first value is shown and ``source.values`` lists them all."""
        values = [get_path(r, path) for r in records]
        source = {"arm": arm, "field": path, "run_keys": [record_ref(r) for r in records]}
        distinct = sorted({json.dumps(v, sort_keys=True, default=str) for v in values})
        if len(distinct) > 1:
            source["values"] = [json.loads(v) for v in distinct]
        return self._put(id, values[0], fmt, "record", source)

    def stat(self, id: str, value, fmt: str, *, statistic: str, records: list[dict], field: str = "val_loss",
             arm: str = "", **extra) -> str:
        """A statistic computed from records (``statistic`` names the function)."""
        source = {"statistic": statistic, "field": field, "arm": arm, "run_keys": [record_ref(r) for r in records],
                  "seeds": [r.get("seed") for r in records], **extra}
        return self._put(id, value, fmt, "statistic", source)

    def const(self, id: str, value, fmt: str, *, source: str) -> str:
        """A design constant of the workflow (a threshold, a confidence level)."""
        return self._put(id, value, fmt, "constant", {"constant": source})

    def get(self, id: str) -> Num:
        return self._nums[id]

    def __contains__(self, id: str) -> bool:
        return id in self._nums

    def __iter__(self):
        return iter(self._nums.values())

    def __len__(self) -> int:
        return len(self._nums)

    def texts(self) -> set[str]:
        return {n.text for n in self._nums.values()}

    def tokens(self) -> set[str]:
        """Every number token (see :func:`number_tokens`) any registered text contains."""
        out: set[str] = set()
        for n in self._nums.values():
            out.update(number_tokens(n.text))
        return out

    def to_list(self) -> list[dict]:
        return [asdict(n) for n in self._nums.values()]


def get_path(record: dict, path: str):
    cur = record
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise KeyError(f"run record (seed {record.get('seed')}) has no field {path!r}")
        cur = cur[part]
    return cur


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    try:
        json.dumps(value)
        return value
    except TypeError:
        return str(value)
