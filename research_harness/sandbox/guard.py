"""A lint for model-written idea modules, on the syntax tree, before the module is written.

It is not the security boundary: the operating-system sandbox the module runs in is
(issue 14). Python is too dynamic for a static check to be sound, and several escapes use
only the trainer's own helpers. The lint's job is to refuse early, with a line number and a
reason the model can act on, everything an honest idea never needs: files, processes,
reflection, dynamic code, code that runs at import time, and changes to the trainer's
modules that would reach the baseline's runs. So the rules are an allow-list where one
is possible (imports, decorators) and deny-lists where not (names, attributes), and they
close every cheap hole we found by attacking it (tests/test_guard.py). `rules_text()` is
what the implement prompt shows the model, so the prompt and the check cannot drift apart."""

from __future__ import annotations

import ast
import functools
import importlib.machinery
import importlib.util
import io
import os
import re
import tokenize

__all__ = ["check_module", "code_lines", "rules_text", "idea_name", "ALLOWED_IMPORTS",
           "DENIED_NAMES", "DENIED_ATTRIBUTES", "MAX_CODE_LINES"]

MAX_CODE_LINES = 200  # code lines must be fewer than this
MAX_PROBLEMS = 25

ALLOWED_IMPORTS = ("math", "torch", "torch.nn", "torch.nn.functional", "functools", "trainer.ideas",
                   "trainer.ideas.base", "trainer.model", "trainer.optim", "trainer.config")

# Builtins that reach files, code, input or the interpreter's internals: refused as names.
DENIED_NAMES = frozenset({"open", "eval", "exec", "compile", "__import__", "getattr", "setattr", "delattr",
                          "vars", "globals", "locals", "input", "breakpoint", "exit", "quit", "help"})

# torch attributes that reach files, processes, native code or code generation.
TORCH_DENIED = frozenset({"load", "save", "hub", "from_file", "cpp_extension", "library", "ops", "_C", "classes",
                          "jit", "multiprocessing", "distributed", "package", "compile", "compiler", "utils",
                          "serialization", "onnx", "profiler", "fx", "export", "jiterator", "storage"})
# torch settings that are global to the process: a hook that changed one would change every
# later run in it, the baseline's included, long after the hook's own run.
GLOBAL_STATE = frozenset({"set_default_dtype", "set_default_device", "set_default_tensor_type", "manual_seed",
                          "manual_seed_all", "seed", "set_rng_state", "set_num_threads", "set_num_interop_threads",
                          "use_deterministic_algorithms", "set_flush_denormal", "set_float32_matmul_precision",
                          "backends", "set_grad_enabled", "set_anomaly_enabled", "set_printoptions",
                          "set_warn_always", "random", "cuda", "set_autocast_enabled", "set_autocast_dtype",
                          "set_autocast_cache_enabled", "set_detect_anomaly", "set_multithreading_enabled",
                          "accelerator", "mps", "xpu", "mtia",
                          # hooks on every nn.Module of the process (torch.nn.modules.module.register_module_*)
                          "register_module_forward_hook", "register_module_forward_pre_hook",
                          "register_module_backward_hook", "register_module_full_backward_hook",
                          "register_module_full_backward_pre_hook", "register_module_buffer_registration_hook",
                          "register_module_module_registration_hook",
                          "register_module_parameter_registration_hook"})
# The only decorators allowed, by the full name they resolve to: a decorator is any
# expression, evaluated and called when the def or class runs (at import for the module's
# own definitions), so a bare `@some_module.thing` would be import-time code. These only
# wrap what they decorate. A bare name is one of the builtins or one imported from torch
# or functools, never one the module binds itself (`def cache(f): ...` would run).
ALLOWED_DECORATORS = frozenset({"staticmethod", "classmethod", "property", "torch.no_grad", "torch.inference_mode",
                                "functools.lru_cache", "functools.cache"})
