"""Markdown (the paper's dialect, see :mod:`research_harness.paper.mdtools`) to LaTeX.

The LaTeX is a translation of the final, reviewed markdown, so the PDF says exactly
what the reviewed paper says and takes every number from the same rendering. Text is
escaped (``\\ & % $ # _ { } ~ ^ < > |``), math (``$...$``, ``$$...$$``) is passed
through as math, pipe tables become ``tabular`` (with booktabs rules when the package
is installed), figures use the PDF version of each plot, ``[n]`` citations become
``\\cite`` into a ``thebibliography`` built from the References list.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

__all__ = ["latex_escape", "markdown_to_latex", "have_package"]

_UNICODE = {
    "±": r"$\pm$", "σ": r"$\sigma$", "Σ": r"$\Sigma$", "≥": r"$\geq$", "≤": r"$\leq$", "×": r"$\times$",
    "−": r"$-$", "—": "---", "–": "--", "’": "'", "‘": "`", "“": "``", "”": "''", "≈": r"$\approx$",
    "∞": r"$\infty$", "α": r"$\alpha$", "β": r"$\beta$", "λ": r"$\lambda$", "μ": r"$\mu$", "Δ": r"$\Delta$",
    "δ": r"$\delta$", "→": r"$\rightarrow$", "…": r"\ldots{}", "·": r"$\cdot$", "°": r"$^\circ$",
    "\u00a0": "~", "é": r"\'e", "è": r"\`e", "ö": r"\"o", "ü": r"\"u", "ä": r"\"a", "ñ": r"\~n", "ç": r"\c{c}",
}
_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
    "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
    "|": r"\textbar{}",
}


def latex_escape(text: str) -> str:
    """Escape plain text for LaTeX (special characters and the non-ASCII characters the paper
    uses; anything else non-ASCII is transliterated or dropped, so pdflatex never chokes)."""
    text = text.replace(">=", "≥").replace("<=", "≤")
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
            out.append(latex_escape(ascii_) if ascii_ else "?")
    s = "".join(out)
    s = re.sub(r"(?<![\w$])-(?=\d)", r"$-$", s)  # a minus sign before a number, not a hyphen
    s = re.sub(r"(^|[\s(\[])'", r"\1`", s)  # opening single quote
    s = re.sub(r'(^|[\s(\[])"', r"\1``", s)  # opening double quote
    s = s.replace('"', "''")
    return s


_INLINE = re.compile(
    r"(?P<math>(?<!\\)\$[^$\n]+?\$)"
    r"|(?P<code>`[^`\n]+`)"
    r"|(?P<bold>\*\*(?P<btext>.+?)\*\*)"
    r"|(?P<ital>(?<![\w*])\*(?P<itext>[^*\n]+?)\*(?![\w*]))"
    r"|(?P<cite>\[(?P<cnums>\d+(?:\s*,\s*\d+)*)\](?!\())"
)


def inline(text: str, n_refs: int = 0) -> str:
    """Convert one line of markdown prose to LaTeX."""
    out, pos = [], 0
    for m in _INLINE.finditer(text):
        out.append(latex_escape(text[pos:m.start()]))
        if m.group("math"):
            out.append(m.group("math"))
        elif m.group("code"):
            code = latex_escape(m.group("code")[1:-1]).replace("$-$", "-")
            out.append(r"\texttt{" + code.replace("-", "-\\allowbreak{}").replace(r"\_", r"\_\allowbreak{}") + "}")
        elif m.group("bold"):
            out.append(r"\textbf{" + inline(m.group("btext"), n_refs) + "}")
        elif m.group("ital"):
            out.append(r"\emph{" + inline(m.group("itext"), n_refs) + "}")
        else:
            nums = [int(x) for x in re.split(r"\s*,\s*", m.group("cnums"))]
            if n_refs and all(1 <= k <= n_refs for k in nums):
                out.append(r"~\cite{" + ",".join(f"ref{k}" for k in nums) + "}")
                if out[-2].endswith(" "):
                    out[-2] = out[-2].rstrip(" ")
            else:
                out.append(latex_escape(m.group(0)))
        pos = m.end()
    out.append(latex_escape(text[pos:]))
    return "".join(out)


@functools.lru_cache(maxsize=None)
def have_package(name: str) -> bool:
    """True when ``kpsewhich`` finds ``<name>.sty`` (False when TeX is not installed)."""
    exe = shutil.which("kpsewhich")
    if not exe:
        return False
    try:
        res = subprocess.run([exe, f"{name}.sty"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return res.returncode == 0 and bool(res.stdout.strip())


def _split_row(line: str) -> list[str]:
    s = line.strip()
    if s.startswith("|"):
        s = s[1:]
    if s.endswith("|"):
        s = s[:-1]
    return [c.strip() for c in s.split("|")]


class _Converter:
    def __init__(self, booktabs: bool, figures_dir: Path | None):
        self.booktabs = booktabs
        self.figures_dir = figures_dir
        self.n_refs = 0
        self.out: list[str] = []
        self.appendix = False

    def rule(self, kind: str) -> str:
        if self.booktabs:
            return {"top": r"\toprule", "mid": r"\midrule", "bottom": r"\bottomrule"}[kind]
        return r"\hline"

    def table(self, caption: str | None, rows: list[str]) -> None:
        header = _split_row(rows[0])
        aligns = []
        for cell in _split_row(rows[1]):
            c = cell.strip()
            aligns.append("r" if c.endswith(":") and not c.startswith(":") else "c" if c.startswith(":") and
                          c.endswith(":") else "l")
        body = [_split_row(r) for r in rows[2:]]
        ncol = len(header)
        aligns = (aligns + ["l"] * ncol)[:ncol]
        spec = "".join(aligns)
        widths = [max(len(c) for c in col) for col in zip(header, *[(r + [""] * ncol)[:ncol] for r in body])]
        if sum(widths) > 100:  # long text cells: wrap the left-aligned columns instead of shrinking the table
            fixed = sum(w for w, a in zip(widths, aligns) if a != "l") / 110.0
            free = max(0.3, 0.98 - fixed)
            weight = [max(w, 8) ** 0.5 for w in widths]  # sqrt: short columns still get room for a word
            text_total = sum(wt for wt, a in zip(weight, aligns) if a == "l") or 1
            spec = "".join(
                a if a != "l" else
                f">{{\\raggedright\\arraybackslash}}p{{\\dimexpr {free * w / text_total:.3f}\\linewidth"
                f"-2\\tabcolsep\\relax}}"
                for w, a in zip(weight, aligns))
        lines = [r"\begin{table}[H]", r"\centering", r"\small"]
        if caption:
            lines.append(r"\caption{" + inline(caption, self.n_refs) + "}")
        lines.append(r"\fittable{%")
        lines.append(r"\begin{tabular}{" + spec + "}")
        lines.append(self.rule("top"))
        lines.append(" & ".join(r"\textbf{" + inline(c, self.n_refs) + "}" for c in header) + r" \\")
        lines.append(self.rule("mid"))
        for i, r in enumerate(body):
            cells = (r + [""] * ncol)[:ncol]
            if i == len(body) - 1 and len(body) > 1 and cells[0].lower().startswith("mean"):
                lines.append(self.rule("mid"))
            lines.append(" & ".join(inline(c, self.n_refs) for c in cells) + r" \\")
        lines.append(self.rule("bottom"))
        lines.append(r"\end{tabular}")
        lines.append("}")
        lines.append(r"\end{table}")
        self.out.append("\n".join(l for l in lines if l))

    def figure(self, caption: str, path: str) -> None:
        p = Path(path)
        pdf = p.with_suffix(".pdf")
        use_pdf = self.figures_dir is None or (self.figures_dir.parent / pdf).exists()
        target = pdf.as_posix() if use_pdf else p.as_posix()
        self.out.append("\n".join([
            r"\begin{figure}[H]", r"\centering",
            r"\includegraphics[width=\linewidth,height=0.3\textheight,keepaspectratio]{" + target + "}",
            r"\caption{" + inline(caption, self.n_refs) + "}", r"\end{figure}"]))

    def heading(self, level: int, text: str) -> None:
        if level == 2 and text.lower().startswith("appendix"):
            if not self.appendix:
                self.out.append(r"\appendix")
                self.appendix = True
            text = re.sub(r"^appendix\s+[A-Z]?\.?\s*", "", text, flags=re.I) or text
        cmd = {2: "section", 3: "subsection"}.get(level, "subsubsection")
        self.out.append(f"\\{cmd}{{{inline(text, self.n_refs)}}}")

    def blocks(self, md: str) -> None:
        lines = md.splitlines()
        i, para = 0, []

        def flush_para():
            if para:
                self.out.append(" ".join(inline(x.strip(), self.n_refs) for x in para))
                para.clear()

        while i < len(lines):
            line = lines[i]
            s = line.strip()
            if not s:
                flush_para()
                i += 1
                continue
            if s.startswith("$$"):
                flush_para()
                buf = [s[2:]]
                if not (s.endswith("$$") and len(s) > 2):
                    i += 1
                    while i < len(lines) and not lines[i].strip().endswith("$$"):
                        buf.append(lines[i])
                        i += 1
                    if i < len(lines):
                        buf.append(lines[i].strip()[:-2])
                else:
                    buf = [s[2:-2]]
                math = "\n".join(b for b in buf if b.strip())
                self.out.append("\\begin{equation}\n" + math + "\n\\end{equation}")
                i += 1
                continue
            m = re.match(r"^(#{2,4}) (.*)$", s)
            if m:
                flush_para()
                self.heading(len(m.group(1)), m.group(2).strip())
                i += 1
                continue
            if s.startswith("Table:") or s.startswith("|"):
                flush_para()
                caption = None
                if s.startswith("Table:"):
                    caption = s[len("Table:"):].strip()
                    i += 1
                    while i < len(lines) and not lines[i].strip():
                        i += 1
                rows = []
                while i < len(lines) and lines[i].strip().startswith("|"):
                    rows.append(lines[i])
                    i += 1
                if len(rows) >= 2:
                    self.table(caption, rows)
                elif caption:
                    self.out.append(inline(caption, self.n_refs))
                continue
            m = re.match(r"^!\[(.*)\]\((.*)\)$", s)
            if m:
                flush_para()
                self.figure(m.group(1), m.group(2))
                i += 1
                continue
            if re.match(r"^[-*] ", s) or re.match(r"^\d+\. ", s):
                flush_para()
                numbered = bool(re.match(r"^\d+\. ", s))
                env = "enumerate" if numbered else "itemize"
                items = []
                while i < len(lines) and (re.match(r"^\s*(?:[-*]|\d+\.) ", lines[i]) or
                                          (lines[i].startswith("  ") and lines[i].strip() and items)):
                    t = lines[i].strip()
                    if re.match(r"^(?:[-*]|\d+\.) ", t):
                        items.append(re.sub(r"^(?:[-*]|\d+\.) ", "", t))
                    else:
                        items[-1] += " " + t
                    i += 1
                tight = r"\setlength{\itemsep}{1pt}\setlength{\parskip}{0pt}"
                self.out.append(f"\\begin{{{env}}}{tight}\n" + "\n".join(r"\item " + inline(t, self.n_refs)
                                                                     for t in items) + f"\n\\end{{{env}}}")
                continue
            if s.startswith("> "):
                flush_para()
                buf = []
                while i < len(lines) and lines[i].strip().startswith(">"):
                    buf.append(lines[i].strip()[1:].strip())
                    i += 1
                self.out.append(r"\begin{center}\fbox{\parbox{0.92\linewidth}{" + inline(" ".join(buf), self.n_refs)
                                + r"}}\end{center}")
                continue
            para.append(s)
            i += 1
        flush_para()


def _references(body: str) -> list[str]:
    refs = []
    for line in body.splitlines():
        m = re.match(r"^\s*\d+\.\s+(.*)$", line)
        if m:
            refs.append(m.group(1).strip())
        elif refs and line.strip():
            refs[-1] += " " + line.strip()
    return refs


def markdown_to_latex(md: str, *, figures_dir: Path | None = None, booktabs: bool | None = None,
                      times: bool | None = None, author: str = "") -> str:
    """Translate the paper's markdown into a complete LaTeX document (article class)."""
    from research_harness.paper.mdtools import split_sections, title_of

    booktabs = have_package("booktabs") if booktabs is None else booktabs
    times = (have_package("mathptmx") and have_package("helvet") and have_package("courier")) if times is None \
        else times
    float_ok = have_package("float")
    conv = _Converter(booktabs, figures_dir)
    sections = split_sections(md)
    refs_body = next((s.body for s in sections if s.title.strip().lower() == "references"), "")
    refs = _references(refs_body)
    conv.n_refs = len(refs)

    title = title_of(md)
    pre = sections[0].body
    note_lines = [l for l in pre.splitlines() if l.strip().startswith(">")]
    byline = next((l.strip().strip("*").strip() for l in pre.splitlines()
                   if l.strip().startswith("*") and l.strip().endswith("*")), "")

    preamble = [
        r"\documentclass[11pt]{article}",
        r"\usepackage[T1]{fontenc}" if times else "",
        r"\usepackage{mathptmx}" if times else "",
        r"\usepackage[scaled=0.92]{helvet}" if times else "",
        r"\usepackage{courier}" if times else "",
        r"\usepackage{textcomp}",
        r"\usepackage[margin=1in]{geometry}",
        r"\usepackage{amsmath,amssymb}",
        r"\usepackage{graphicx}",
        r"\usepackage{array}",
        r"\usepackage{booktabs}" if booktabs else "",
        r"\usepackage{float}" if float_ok else "",
        r"\usepackage{caption}" if have_package("caption") else "",
        r"\captionsetup{font=small,labelfont=bf}" if have_package("caption") else "",
        r"\usepackage[hidelinks]{hyperref}" if have_package("hyperref") else "",
        r"\usepackage{microtype}" if have_package("microtype") else "",
        r"\setlength{\parskip}{0.4em}",
        r"\setlength{\parindent}{0pt}",
        r"\emergencystretch=2em",
        r"\providecommand{\textminus}{$-$}",
        r"\newsavebox{\fitbox}",
        r"% a table at its natural width, shrunk only when wider than the text",
        r"\newcommand{\fittable}[1]{\sbox{\fitbox}{#1}\ifdim\wd\fitbox>\linewidth"
        r"\resizebox{\linewidth}{!}{\usebox{\fitbox}}\else\usebox{\fitbox}\fi}",
        "",
        r"\title{\bfseries " + inline(title) + "}",
        r"\author{" + (inline(author) if author else inline(byline or "research\\_harness")) + "}",
        r"\date{}",
        "",
        r"\begin{document}",
        r"\maketitle",
    ]
    if note_lines:
        conv.blocks("\n".join(note_lines))
    for s in sections[1:]:
        name = s.title.strip().lower()
        if name == "abstract":
            conv.out.append(r"\begin{abstract}")
            conv.blocks(s.body)
            conv.out.append(r"\end{abstract}")
            continue
        if name == "references":
            conv.out.append(r"\begin{thebibliography}{" + "9" * len(str(max(len(refs), 1))) + "}")
            for k, ref in enumerate(refs, 1):
                conv.out.append(rf"\bibitem{{ref{k}}} " + inline(ref))
            conv.out.append(r"\end{thebibliography}")
            continue
        conv.heading(2, s.title.strip())
        conv.blocks(s.body)
    doc = "\n".join(l for l in preamble if l is not None) + "\n\n" + "\n\n".join(conv.out) + "\n\n\\end{document}\n"
    if not float_ok:
        doc = doc.replace(r"\begin{table}[H]", r"\begin{table}[htbp]").replace(r"\begin{figure}[H]",
                                                                               r"\begin{figure}[htbp]")
    return doc
