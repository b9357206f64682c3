"""What an idea is: metadata beside a small intervention that acts only through the
trainer's extension points. The trainer calls an idea's hooks only when its flag is on,
so with the flag off the baseline path runs unchanged, without one extra operation.

Extension points, in the order the trainer calls them:
  configure(model_cfg, train_cfg)   edit the configs before the model is built
  patch_model(model)                swap or wrap modules; may add parameters (give such
                                    modules a `reset_idea_parameters(seed)` method)
  build_optimizers(model, cfg, device, default) -> list of optimizers (default: the baseline's)
  lr_multiplier(progress, cfg, default) -> float    progress = tokens seen / token budget
  seq_len(progress, full_seq_len) -> int             tokens per row for this step (curriculum)
The loss is a model attribute (`model.loss_fn`) that patch_model may replace; it runs in
training only. An idea that changes the model's outputs must change `GPT.logits` (for
example with `extend_module(model, Mixin)`), which training and evaluation both use.
`extend_module(module, Mixin)` puts a mixin's methods on top of one module instance, so
ideas that extend the same module stack.
"""

from __future__ import annotations

import ast
import functools
import io
import tokenize
from dataclasses import dataclass, field

CATEGORIES = ("optimizer", "attention", "positional", "normalization", "training-dynamics")


@dataclass
class Idea:
    name: str
    title: str
    category: str
    pitch: str
    math: str  # LaTeX, without surrounding $$
    why_it_might_work: str
    why_it_might_not: str
    references: list[str]  # "Author et al. (year). Title."
    success_criterion: str = "Cohen's d >= 0.5 on final val_loss (lower is better) at 1M tokens, seeds 42/137/256"
    # A prior guess of the relative reduction of final val_loss at this scale (0.005 = 0.5%),
    # used to judge whether 3-5 seeds can detect the effect. Built-in ideas state where
    # their guess comes from; 0.005, the default for user ideas, is a modest effect: with a
    # run-to-run sigma of 0.4% of the loss, about ten seeds per arm detect it.
    expected_gain: float = 0.005
    # Used only to calibrate the statistics (an A/A control); never proposed as research.
    calibration_only: bool = False
    source_file: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or self.name != self.name.lower():
            raise ValueError(f"idea name {self.name!r} must be a lowercase identifier (it becomes --use_{self.name})")
        if self.category not in CATEGORIES:
            raise ValueError(f"idea {self.name!r}: category {self.category!r} is not one of {CATEGORIES}")

    @property
    def flag(self) -> str:
        return f"use_{self.name}"

    # -- extension points (defaults do nothing) -------------------------------------
    def configure(self, model_cfg, train_cfg) -> None:
        pass

    def patch_model(self, model) -> None:
        pass

    def build_optimizers(self, model, cfg, device, default):
        return default(model, cfg, device)

    def lr_multiplier(self, progress: float, cfg, default) -> float:
        return default(progress, cfg)

    def seq_len(self, progress: float, full_seq_len: int) -> int:
        return full_seq_len

    # -- metadata derived from the code ------------------------------------------------
    def implementation_lines(self) -> int:
        """Lines of the intervention's code in the module that implements this idea: blank
        lines, comments, docstrings and the module-level `IDEA = ...` metadata statement do
        not count, so a longer explanation never makes an idea look harder to build."""
        if not self.source_file:
            return 0
        try:
            text = open(self.source_file, encoding="utf-8").read()
        except OSError:
            return 0
        return count_code_lines(text)

    def overridden_hooks(self) -> list[str]:
        hooks = ("configure", "patch_model", "build_optimizers", "lr_multiplier", "seq_len")
        return [h for h in hooks if getattr(type(self), h) is not getattr(Idea, h)]

    def metadata(self) -> dict:
        return {
            "name": self.name, "flag": f"--{self.flag}", "title": self.title, "category": self.category,
            "pitch": self.pitch, "math": self.math, "why_it_might_work": self.why_it_might_work,
            "why_it_might_not": self.why_it_might_not, "references": list(self.references),
            "success_criterion": self.success_criterion, "expected_gain": self.expected_gain,
            "calibration_only": self.calibration_only,
            "implementation_lines": self.implementation_lines(), "hooks": self.overridden_hooks(),
            "source_file": self.source_file,
        }


_NOT_CODE = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
             tokenize.ENCODING, tokenize.ENDMARKER}


def count_code_lines(text: str) -> int:
    """Lines holding at least one code token, less docstrings (module, class, function)
    and the module-level `IDEA = ...` statement, found through the syntax tree."""
    tree = ast.parse(text)
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                skipped.update(range(first.lineno, first.end_lineno + 1))
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "IDEA" for t in targets):
            skipped.update(range(node.lineno, node.end_lineno + 1))
    code: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type not in _NOT_CODE:
            code.update(range(tok.start[0], tok.end[0] + 1))
    return len(code - skipped)


@functools.cache
def _composed(mixin: type, base: type) -> type:
    name = mixin.__name__.strip("_").removesuffix("Mixin") + base.__name__
    return type(name, (mixin, base), {"__module__": mixin.__module__})


def extend_module(module, mixin: type) -> None:
    """Put a mixin's methods on top of one module instance's current class. The mixin
    calls super(), so several ideas can extend the same module and stack."""
    module.__class__ = _composed(mixin, type(module))

