"""The paper's numbers table: every number (and every string with digits, such as a run
key or a preset name) the paper shows, computed up front, each with its provenance.

Templates never print a number: they print a placeholder ``⟦name⟧``, and rendering fills
it from this table. The trace check renders with the placeholders left in: any digit
still in the text was typed by a template or a model, not traced, and is refused."""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field

from research_harness.gates import ALPHA, format_effect

PLACEHOLDER = re.compile(r"⟦([^⟦⟧\s]+)⟧")
_EQUALS_BOUND = re.compile(r"= (⟦([^⟦⟧\s]+)⟧)")
KINDS = ("record", "statistic", "version", "literature", "setting", "quote")


def fmt_value(value, fmt: str) -> str:
    """One formatting path for the paper. `d` keeps every value on its side of the gate's
    thresholds and `p` on its side of alpha (0.0496 never prints as 0.050)."""
    if value is None:
        return "n/a"
    if isinstance(value, float) and not math.isfinite(value):
        return "n/a" if math.isnan(value) else ("∞" if value > 0 else "−∞")
    if fmt == "loss":
        return f"{value:.4f}"
    if fmt == "d":
        return format_effect(value)
    if fmt == "p":
        if value < 0.001:
            return "< 0.001"
        for digits in range(3, 7):
            text = f"{value:.{digits}f}"
            if (float(text) < ALPHA) == (value < ALPHA):
                return text
        return f"{value:.6f}"
    if fmt in ("f1", "f2"):
        return f"{value:.{fmt[1]}f}"
    if fmt == "sec":
        return f"{value:.1f}"
    if fmt == "pct":
        return f"{value:+.1f}"
    if fmt == "int":
        return f"{int(round(value)):,}"
    if fmt == "params":
        v = float(value)
        return f"{v / 1e6:.2f}M" if v >= 1e6 else f"{v / 1e3:.0f}k" if v >= 1e3 else str(int(v))
    if fmt == "g":
        return f"{value:g}"
    if fmt == "raw":
        return str(value)
    raise ValueError(f"unknown number format {fmt!r}")


@dataclass
class Num:
    name: str
    text: str
    value: object
    kind: str  # one of KINDS
    source: dict = field(default_factory=dict)


class NumberTable:
    """Named numbers with provenance. Adding a name twice with another text is an error:
    two numbers must not share a name."""

    def __init__(self) -> None:
        self._nums: dict[str, Num] = {}

    def add(self, name: str, value, fmt: str, kind: str, **source) -> str:
        if kind not in KINDS:
            raise ValueError(f"unknown provenance kind {kind!r}")
        text = fmt_value(value, fmt)
        old = self._nums.get(name)
        if old is not None and old.text != text:
            raise ValueError(f"number {name!r} is {old.text!r} and now {text!r}")
        self._nums.setdefault(name, Num(name, text, _jsonable(value), kind, source))
        return f"⟦{name}⟧"

    def __call__(self, name: str) -> str:
        """The placeholder of a number already in the table (templates call this)."""
        if name not in self._nums:
            raise KeyError(f"the paper asks for {name!r}, which the numbers table does not hold")
        return f"⟦{name}⟧"

    def __contains__(self, name: str) -> bool:
        return name in self._nums

    def __iter__(self):
        return iter(self._nums.values())

    def text(self, name: str) -> str:
        return self._nums[name].text

    def fill(self, text: str, escape=None) -> str:
        """Replace each placeholder by its number's text (escaped for LaTeX by `escape`,
        except LaTeX math quoted from the idea's metadata)."""
        def one(m: re.Match) -> str:
            num = self._nums.get(m.group(1))
            if num is None:
                raise KeyError(f"placeholder {m.group(0)} names no number in the table")
            if escape is None or num.source.get("latex_math"):
                return num.text
            return escape(num.text)
        return PLACEHOLDER.sub(one, self.bounds(text))

    def bounds(self, text: str) -> str:
        """"p = ⟦x⟧" where x prints as a bound ("< 0.001") becomes "p ⟦x⟧": "p < 0.001"."""
        def bound(m: re.Match) -> str:
            num = self._nums.get(m.group(2))
            return m.group(1) if num is not None and num.text.startswith("<") else m.group(0)
        return _EQUALS_BOUND.sub(bound, text)

    def unknown(self, text: str) -> list[str]:
        return [m.group(1) for m in PLACEHOLDER.finditer(text) if m.group(1) not in self._nums]

    def to_list(self) -> list[dict]:
        return [asdict(n) for n in self._nums.values()]


def untraced_digits(text: str) -> list[str]:
    """Digits outside placeholders, each with a little context: numbers nobody traced."""
    bare = PLACEHOLDER.sub("", text)
    return [bare[max(0, m.start() - 25):m.end() + 25].replace("\n", " ") for m in re.finditer(r"\d+", bare)]


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    try:
        json.dumps(value)
        return value
    except TypeError:
        return str(value)
