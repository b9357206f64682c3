"""The one LaTeX escape filter: plain prose (with `code` spans and number placeholders)
to LaTeX. It is not a markdown converter: the paper's structure comes from the templates."""

from __future__ import annotations

import re
import unicodedata

from research_harness.paper.numbers import PLACEHOLDER, NumberTable

_UNICODE = {
    "±": r"$\pm$", "σ": r"$\sigma$", "≥": r"$\geq$", "≤": r"$\leq$", "×": r"$\times$", "−": r"$-$", "—": "---",
    "–": "--", "’": "'", "‘": "`", "“": "``", "”": "''", "≈": r"$\approx$", "∞": r"$\infty$", "α": r"$\alpha$",
    "δ": r"$\delta$", "μ": r"$\mu$", "λ": r"$\lambda$", "→": r"$\rightarrow$", "…": r"\ldots{}", "·": r"$\cdot$",
}
_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
            "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
            ">": r"\textgreater{}", "|": r"\textbar{}"}


def escape(text: str) -> str:
    """Escape plain text; non-ASCII characters the paper does not use are transliterated."""
    out = []
    for ch in text:
        if ch in _SPECIAL:
            out.append(_SPECIAL[ch])
        elif ch in _UNICODE:
            out.append(_UNICODE[ch])
        elif ord(ch) < 128:
            out.append(ch)
        else:
            ascii_ = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            out.append(escape(ascii_) if ascii_ else "?")
    text = re.sub(r"(?<![\w$])-(?=\d)", r"$-$", "".join(out))  # a minus sign, not a hyphen
    return re.sub(r'(^|[\s(\[])"', r"\1``", text).replace('"', "''")


def escape_text(text: str, numbers: NumberTable | None) -> str:
    """Escape prose whose numbers are placeholders. With `numbers`, each placeholder becomes
    its number (escaped, except LaTeX math quoted from the idea); without, it is kept, so
    the trace check can see what is not traced. `code` spans become \\texttt."""
    def part(segment: str) -> str:
        out, pos = [], 0
        for m in PLACEHOLDER.finditer(segment):
            out.append(escape(segment[pos:m.start()]))
            out.append(m.group(0) if numbers is None else numbers.fill(m.group(0), escape))
            pos = m.end()
        return "".join(out) + escape(segment[pos:])

    pieces = re.split(r"(`[^`]+`)", text if numbers is None else numbers.bounds(text))
    return "".join(r"\texttt{" + part(p[1:-1]) + "}" if p.startswith("`") and p.endswith("`") else part(p)
                   for p in pieces)
