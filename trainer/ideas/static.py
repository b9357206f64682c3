"""Ideas a model wrote, known without running their code.

A module found in a folder of model-written ideas (`experiments/ideas/generated/`) is
never imported by the study process: its `IDEA = SomeIdea(name=..., ...)` metadata is
read from the syntax tree (literal arguments only) and checked as `Idea.__post_init__`
checks it, and which hooks it overrides is read from its class definitions. The result,
an `UntrustedIdea`, carries the metadata and refuses to run any hook: its code runs only
inside the sandbox (research_harness.sandbox), which returns its configuration as data."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

from trainer.ideas.base import Idea

HOOKS = ("configure", "patch_model", "build_optimizers", "lr_multiplier", "seq_len")
GENERATED_FOLDER = "generated"  # experiments/ideas/generated/: where the research agent's modules live
_TEXT_FIELDS = ("name", "title", "category", "pitch", "math", "why_it_might_work", "why_it_might_not",
                "success_criterion")
_FIELDS = [f.name for f in dataclasses.fields(Idea) if f.name != "source_file"]


class UntrustedIdeaError(ValueError):
    """A model-written module whose metadata cannot be read without running it, or a hook
    of such an idea called in the study process."""


@dataclasses.dataclass
class UntrustedIdea(Idea):
    """An idea whose module a model wrote: metadata only, in this process."""

    hooks: tuple[str, ...] = ()
    # The configuration changes its configure() made inside the sandbox, validated by the
    # study process ({"model": {field: value}, "train": {...}}); None until then.
    config_changes: dict | None = None

    def configure(self, model_cfg, train_cfg) -> None:
        if self.config_changes is None:
            raise UntrustedIdeaError(
                f"idea {self.name!r} was written by a model: its configure() runs only in the sandbox; "
                "plan its runs through research_harness (which configures it there first)")
        for cfg, part in ((model_cfg, "model"), (train_cfg, "train")):
            for field, value in self.config_changes.get(part, {}).items():
                setattr(cfg, field, tuple(value) if isinstance(getattr(cfg, field), tuple) else value)

    def _refuse(self, *_args, **_kwargs):
        raise UntrustedIdeaError(f"idea {self.name!r} was written by a model: its hooks never run in the study "
                                 "process, only inside the sandbox")

    patch_model = build_optimizers = lr_multiplier = seq_len = _refuse

    def overridden_hooks(self) -> list[str]:
        return list(self.hooks)


def is_generated_folder(folder: Path) -> bool:
    return folder.name == GENERATED_FOLDER


def read_untrusted_idea(path: str | Path) -> UntrustedIdea:
    """The module's IDEA metadata from its syntax tree; raises UntrustedIdeaError naming the
    problem when it is not a literal `IDEA = ClassName(field=literal, ...)`."""
    path = Path(path)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError) as exc:
        raise UntrustedIdeaError(f"{path}: cannot be read as Python source ({exc})") from None
    call = next((node.value for node in tree.body if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                 and any(isinstance(t, ast.Name) and t.id == "IDEA" for t in node.targets)), None)
    if call is None:
        raise UntrustedIdeaError(f"{path}: no module-level `IDEA = SomeIdea(...)`")
    if len(call.args) > len(_FIELDS):
        raise UntrustedIdeaError(f"{path}: IDEA takes at most {len(_FIELDS)} positional arguments")
    values = {}
    for name, node in [*zip(_FIELDS, call.args), *((k.arg, k.value) for k in call.keywords)]:
        if name not in _FIELDS:
            raise UntrustedIdeaError(f"{path}: IDEA has no field {name!r} (fields: {', '.join(_FIELDS)})")
        try:
            values[name] = ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise UntrustedIdeaError(f"{path}: IDEA's {name} must be a literal (it is read without running "
                                     "the module)") from None
    _check_types(path, values)
    if values.get("calibration_only"):
        raise UntrustedIdeaError(f"{path}: a model-written idea cannot be calibration_only")
    try:
        idea = UntrustedIdea(**values, hooks=tuple(_hooks(tree, call)))
    except TypeError as exc:
        raise UntrustedIdeaError(f"{path}: IDEA lacks a field ({exc})") from None
    except ValueError as exc:  # Idea.__post_init__'s checks: name and category
        raise UntrustedIdeaError(f"{path}: {exc}") from None
    idea.source_file = str(path)
    return idea


def _check_types(path: Path, values: dict) -> None:
    for name in _TEXT_FIELDS:
        if name in values and not isinstance(values[name], str):
            raise UntrustedIdeaError(f"{path}: IDEA's {name} must be a string")
    refs = values.get("references", [])
    if not isinstance(refs, (list, tuple)) or not all(isinstance(r, str) for r in refs):
        raise UntrustedIdeaError(f"{path}: IDEA's references must be a list of strings")
    values["references"] = list(refs)
    gain = values.get("expected_gain", 0.005)
    if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not -1 < gain < 1:
        raise UntrustedIdeaError(f"{path}: IDEA's expected_gain must be a number between -1 and 1")
    if not isinstance(values.get("calibration_only", False), bool):
        raise UntrustedIdeaError(f"{path}: IDEA's calibration_only must be True or False")


def _hooks(tree: ast.Module, call: ast.Call) -> list[str]:
    """The hooks defined by IDEA's class and its base classes in the same module."""
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    found: set[str] = set()
    todo = [call.func.id] if isinstance(call.func, ast.Name) else []
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in classes:
            continue
        seen.add(name)
        cls = classes[name]
        found.update(f.name for f in cls.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f.name in HOOKS)
        todo.extend(b.id for b in cls.bases if isinstance(b, ast.Name))
    return [h for h in HOOKS if h in found]