# Modules the allowed ones expose as attributes (torch.os, trainer.ideas.importlib, F.np, ...),
# and other ways out: frames, pickling, numpy's file writers.
ESCAPES = frozenset({"os", "sys", "builtins", "ctypes", "glob", "importlib", "inspect", "platform", "threading",
                     "subprocess", "socket", "shutil", "pickle", "marshal", "tempfile", "signal", "types", "gc",
                     "code", "codeop", "runpy", "mmap", "resource", "atexit", "operator", "copyreg", "pathlib",
                     "Path", "io", "np", "numpy", "pkgutil", "entry_points", "discover_ideas", "tokenize", "ast",
                     "dataclasses", "static", "load_idea_file", "tofile", "dump", "dumps", "open", "system", "popen",
                     "gi_frame", "gi_code", "cr_frame", "cr_code", "ag_frame", "ag_code", "f_globals", "f_builtins",
                     "f_locals", "f_back", "f_code", "tb_frame", "tb_next", "co_code", "with_traceback",
                     "gi_yieldfrom", "cr_await", "ag_await",
                     # torch submodules an idea never needs: test helpers that run code, function-mode
                     # interception, threads, process-wide warning filters, data-parallel workers
                     "testing", "overrides", "futures", "monitor", "cpp", "warnings", "parallel", "windows"})
DENIED_ATTRIBUTES = TORCH_DENIED | GLOBAL_STATE | ESCAPES

ALLOWED_DUNDERS = frozenset({"__init__"})
# Methods that change a container in place: called on an imported object (a preset table, a
# registry) they change it for every later run, like an assignment into it would.
MUTATORS = frozenset({"update", "setdefault", "append", "extend", "insert", "pop", "popitem", "clear", "remove",
                      "discard", "add", "sort", "reverse"})
TOP_LEVEL_OK = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign,
                ast.AnnAssign, ast.Pass)
_DUNDER_STRING = re.compile(r"__\w+__")


def check_module(source: str) -> list[str]:
    """The problems found in `source` ("line N: reason" or "module: reason"); empty means accepted."""
    if not isinstance(source, str):
        return [f"module: expected Python source text, got {type(source).__name__}"]
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return [f"line {exc.lineno or 1}: syntax error: {exc.msg}"]
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        return [f"module: cannot be parsed: {type(exc).__name__}: {exc}"]
    found: list[tuple[int, str]] = []
    try:
        _Checker(found).run(tree)
        n = code_lines(source, tree)
    except RecursionError:
        return ["module: nested too deeply to check; write flatter code"]
    if n >= MAX_CODE_LINES:
        found.append((0, f"module: {n} lines of code; the limit is {MAX_CODE_LINES - 1} (blank lines, comments "
                         "and docstrings do not count)"))
    if not any(_assigns_idea(node) for node in tree.body):
        found.append((0, "module: no module-level `IDEA = ...`; define IDEA as an instance of your Idea subclass"))
    problems = sorted(set(found), key=lambda p: p)
    out = [msg for _, msg in problems]
    if len(out) > MAX_PROBLEMS:
        out = out[:MAX_PROBLEMS] + [f"module: and {len(out) - MAX_PROBLEMS} more problems"]
    return out


def _assigns_idea(node: ast.stmt) -> bool:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
    return any(isinstance(t, ast.Name) and t.id == "IDEA" for t in targets)


def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                ids.add(id(first))
                ids.add(id(first.value))
    return ids


