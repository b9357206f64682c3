"""The idea registry: built-in ideas (modules in this package), ideas dropped into
`experiments/ideas/` (or the folders in RESEARCH_IDEAS_PATH), and ideas published by
other packages under the entry-point group `research_harness.ideas`. All are treated alike.

An idea module defines a module-level `IDEA`: an instance of `trainer.ideas.base.Idea`
(usually of a subclass that overrides some hooks)."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import pkgutil
import sys
from importlib.metadata import entry_points
from pathlib import Path

from trainer.ideas.base import CATEGORIES, Idea
from trainer.ideas.static import UntrustedIdea, UntrustedIdeaError, is_generated_folder, read_untrusted_idea

__all__ = ["CATEGORIES", "Idea", "UnknownIdeaError", "UntrustedIdea", "UntrustedIdeaError", "discover_ideas",
           "resolve_flags", "ideas_fingerprint", "idea_sources", "load_idea_file"]


_NOT_IDEAS = ("base", "static")  # the package's own machinery, not built-in ideas


class UnknownIdeaError(ValueError):
    pass


def _idea_from_module(module, origin: str) -> Idea:
    idea = getattr(module, "IDEA", None)
    if not isinstance(idea, Idea):
        raise TypeError(f"{origin} defines no module-level IDEA (an instance of trainer.ideas.base.Idea)")
    idea.source_file = getattr(module, "__file__", "") or ""
    return idea


def load_idea_file(path: str | Path) -> Idea:
    """Import one idea module by its path and return its IDEA (the sandbox's child loads
    model-written modules this way: it is the one place that runs them)."""
    return _load_file(Path(path))


def _load_file(path: Path) -> Idea:
    # Named by path and content: a rewritten module (a model's repaired code) is loaded afresh,
    # never served from the first version left in sys.modules.
    content = hashlib.sha1(path.read_bytes()).hexdigest()[:8]
    mod_name = f"research_user_ideas.{path.stem}_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]}_{content}"
    if mod_name in sys.modules:
        return _idea_from_module(sys.modules[mod_name], str(path))
    spec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    return _idea_from_module(module, str(path))


def default_idea_dirs() -> list[Path]:
    env = os.environ.get("RESEARCH_IDEAS_PATH")
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p]
    return [Path("experiments/ideas")]


def discover_ideas(extra_dirs: list[str | Path] | None = None, untrusted_dirs: list[str | Path] | None = None,
                   ) -> dict[str, Idea]:
    """All known ideas by name. Built-ins first; a user idea with a built-in's name is an error.

    Modules in `untrusted_dirs`, and in any folder named `generated` (where the research
    agent writes), are model-written: they are read from their syntax tree, never imported
    (`UntrustedIdea`). Where a module was found decides that, nothing the module says."""
    ideas: dict[str, Idea] = {}

    def add(idea: Idea, origin: str) -> None:
        if idea.name in ideas:
            raise ValueError(f"two ideas are named {idea.name!r} ({ideas[idea.name].source_file} and {origin}); rename one")
        ideas[idea.name] = idea

    package_dir = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(package_dir)]), key=lambda m: m.name):
        if info.name in _NOT_IDEAS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"trainer.ideas.{info.name}")
        add(_idea_from_module(module, module.__file__), module.__file__)
    untrusted = {Path(d).resolve() for d in (untrusted_dirs or [])}
    dirs = default_idea_dirs() + [Path(d) for d in (extra_dirs or [])] + [Path(d) for d in (untrusted_dirs or [])]
    for folder in dict.fromkeys(d.resolve() for d in dirs):  # the same folder twice is read once
        if folder.is_dir():
            model_written = folder in untrusted or is_generated_folder(folder)
            for path in sorted(folder.glob("*.py")):
                if not path.name.startswith("_"):
                    add(read_untrusted_idea(path) if model_written else _load_file(path), str(path))
    for ep in entry_points(group="research_harness.ideas"):
        obj = ep.load()
        idea = obj if isinstance(obj, Idea) else _idea_from_module(obj, ep.value)
        add(idea, ep.value)
    return ideas


def resolve_flags(flags: dict[str, bool] | list[str] | None, ideas: dict[str, Idea] | None = None) -> list[Idea]:
    """The enabled ideas for a flag set ({name: bool} or [name]); unknown names are an error
    that lists the known ones."""
    if not flags:
        return []
    names = [n for n, on in flags.items() if on] if isinstance(flags, dict) else list(flags)
    names = [n[4:] if n.startswith("use_") else n for n in names]
    if not names:
        return []
    ideas = ideas if ideas is not None else discover_ideas()
    unknown = [n for n in names if n not in ideas]
    if unknown:
        known = ", ".join(f"--use_{n}" for n in sorted(ideas)) or "(none)"
        raise UnknownIdeaError(f"unknown idea flag(s): {', '.join('--use_' + n for n in unknown)}; known flags: {known}")
    return [ideas[n] for n in sorted(set(names))]


def idea_sources(enabled: list[Idea]) -> dict[str, str]:
    """The source text of each enabled idea, by name: a run record shows the code that made it."""
    out = {}
    for idea in sorted(enabled, key=lambda i: i.name):
        path = Path(idea.source_file) if idea.source_file else None
        out[idea.name] = path.read_text(encoding="utf-8") if path and path.exists() else ""
    return out


def ideas_fingerprint(enabled: list[Idea]) -> str:
    """Fingerprint of the enabled ideas' code (comments and docstrings ignored); "" for none."""
    if not enabled:
        return ""
    from trainer.record import normalized_source  # noqa: PLC0415

    h = hashlib.sha256()
    for name, text in idea_sources(enabled).items():
        h.update(name.encode())
        h.update(normalized_source(text).encode())
    return h.hexdigest()[:16]
