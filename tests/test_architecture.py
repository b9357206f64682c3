"""The import rules of docs/ARCHITECTURE.md, read from the source with `ast` (imports
inside functions included, relative imports resolved), so a lazy import cannot hide a
dependency: reports are pure renderers that reach nothing of the workflow, no two rooms
import each other, and the trainer never imports the harness."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("research_harness", "trainer")

# What a report may import: the numbers, the decision and its words, facts about runs, the
# runs DataFrame, the workspace's constants, and the other renderers. Everything a report
# shows is handed to it; loading, planning, simulating and writing stay with the workflow.
REPORTS_MAY_IMPORT = ("research_harness.reports", "research_harness.stats", "research_harness.gates",
                      "research_harness.vocabulary", "research_harness.facts", "research_harness.frame",
                      "research_harness.workspace")
# The workflow layer: what a report must not reach, even through the modules it may import.
WORKFLOW = ("research_harness.discovery", "research_harness.baseline", "research_harness.runner",
            "research_harness.calibration", "research_harness.engine", "research_harness.conclude",
            "research_harness.plugin", "research_harness.session_reports", "research_harness.executors",
            "research_harness.sandbox", "research_harness.agent", "research_harness.exporters",
            "research_harness.paper", "trainer.data", "trainer.run")

# The top-level modules of research_harness that form one room: numbers, decisions and their
# words, facts about stored records, the store itself and the workspace's paths. Each other
# top-level module is a room of its own, and so is each subpackage.
FOUNDATION = {"stats", "gates", "vocabulary", "engine", "calibration", "facts", "frame", "store", "workspace",
              "secrets", "hookspec"}
ENTRY_POINTS = {"plugin", "__main__"}  # the pytest plugin and `python -m research_harness`: one room


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """Every module of `known` that `path` (module `name`) imports, anywhere in its body.
    `from a import b` counts as a.b when that is a module, else as a."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            for alias in node.names:
                found.add(f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in known else origin)
    return {m for m in found if m in known or m.partition(".")[0] in PACKAGES}


def import_graph() -> dict[str, set[str]]:
    modules = source_modules()
    known = set(modules)
    return {name: imports_of(path, name, known) for name, path in modules.items()}


def within(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def room(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "trainer":
        return "trainer"
    if len(parts) == 1:  # the package's __init__: the lazy runs_frame accessor
        return "research_harness.foundation"
    if (ROOT / "research_harness" / parts[1]).is_dir():
        return f"research_harness.{parts[1]}"
    if parts[1] in FOUNDATION:
        return "research_harness.foundation"
    if parts[1] in ENTRY_POINTS:
        return "research_harness.plugin"
    return module


def reports_violations(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    reports = [m for m in graph if within(m, ["research_harness.reports"])]
    for m in reports:
        problems += [f"{m} imports {t}" for t in sorted(graph[m]) if not within(t, REPORTS_MAY_IMPORT)]
    seen, todo = set(), list(reports)
    while todo:  # what the reports reach through the modules they may import
        m = todo.pop()
        for t in graph.get(m, ()):
            if t not in seen:
                seen.add(t)
                todo.append(t)
                if within(t, WORKFLOW):
                    problems.append(f"the reports reach {t} (through {m})")
    return problems


def room_cycles(graph: dict[str, set[str]]) -> list[str]:
    """Each cycle between rooms, as the module imports that close it."""
    edges: dict[str, dict[str, str]] = {}
    for m, targets in graph.items():
        for t in targets:
            a, b = room(m), room(t)
            if a != b:
                edges.setdefault(a, {}).setdefault(b, f"{m} -> {t}")
    cycles = []
    for a in sorted(edges):
        for b in sorted(edges[a]):
            path = _path(edges, b, a)
            if path is not None and a < b:  # each pair of rooms once
                hops = [edges[a][b]] + [edges[x][y] for x, y in zip(path, path[1:])]
                cycles.append(f"{a} <-> {b}: " + "; ".join(hops))
    return cycles


def _path(edges: dict[str, dict[str, str]], start: str, goal: str) -> list[str] | None:
    frontier, came = [start], {start: None}
    while frontier:
        node = frontier.pop(0)
        if node == goal:
            out = [node]
            while came[out[-1]] is not None:
                out.append(came[out[-1]])
            return out[::-1]
        for nxt in sorted(edges.get(node, {})):
            if nxt not in came:
                came[nxt] = node
                frontier.append(nxt)
    return None


def test_reports_import_only_what_they_render_with():
    assert reports_violations(import_graph()) == []


def test_no_two_rooms_import_each_other():
    assert room_cycles(import_graph()) == []


def test_reports_and_the_paper_quote_the_simulation_and_never_run_it():
    # The null rates a report or paper quotes come from the layer that ran the study
    # (Discovery.null_rates), so they are those of the design that ran.
    graph = import_graph()
    assert [f"{m} -> {t}" for m in graph if m.startswith(("research_harness.reports", "research_harness.paper"))
            for t in graph[m] if t in ("research_harness.calibration", "research_harness.engine")] == []


def test_the_trainer_never_imports_the_harness():
    graph = import_graph()
    assert [f"{m} -> {t}" for m in graph if m.startswith("trainer") for t in graph[m]
            if t.startswith("research_harness")] == []


def test_the_reader_sees_imports_inside_functions_and_relative_ones(tmp_path):
    # The rules are only as good as the reader: a lazy or a relative import must count.
    module = tmp_path / "planted.py"
    module.write_text("def render():\n    from ..discovery import study\n    from research_harness import baseline\n"
                      "    return study, baseline\n", encoding="utf-8")
    known = {"research_harness.discovery.study", "research_harness.baseline", "research_harness.reports.planted"}
    found = imports_of(module, "research_harness.reports.planted", known)
    assert found == {"research_harness.discovery.study", "research_harness.baseline"}
    problems = reports_violations({"research_harness.reports.planted": found})
    assert "research_harness.reports.planted imports research_harness.discovery.study" in problems
    assert "the reports reach research_harness.baseline (through research_harness.reports.planted)" in problems