def code_lines(source: str, tree: ast.AST | None = None) -> int:
    """Lines holding code: not blank, not only a comment, not part of a docstring."""
    tree = tree if tree is not None else ast.parse(source)
    docstrings = _docstring_nodes(tree)
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and id(node) in docstrings:
            skipped.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    rows: set[int] = set()
    ignore = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
              tokenize.ENCODING, tokenize.ENDMARKER}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type not in ignore:
                rows.update(range(tok.start[0], tok.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):
        rows = {i for i, line in enumerate(source.splitlines(), 1) if line.strip() and not line.strip().startswith("#")}
    return len(rows - skipped)


class _Checker:
    """One pass over every node; each rule adds (line, message)."""

    def __init__(self, found: list[tuple[int, str]]):
        self.found = found
        self.imported: dict[str, set[str]] = {}  # local name -> the full names imports bind it to
        self.bound: set[str] = set()  # names the module binds other than by import (assignments, defs, args)

    def add(self, node: ast.AST, reason: str) -> None:
        line = getattr(node, "lineno", 0) or 0
        self.found.append((line, f"line {line}: {reason}"))

    def run(self, tree: ast.Module) -> None:
        docstrings = _docstring_nodes(tree)
        for node in tree.body:
            if not isinstance(node, TOP_LEVEL_OK) and id(node) not in docstrings:
                self.add(node, f"top-level {type(node).__name__.lower()} statement; the module may hold only imports, "
                               "constants, functions, classes and IDEA (code runs inside the hooks, when the flag is on)")
        self.check_import_time(tree)
        # `from __future__ import annotations` keeps every annotation a string that nothing
        # evaluates (the trainer never calls typing.get_type_hints on an idea); without it
        # they are evaluated when the def or class statement runs, at import for the
        # module's own definitions, so they may then be only a plain name or a literal.
        self.lazy_annotations = any(isinstance(n, ast.ImportFrom) and n.module == "__future__"
                                    and any(a.name == "annotations" for a in n.names) for n in tree.body)
        nodes = list(ast.walk(tree))
        # type(x) reads a class, harmless; type(name, bases, ns) builds one with any namespace,
        # and `type` taken as a value could be called that way out of sight.
        self.type_of = {id(n.func) for n in nodes if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                        and n.func.id == "type" and len(n.args) == 1 and not n.keywords
                        and not isinstance(n.args[0], ast.Starred)}
        for node in nodes:  # imports and bindings first: the rules below resolve names through them
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                self.check_import(node)
            self.bound.update(_bound_names(node))
        self.find_aliases(nodes)
        for node in nodes:
            self.check(node, docstrings)

    # -- what runs at import time --------------------------------------------------------------
    def check_import_time(self, tree: ast.Module) -> None:
        """Importing the module must do nothing: the flag-off baseline runs in the same
        process after the import. So no call is evaluated at import time (constants,
        definitions and the IDEA constructor with literal metadata only), and the IDEA
        class may not run its own __init__."""
        classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
        for node in tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == "IDEA" for t in targets) and isinstance(node.value, ast.Call):
                    self.no_calls(node.value.args + [k.value for k in node.value.keywords], "the IDEA metadata")
                    cls = node.value.func.id if isinstance(node.value.func, ast.Name) else None
                    if cls not in classes and cls != "Idea":
                        self.add(node.value, "IDEA must be built by calling an Idea subclass defined in this module "
                                             "(IDEA = MyIdea(name=..., ...)): any other call would run at import time")
                    for owner in _local_ancestry(cls, classes):  # a local base's __init__ runs just the same
                        init = [f for f in classes[owner].body if isinstance(f, ast.FunctionDef) and f.name == "__init__"]
                        if init:
                            self.add(init[0], f"{owner}.__init__ runs when IDEA is built, at import time, with the flag "
                                              "off; an Idea needs no __init__: keep state in the hooks")
                else:
                    self.no_calls([node.value], "a module-level constant")
            elif isinstance(node, ast.ClassDef):
                self.check_class(node)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.check_def(node)

    def check_class(self, node: ast.ClassDef) -> None:
        self.no_calls(node.bases + [k.value for k in node.keywords], f"the bases of class {node.name}")
        if any(k.arg == "metaclass" for k in node.keywords):
            self.add(node, f"class {node.name}: a metaclass runs code at import time")
        elif node.keywords:  # handed to a base's __init_subclass__, which runs at import
            self.add(node, f"class {node.name}: class keywords run a base's __init_subclass__ at import time")
        for item in node.body:
            if isinstance(item, ast.ClassDef):
                self.check_class(item)
            elif isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.check_def(item)
            elif isinstance(item, (ast.Assign, ast.AnnAssign)):
                if item.value is not None:
                    self.no_calls([item.value], f"a class attribute of {node.name}")
            elif not isinstance(item, ast.Pass) and not (isinstance(item, ast.Expr) and isinstance(item.value, ast.Constant)):
                self.add(item, f"class {node.name}: an {type(item).__name__} statement in a class body runs at "
                               "import time, with the flag off; only methods and constant attributes may stand there")

    def check_def(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.no_calls(node.args.defaults + [d for d in node.args.kw_defaults if d is not None],
                      f"the default arguments of {node.name}")

    def no_calls(self, exprs: list, where: str) -> None:
        for expr in exprs:
            for sub in ast.walk(expr):
                if isinstance(sub, ast.Call):
                    self.add(sub, f"a call in {where} runs at import time, with the flag off (it would change the "
                                  "baseline's runs too); compute it inside a hook")
                    return

    # -- imports --------------------------------------------------------------------------------
    def check_import(self, node: ast.Import | ast.ImportFrom) -> None:
        allowed = ", ".join(ALLOWED_IMPORTS)
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name not in ALLOWED_IMPORTS:
                    self.add(node, f"import of {alias.name!r} is not allowed; allowed modules: {allowed}")
                local = alias.asname or alias.name.split(".")[0]
                self.imported.setdefault(local, set()).add(alias.name if alias.asname else local)
            return
        module = node.module or ""
        if node.level:
            self.add(node, "relative imports are not allowed; import from the allowed modules by full name")
        elif module == "__future__":
            bad = [a.name for a in node.names if a.name != "annotations"]
            if bad:
                self.add(node, f"from __future__ import {', '.join(bad)} is not allowed (only annotations)")
            return
        elif module not in ALLOWED_IMPORTS:
            self.add(node, f"import from {module!r} is not allowed; allowed modules: {allowed}")
        for alias in node.names:
            full = f"{module}.{alias.name}"
            if alias.name != "*" and module in ALLOWED_IMPORTS and full not in ALLOWED_IMPORTS and _is_submodule(full):
                self.add(node, f"`from {module} import {alias.name}` imports the module {full!r}, which is not "
                               f"allowed; allowed modules: {allowed}")
            if alias.name == "*":
                self.add(node, f"`from {module} import *` is not allowed; import the names you use")
            elif alias.name in DENIED_ATTRIBUTES or alias.name in DENIED_NAMES or alias.name.startswith("_"):
                self.add(node, f"importing {alias.name!r} from {module!r} is not allowed (it reaches files, "
                               "processes, native code or private internals)")
            self.imported.setdefault(alias.asname or alias.name, set()).add(f"{module}.{alias.name}")

    # -- everything else --------------------------------------------------------------------------
    def check(self, node: ast.AST, docstrings: set[int]) -> None:
        if isinstance(node, ast.Name):
            self.check_name(node, node.id)
        elif isinstance(node, ast.Attribute):
            self.check_attribute(node)
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, (ast.Store, ast.Del)):
            self.check_store(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.check_dunder(node, node.name, "defining")
            if not isinstance(node, ast.ClassDef):
                a = node.args
                params = a.posonlyargs + a.args + a.kwonlyargs + [x for x in (a.vararg, a.kwarg) if x]
                for ann in [p.annotation for p in params] + [node.returns]:
                    self.check_annotation(ann, node.name)
            for deco in node.decorator_list:
                self.check_decorator(deco, node.name)
        elif isinstance(node, ast.arg):
            self.check_dunder(node, node.arg, "the parameter name")
        elif isinstance(node, ast.keyword) and node.arg:
            self.check_dunder(node, node.arg, "the keyword")
        elif isinstance(node, ast.alias):
            pass  # checked with its import
        elif isinstance(node, (ast.Global,)):
            self.add(node, "`global` statements are not allowed; keep state on the Idea or the modules it adds")
        elif isinstance(node, ast.AnnAssign):
            self.check_annotation(node.annotation, ast.unparse(node.target))
        elif isinstance(node, ast.Call):
            self.check_call(node)
        elif isinstance(node, ast.Match):
            self.add(node, "`match` statements are not allowed (class patterns read attributes by name)")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if _DUNDER_STRING.fullmatch(node.value) and node.value not in ALLOWED_DUNDERS:
                self.add(node, f"the string {node.value!r} names a dunder attribute; that reflection is not allowed")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.asname:
                    self.check_dunder(node, alias.asname, "the alias")

    def resolve(self, expr: ast.expr) -> str | None:
        """The full name a Name or dotted attribute chain refers to, through the module's
        imports; None when it is not a plain chain or its root may be rebound."""
        parts = []
        while isinstance(expr, ast.Attribute):
            parts.append(expr.attr)
            expr = expr.value
        if not isinstance(expr, ast.Name) or expr.id in self.bound:
            return None
        full = self.imported.get(expr.id, {expr.id} if expr.id in BUILTIN_DECORATORS else set())
        if len(full) != 1:
            return None
        return ".".join([next(iter(full))] + parts[::-1])

    def check_decorator(self, deco: ast.expr, owner: str) -> None:
        target = deco.func if isinstance(deco, ast.Call) else deco
        name = self.resolve(target)
        if name not in ALLOWED_DECORATORS:
            shown = ast.unparse(target) if len(ast.unparse(target)) < 60 else "this expression"
            self.add(deco, f"the decorator {shown} on {owner} runs when the definition runs (at import time for "
                           f"the module's own); allowed decorators: {', '.join(sorted(ALLOWED_DECORATORS))}")
        elif isinstance(deco, ast.Call) and not all(isinstance(a, ast.Constant)
                                                    for a in deco.args + [k.value for k in deco.keywords]):
            self.add(deco, f"the arguments of the decorator on {owner} must be literals (they run at import time)")

    def check_annotation(self, ann: ast.expr | None, owner: str) -> None:
        if ann is None or self.lazy_annotations or isinstance(ann, (ast.Name, ast.Constant)):
            return
        self.add(ann, f"the annotation {ast.unparse(ann)[:50]} on {owner} is evaluated when the definition runs "
                      "(at import time); add `from __future__ import annotations` or annotate with a plain name")

    def check_name(self, node: ast.Name, name: str) -> None:
        if name in DENIED_NAMES:
            self.add(node, f"{name!r} is not allowed (no file, process, input or dynamic-code access, no reflection)")
        elif name == "type" and isinstance(node.ctx, ast.Load) and id(node) not in self.type_of:
            self.add(node, "`type` is allowed only as type(x) with one argument (three arguments build a class; "
                           "`type` taken as a value could)")
        else:
            self.check_dunder(node, name, "the name")

    def check_dunder(self, node: ast.AST, name: str, what: str) -> None:
        if name.startswith("__") and name not in ALLOWED_DUNDERS:
            self.add(node, f"{what} {name!r} is not allowed: names starting with '__' (other than __init__) "
                           "reach the interpreter's internals")

    def check_attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr in ("format", "format_map"):  # refused taken, not only called: `f = s.format; f(obj)`
            self.add(node, f"str.{attr} is not allowed (its fields read attributes and items by name, "
                           "'{0.__init__.__globals__}'); use an f-string")
        elif attr.startswith("__"):
            if attr not in ALLOWED_DUNDERS:
                self.add(node, f"the attribute {attr!r} is not allowed: dunder attributes other than __init__ "
                               "reach the interpreter's internals (use extend_module to change a module's class)")
        elif attr in DENIED_NAMES:  # `builtins.exec`, `x.open`: the same power as the bare name
            self.add(node, f"the attribute {attr!r} is not allowed (no file, process, input or dynamic-code access, "
                           "no reflection)")
        elif attr in DENIED_ATTRIBUTES:
            self.add(node, f"the attribute {attr!r} is not allowed: it reaches files, processes, native code "
                           "or other modules")
        elif attr.startswith("_") and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            self.add(node, f"the private attribute {attr!r} is not allowed (only self._name); name your own "
                           "attributes without a leading underscore")
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self.check_store(node)

    def check_store(self, node: ast.Attribute | ast.Subscript) -> None:
        """An assignment, augmented assignment or del into `node` (x.a = ..., x[k] += ..., del x.a).
        Stores on what the hooks are handed (model.loss_fn, block.attn.gate_proj, self.x) are how
        an idea works; stores into an imported module, class or object, directly or through a
        name, item or attribute that holds one, would reach the baseline's runs too."""
        root, through = node.value, []
        while isinstance(root, (ast.Attribute, ast.Subscript)):
            if isinstance(root, ast.Attribute):
                through.append(root.attr)
            root = root.value
        what = "assigning into" if isinstance(node.ctx, ast.Store) else "deleting from"
        if not isinstance(root, ast.Name):
            self.add(node, f"{what} the result of an expression ({ast.unparse(root)[:40]}) is not allowed; assign "
                           "through a plain name (model.x = ..., self.x = ...)")
        elif root.id in self.imported or root.id in self.aliases:
            how = "the imported" if root.id in self.imported else "the name"
            held = "" if root.id in self.imported else ", which holds an imported module or object,"
            self.add(node, f"{what} {how} {root.id!r}{held} changes every run, the baseline's included; "
                           "change only the model, configs or optimizers the hooks are given")
        elif any(a in self.alias_attributes for a in through):
            attr = next(a for a in through if a in self.alias_attributes)
            self.add(node, f"{what} the attribute {attr!r}, which is given an imported module or object in this "
                           "module, changes every run, the baseline's included")

    def check_call(self, node: ast.Call) -> None:
        """Calls that change an imported object in place, as a store would."""
        func = node.func
        in_place = isinstance(func, ast.Attribute) and (func.attr in MUTATORS or
                                                        (func.attr.endswith("_") and not func.attr.startswith("_")))
        if in_place and not self.is_module(func.value) and self.holds_import(func.value):
            self.add(node, f"calling .{func.attr}() on {ast.unparse(func.value)[:40]}, an imported object, changes it for "
                           "every run, the baseline's included")
        elif (self.resolve(func) or "").endswith(".extend_module") and node.args and self.holds_import(node.args[0]):
            self.add(node, f"extend_module on {ast.unparse(node.args[0])[:40]}, an imported module or object, would "
                           "change its class for every run; extend only the model's modules")

    def is_module(self, expr: ast.expr) -> bool:
        """Whether `expr` names a module, whose functions these are (torch.add(a, b),
        torch.nn.init.zeros_(w)), not an object they would change."""
        name = self.resolve(expr)
        return name is not None and (name in ALLOWED_IMPORTS or _is_submodule(name))

    def holds_import(self, expr: ast.expr) -> bool:
        """Whether `expr` may evaluate to an imported module or object (the store rule's test)."""
        through = []
        while isinstance(expr, (ast.Attribute, ast.Subscript)):
            if isinstance(expr, ast.Attribute):
                through.append(expr.attr)
            expr = expr.value
        return (isinstance(expr, ast.Name) and (expr.id in self.imported or expr.id in self.aliases)) \
            or any(a in self.alias_attributes for a in through) or self.mentions_import(expr)

    def find_aliases(self, nodes: list[ast.AST]) -> None:
        """Names and attribute names that may hold an imported module or object: bound from an
        expression that mentions one (m = trainer.run, F2 = F, a, b = F, x, (m := F), for m in
        (F,), def f(m=F), a function that returns one, a container it is put in). A call of an
        imported name (torch.zeros(3), nn.Linear(...)) makes a new object and does not count.
        An over-approximation by name, module-wide, repeated until nothing changes."""
        self.aliases: set[str] = set()
        self.alias_attributes: set[str] = set()
        pairs = [pair for node in nodes for pair in _bindings(node)]
        for _ in range(20):  # a chain of n aliases needs n passes; 20 is far beyond any idea module
            before = len(self.aliases) + len(self.alias_attributes)
            for target, value in pairs:
                if self.mentions_import(value):
                    self.taint(target)
            if len(self.aliases) + len(self.alias_attributes) == before:
                return

    def mentions_import(self, expr: ast.AST) -> bool:
        stack = [expr]
        while stack:
            sub = stack.pop()
            if isinstance(sub, ast.Name) and (sub.id in self.imported or sub.id in self.aliases):
                return True
            if isinstance(sub, ast.Attribute) and sub.attr in self.alias_attributes:
                return True  # self.m = F; h = self.m
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id == "type":
                return True  # type(model) is the trainer's class, shared by every run: cls = type(model)
            if not (isinstance(sub, ast.Call) and self.makes_new(sub)):
                stack.extend(ast.iter_child_nodes(sub))
        return False

    def makes_new(self, call: ast.Call) -> bool:
        """A call of an imported callable (torch.zeros_like(p, memory_format=torch.preserve_format),
        nn.Linear(...)) returns a new object, whatever its arguments. Not so functools' helpers
        (reduce, partial can hand back what they are given) nor the trainer's functions (they may
        return state the trainer keeps); the trainer's classes (Rotary(...)) do make new objects."""
        root = call.func
        while isinstance(root, ast.Attribute):
            root = root.value
        if not (isinstance(root, ast.Name) and root.id in self.imported and root.id not in self.bound):
            return False
        callee = call.func.attr if isinstance(call.func, ast.Attribute) else call.func.id
        return all(full.split(".")[0] not in ("functools", "trainer") or
                   (full.split(".")[0] == "trainer" and callee[:1].isupper()) for full in self.imported[root.id])

    def taint(self, target: ast.AST | str) -> None:
        if isinstance(target, str):
            self.aliases.add(target)
        elif isinstance(target, ast.Name) and target.id in self.imported:
            pass  # refused as a store root already; `torch.cat([F])` is no store into torch
        elif isinstance(target, ast.Name):  # also as an attribute: a class-body name is read as self.name
            self.aliases.add(target.id)
            self.alias_attributes.add(target.id)
        elif isinstance(target, ast.Attribute):
            self.alias_attributes.add(target.attr)
        elif isinstance(target, (ast.Subscript, ast.Starred)):  # d[k] = F taints the container d
            self.taint(target.value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self.taint(elt)


BUILTIN_DECORATORS = frozenset({"staticmethod", "classmethod", "property"})


def _local_ancestry(name: str | None, classes: dict[str, ast.ClassDef]) -> list[str]:
    """`name` and the classes of this module it inherits from, each once."""
    seen: list[str] = []
    todo = [name]
    while todo:
        current = todo.pop()
        if current in classes and current not in seen:
            seen.append(current)
            todo.extend(b.id for b in classes[current].bases if isinstance(b, ast.Name))
    return seen


@functools.lru_cache(maxsize=256)
def _is_submodule(dotted: str) -> bool:
    """Whether `dotted` names a module file or package on disk, found without importing
    anything: `from torch import testing` imports torch.testing, a module of its own, which
    the allow-list must name (`from torch.nn import functional` is torch.nn.functional)."""
    top, *rest = dotted.split(".")
    try:
        spec = importlib.util.find_spec(top)  # a top-level name: looked up, not imported
    except (ImportError, ValueError):
        return False
    paths = list(spec.submodule_search_locations or []) if spec else []
    for i, part in enumerate(rest):
        if i == len(rest) - 1 and any(os.path.isfile(os.path.join(p, part + suffix))
                                      for p in paths for suffix in importlib.machinery.all_suffixes()):
            return True
        paths = [os.path.join(p, part) for p in paths if os.path.isdir(os.path.join(p, part))]
    return bool(paths) and bool(rest)


def _bindings(node: ast.AST) -> list[tuple[ast.AST | str, ast.AST]]:
    """(target, value) for every way `node` binds a value to a name, item or attribute."""
    if isinstance(node, ast.Assign):
        return [pair for t in node.targets for pair in _match(t, node.value)]
    if isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)) and node.value is not None:
        return _match(node.target, node.value)
    if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
        return [(node.target, node.iter)]
    if isinstance(node, ast.withitem) and node.optional_vars is not None:
        return [(node.optional_vars, node.context_expr)]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        a = node.args
        positional = a.posonlyargs + a.args
        pairs: list = [(p.arg, d) for p, d in zip(positional[len(positional) - len(a.defaults):], a.defaults)]
        pairs += [(p.arg, d) for p, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None]
        if not isinstance(node, ast.Lambda):  # what it returns or yields is what a call of it gives
            pairs += [(node.name, sub.value) for sub in ast.walk(node)
                      if isinstance(sub, (ast.Return, ast.Yield, ast.YieldFrom)) and sub.value is not None]
        return pairs
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):  # box.append(F), d.update(m=F)
        return [(node.func.value, arg) for arg in node.args + [k.value for k in node.keywords]]
    return []


