"""The house rules the code keeps (issue 31): imports flow one way, no module imports the CLI, and no
function runs over 100 lines. Read from the source with `ast`, imports inside functions included
(only those under `if TYPE_CHECKING:` are left out: they never run)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
MAX_FUNCTION_LINES = 100


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


class _Reader(ast.NodeVisitor):
    def __init__(self, modules: dict[str, Path]) -> None:
        self.modules = modules
        self.imports: set[str] = set()
        self.long: list[tuple[str, int]] = []

    def visit_If(self, node: ast.If) -> None:
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.imports.update(a.name for a in node.names if a.name.startswith("timesteer"))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and node.module.startswith("timesteer"):
            self.imports.add(node.module)
            self.imports.update(f"{node.module}.{a.name}" for a in node.names
                                if f"{node.module}.{a.name}" in self.modules)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        lines = (node.end_lineno or node.lineno) - node.lineno + 1
        if lines > MAX_FUNCTION_LINES:
            self.long.append((node.name, lines))
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef


def _read() -> tuple[dict[str, set[str]], list[str]]:
    modules = _modules()
    graph, long = {}, []
    for name, path in modules.items():
        reader = _Reader(modules)
        reader.visit(ast.parse(path.read_text(encoding="utf-8")))
        graph[name] = {m for m in reader.imports if m in modules and m != name}
        long += [f"{name}.{fn} ({n} lines)" for fn, n in reader.long]
    return graph, long


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan). Packages' `__init__` are left out:
    a package re-exporting its own modules is not a circle between them."""
    packages = {m for m, p in _modules().items() if p.name == "__init__.py"}
    g = {m: {e for e in es if e not in packages} for m, es in graph.items() if m not in packages}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in g:
        if v not in index:
            visit(v)
    return found


def test_no_import_circle():
    assert _cycles(_read()[0]) == []


def test_the_cycle_finder_finds_one():
    assert _cycles({"timesteer.a": {"timesteer.b"}, "timesteer.b": {"timesteer.a"}}) == [["timesteer.a",
                                                                                           "timesteer.b"]]


def test_nothing_imports_the_cli():
    graph, _ = _read()
    assert [m for m, deps in graph.items() if "timesteer.cli" in deps and m != "timesteer._entry"] == []


def test_no_function_over_100_lines():
    assert _read()[1] == []
