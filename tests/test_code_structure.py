"""The shape of the code (docs/architecture.md): every module imports on its own, the
import graph has no cycle, no module reaches for another module's private names, and
no module is long.

The checks read the sources with :mod:`ast`, so they also see imports made inside
functions and under ``TYPE_CHECKING``: a cycle hidden that way is still a cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    ROOT / "packages" / name / "src"
    for name in ("python-sdk", "cli", "engram-vector", "neuron-hf", "prism", "otel")
]
MAX_LINES = 550  # the Dendrite, the one public class, is the longest: half of it docstrings


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for src in SOURCES:
        for path in sorted(src.rglob("*.py")):
            parts = list(path.relative_to(src).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()
TOP_LEVEL = {name.split(".")[0] for name in MODULES}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _is_own_object(node: ast.expr) -> bool:
    """``self``, ``cls`` or ``super()``: a class using what it (or a base) defines."""
    if isinstance(node, ast.Name):
        return node.id in ("self", "cls")
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"
    )


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    is_package = MODULES[module].name == "__init__.py"
    base = module.split(".")
    drop = node.level - 1 if is_package else node.level
    base = base[: len(base) - drop] if drop else base
    return ".".join([*base, *([node.module] if node.module else [])])


def _imports(module: str) -> set[str]:
    """The project modules ``module`` imports, anywhere in its source."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node)
            for alias in node.names:
                child = f"{source}.{alias.name}"
                targets.add(child if child in MODULES else source)
    return {t for t in targets if t in MODULES and t != module}


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for name in graph:
        if name not in index:
            visit(name)
    return found


def test_the_modules_were_found() -> None:
    assert {"cosmonapse", "cosmonapse_cli", "cosmonapse_prism"} <= TOP_LEVEL
    assert "cosmonapse.dendrite" in MODULES and "cosmonapse.synapses.memory" in MODULES


def test_the_import_graph_has_no_cycle() -> None:
    graph = {name: sorted(_imports(name)) for name in MODULES}
    assert "cosmonapse.retry" in graph["cosmonapse._calling"]  # imports are seen
    assert "cosmonapse.synapses.base" in graph["cosmonapse._outbox"]
    assert _cycles(graph) == []


def test_the_cycle_check_reports_a_cycle() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"], "e": []}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_module_uses_private_names_of_another() -> None:
    """``obj._name`` only on ``self`` / ``super()`` or where ``_name`` belongs to this
    module (its own classes and companions), and no ``from x import _name`` unless
    ``_name`` is a module."""
    offenders: list[str] = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        own: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                own.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                own.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                own.add(node.id)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                own.add(node.value)  # names in __slots__
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _is_private(node.attr):
                if node.attr not in own and not _is_own_object(node.value):
                    offenders.append(f"{module}:{node.lineno}: {ast.unparse(node)}")
            elif isinstance(node, ast.ImportFrom):
                source = _resolve(module, node)
                for alias in node.names:
                    if _is_private(alias.name) and f"{source}.{alias.name}" not in MODULES:
                        offenders.append(
                            f"{module}:{node.lineno}: from {source} import {alias.name}"
                        )
    assert offenders == []


@pytest.mark.parametrize("path", sorted(MODULES.values()), ids=lambda p: p.name)
def test_no_module_is_long(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines"


def test_each_module_imports_on_its_own() -> None:
    """Each module, imported first in a process with none of the project loaded, works:
    no module depends on another having been imported before it."""
    script = textwrap.dedent(
        """
        import importlib, sys
        top = set(sys.argv[1].split(","))
        failed = []
        for name in sys.argv[2:]:
            for loaded in [m for m in sys.modules if m.split(".")[0] in top]:
                del sys.modules[loaded]
            try:
                importlib.import_module(name)
            except Exception as exc:
                failed.append(f"{name}: {type(exc).__name__}: {exc}")
        print("\\n".join(failed))
        sys.exit(1 if failed else 0)
        """
    )
    names = sorted(n for n in MODULES if n.split(".")[-1] != "__main__")
    done = subprocess.run(
        [sys.executable, "-c", script, ",".join(sorted(TOP_LEVEL)), *names],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
