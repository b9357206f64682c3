"""The small markdown dialect the paper is written in, and tools to edit it by section.

The paper uses: one ``# Title`` line, ``## Section`` / ``### Subsection`` headings,
paragraphs, ``- `` and ``1. `` lists, pipe tables preceded by a ``Table: caption``
line, ``![caption](path)`` figures, ``$$ ... $$`` display math, ``$...$`` inline math,
`` `code` ``, ``**bold**``, ``*italic*``, ``> `` notes and ``[n]`` citations. The LaTeX
writer (:mod:`research_harness.paper.latex`) understands exactly this dialect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Section", "split_sections", "join_sections", "get_section", "set_section", "insert_section",
           "prose_lines", "title_of"]


@dataclass
class Section:
    """A ``## `` section: its title (without the hashes) and its body (subsections included).
    The part before the first ``## `` heading has title ``""`` (the paper title lives there)."""

    title: str
    body: str

    @property
    def name(self) -> str:
        """The title without an "Appendix A." prefix, lower-cased, for lookups."""
        return self.title.strip().lower()


_H2 = re.compile(r"^## (?!#)(.*)$", re.M)


def split_sections(md: str) -> list[Section]:
    out: list[Section] = []
    pos, title = 0, ""
    for m in _H2.finditer(md):
        out.append(Section(title, md[pos:m.start()]))
        title, pos = m.group(1).strip(), m.end() + 1
    out.append(Section(title, md[pos:]))
    return out


def join_sections(sections: list[Section]) -> str:
    parts = []
    for s in sections:
        body = s.body.strip("\n")
        if s.title:
            parts.append(f"## {s.title}\n\n{body}\n" if body else f"## {s.title}\n")
        else:
            parts.append(body + "\n" if body else "")
    return "\n".join(p for p in parts if p).rstrip("\n") + "\n"


def _matches(section: Section, name: str) -> bool:
    name = name.strip().lower()
    t = section.name
    return t == name or (t.startswith("appendix") and name in t)


def get_section(md: str, name: str) -> str | None:
    """Body of the first ``## `` section called ``name`` (case-insensitive), or None."""
    for s in split_sections(md):
        if s.title and _matches(s, name):
            return s.body
    return None


def set_section(md: str, name: str, body: str) -> str:
    """Replace the body of section ``name``; raise KeyError if it is absent."""
    sections = split_sections(md)
    for s in sections:
        if s.title and _matches(s, name):
            s.body = body
            return join_sections(sections)
    raise KeyError(name)


def insert_section(md: str, title: str, body: str, *, before: list[str] | None = None) -> str:
    """Insert a new section before the first existing one of ``before`` (else at the end)."""
    sections = split_sections(md)
    new = Section(title, body)
    for cand in before or []:
        for i, s in enumerate(sections):
            if s.title and _matches(s, cand):
                sections.insert(i, new)
                return join_sections(sections)
    sections.append(new)
    return join_sections(sections)


def title_of(md: str) -> str:
    m = re.search(r"^# (?!#)(.*)$", md, re.M)
    return m.group(1).strip() if m else ""


_MATH_BLOCK = re.compile(r"\$\$.*?\$\$", re.S)
_INLINE_MATH = re.compile(r"(?<!\\)\$[^$\n]+?\$")
_CODE = re.compile(r"`[^`\n]*`")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")


def prose_lines(body: str) -> list[str]:
    """The prose of a section body: no headings, tables, figures, table captions, display
    math, inline math or code spans; list markers, emphasis and notes are stripped."""
    body = _MATH_BLOCK.sub(" ", body)
    out = []
    for line in body.splitlines():
        s = line.strip()
        if not s or s.startswith(("#", "|", "![", "Table:")):
            continue
        s = re.sub(r"^(?:[-*] |\d+\. |> )", "", s)
        s = _IMAGE.sub(" ", s)
        s = _LINK.sub(r"\1", s)
        s = _CODE.sub(" ", s)
        s = _INLINE_MATH.sub(" ", s)
        s = s.replace("**", "").replace("*", "")
        out.append(s)
    return out