def _match(target: ast.AST, value: ast.AST) -> list[tuple[ast.AST, ast.AST]]:
    """Unpack `a, b = x, y` element by element, so `a, b = F, 1` taints only a."""
    if isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)) \
            and len(target.elts) == len(value.elts) and not any(isinstance(e, ast.Starred) for e in target.elts + value.elts):
        return [pair for t, v in zip(target.elts, value.elts) for pair in _match(t, v)]
    return [(target, value)]


def _bound_names(node: ast.AST) -> list[str]:
    """Names `node` binds other than by import: stores, del, defs, classes, parameters,
    exception names (`global` and `match` are refused, so no other binding forms remain)."""
    if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
        return [node.id]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.arg):
        return [node.arg]
    if isinstance(node, ast.ExceptHandler) and node.name:
        return [node.name]
    return []


def idea_name(source: str) -> str | None:
    """The literal `name=` of the module's `IDEA = ...(name="...")`, read without importing it."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "IDEA" for t in node.targets) \
                and isinstance(node.value, ast.Call):
            for kw in node.value.keywords:
                if kw.arg == "name" and isinstance(kw.value, ast.Constant):
                    return kw.value.value
    return None


def rules_text() -> str:
    """The rules as the implement prompt states them: every rule the check enforces, so an
    honest module passes the first time, plus what torch.export needs of the model."""
    decorators = ", ".join(sorted(ALLOWED_DECORATORS))
    return "\n".join([
        f"- Imports only these modules, each by its full name: {', '.join(ALLOWED_IMPORTS)} (and `from __future__ "
        "import annotations`). `from M import N` where N is a submodule counts as importing M.N (`from torch.nn "
        "import functional` is fine; `from torch import testing` is not). No relative or star imports.",
        "- Top level: only imports, constants, functions, classes and the module-level `IDEA = MyIdea(...)`, where "
        "MyIdea is an Idea subclass defined in the module. All behaviour lives in the hooks, which run only when "
        "the flag is on. Importing the module must do nothing: no call may run at import time (not in a constant, "
        "a class attribute, a base class, a default argument, a lambda default or a comprehension at top level), "
        "IDEA's arguments are literals, IDEA's class and its bases in the module define no __init__, and classes "
        "take no keywords (no metaclass).",
        f"- Decorators: only {decorators} (plain or as torch.no_grad() / functools.lru_cache(maxsize=...), with "
        "literal arguments); a name the module binds itself is not one of them.",
        "- Annotations: start the module with `from __future__ import annotations` (then annotate freely); "
        "without it an annotation may only be a plain name or a string, because it is evaluated at import.",
        f"- Fewer than {MAX_CODE_LINES} lines of code (blank lines, comments and docstrings do not count).",
        f"- Never use these names, nor as attributes (`x.exec` like `exec`): {', '.join(sorted(DENIED_NAMES))}. "
        "`type` only as type(x) with one argument, never taken as a value.",
        "- No names or attributes starting with '__' except `__init__` (so `super().__init__()` is fine; "
        "`__class__`, `__dict__` are not: use `extend_module(module, Mixin)` to change a module's class). "
        "No private attributes (`x._name`) except on `self`. No string that names a dunder attribute.",
        f"- These attributes are refused wherever they appear: {', '.join(sorted(TORCH_DENIED))} (torch's file, "
        f"process and native-code APIs), {', '.join(sorted(GLOBAL_STATE))} (process-wide settings and hooks: "
        f"changing one would change every later run) and {', '.join(sorted(ESCAPES))} (other modules, frames, "
        "files).",
        "- No `global`, no `match`, no `str.format` or `str.format_map` (not even taken as `s.format`): use "
        "f-strings.",
        "- Never change an imported module, class or object: no assignment, augmented assignment or `del` into "
        "it, nor into a name, item or attribute that holds one (`m = trainer.optim; m.X = ...`, `cls = "
        "type(model); cls.forward = ...`), no in-place method on one (`PRESETS.update(...)`), no "
        "`extend_module` on one, and no store into the result of a call (`f().x = ...`). Assign on what the "
        "hooks are given and on new objects instead: `model.loss_fn = ...`, `block.attn.gate = nn.Linear(...)`, "
        "`self.x = ...`.",
        "- The model must export with `torch.export` at a static input shape, so its forward (and every method "
        "it calls) has no data-dependent Python control flow: no `if` or `while` on a tensor's value, no "
        "`.item()` or `.tolist()`, no Python loop over a tensor's values (use torch.where, masks and tensor "
        "ops; a loop over layers or a fixed range is fine), no in-place update of a buffer or of the input, and "
        "no random numbers (dropout, torch.rand). Training-only code (the loss, the optimizers, the schedules) "
        "is not exported.",
        "- No files, network, processes or threads: the module runs in a sandbox that has none of them.",
    ])
