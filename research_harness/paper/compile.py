"""Compile ``paper.tex`` to ``paper.pdf`` with pdflatex (twice, for references)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

__all__ = ["LatexError", "LatexNotFound", "compile_latex", "INSTALL_HINT", "first_error"]

INSTALL_HINT = ("pdflatex not found; install it with: apt-get install texlive-latex-base "
                "texlive-latex-recommended texlive-fonts-recommended (Debian/Ubuntu)")


class LatexError(RuntimeError):
    """pdflatex failed; the message quotes the first error of the log, which is kept."""


class LatexNotFound(LatexError):
    """No pdflatex on PATH; the message says how to install it."""


def first_error(log_text: str) -> str:
    """The first error of a pdflatex log: a '! ...' line (with the 'l.N' line after it) or a
    'file:line: ...' line from -file-line-error."""
    lines = log_text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("!") or re.match(r"^[^:\s]+\.tex:\d+: ", line):
            ctx = next((l.strip() for l in lines[i + 1:i + 8] if l.startswith("l.")), "")
            return line.strip() + (f" ({ctx})" if ctx else "")
    return "no error line found in the log"


def compile_latex(tex_path: Path, *, runs: int = 2, timeout_s: int = 180, clean: bool = True) -> tuple[Path, int]:
    """Run ``pdflatex -interaction=nonstopmode -halt-on-error`` ``runs`` times in the
    .tex file's folder and return the PDF path.

    Returns the PDF's path and its page count (from pdflatex's log). Raises
    :class:`LatexNotFound` when pdflatex is missing and :class:`LatexError` when a run
    fails or times out; the .log is kept then and its first error is quoted. On success
    the auxiliary files (.aux, .out, .log) are removed.
    """
    tex_path = Path(tex_path).resolve()
    exe = shutil.which("pdflatex")
    if exe is None:
        raise LatexNotFound(INSTALL_HINT)
    workdir, stem = tex_path.parent, tex_path.stem
    log_path = workdir / f"{stem}.log"
    env = {**os.environ, "max_print_line": "10000"}
    pdf = workdir / f"{stem}.pdf"
    pdf.unlink(missing_ok=True)  # a PDF from an older .tex must not pass for this one
    for k in range(runs):
        try:
            res = subprocess.run(
                # -no-shell-escape: the prose a model revised must not run commands through \write18.
                [exe, "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
                 tex_path.name],
                cwd=workdir, capture_output=True, timeout=timeout_s, env=env, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise LatexError(f"pdflatex timed out after {timeout_s} s on {tex_path} (run {k + 1} of {runs}); "
                             f"log kept at {log_path}") from None
        if res.returncode != 0:
            log_text = (log_path.read_text(errors="replace") if log_path.exists()
                        else res.stdout.decode(errors="replace"))
            raise LatexError(f"pdflatex failed on {tex_path} (run {k + 1} of {runs}): {first_error(log_text)}; "
                             f"full log kept at {log_path}")
    if not pdf.exists():
        raise LatexError(f"pdflatex exited 0 but wrote no {pdf}; log kept at {log_path}")
    written = re.search(r"Output written on .*?\((\d+) pages?", log_path.read_text(errors="replace"), re.S)
    pages = int(written.group(1)) if written else 0
    if clean:
        for ext in ("aux", "out", "log", "toc"):
            (workdir / f"{stem}.{ext}").unlink(missing_ok=True)
    return pdf, pages
