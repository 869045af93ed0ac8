"""The import graph of ``model``, ``index`` and ``app``: dependencies point one way (``app`` -> ``index`` ->
``model``) and no modules import each other in a circle.

Every ``import`` statement counts, wherever it is written: at the top, inside a function, under
``TYPE_CHECKING``. An import done inside a function only postpones a cycle to the first call; it does not remove
it. New modules are found by walking the package folders, so the test needs no list to keep up to date.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("model", "index", "app")
FORBIDDEN = {"model": {"index", "app"}, "index": {"app"}, "app": set()}
"""Which top-level packages each package may not import."""


def module_files(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Every module of ``packages`` under ``root``: dotted name -> file (a package is its ``__init__.py``)."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: Mapping[str, Path]) -> str | None:
    """The most specific known module that ``name`` names (``a.b.func`` -> ``a.b``), or None when outside."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def imports_of(module: str, path: Path, modules: Mapping[str, Path]) -> set[str]:
    """The known modules that ``module`` imports anywhere in its file."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # ``from a import b`` imports the module a.b when there is one, else a name of a.
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name, modules)
            if target is not None:
                found.add(target)
    return found


def import_graph(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> dict[str, set[str]]:
    modules = module_files(root, packages)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def strongly_connected_components(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit to hit on a long chain)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in graph:
                    continue
                if successor not in index:
                    index[successor] = low[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    advanced = True
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other in a circle (a module importing itself counts)."""
    return [c for c in strongly_connected_components(graph) if len(c) > 1 or c[0] in graph[c[0]]]


def layer_violations(graph: Mapping[str, set[str]]) -> list[str]:
    return sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        for target in targets
        if target.split(".")[0] in FORBIDDEN.get(module.split(".")[0], set())
    )


def _describe(component: list[str], graph: Mapping[str, set[str]]) -> str:
    members = set(component)
    edges = [f"{a} -> {b}" for a in component for b in sorted(graph[a] & members)]
    return "; ".join(edges)


def test_the_graph_covers_every_package() -> None:
    graph = import_graph()
    for package in PACKAGES:
        assert package in graph
    assert "app.main" in graph and "index.storage" in graph and "model.train" in graph
    # Imports inside functions are seen too: the command line loads its subcommands lazily.
    assert "index.cli" in graph["app.cli"] and "model.cli" in graph["app.cli"]


def test_dependencies_point_one_way() -> None:
    assert layer_violations(import_graph()) == []


def test_no_import_cycles() -> None:
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(_describe(c, graph) for c in found)


# The checker itself: it must see cycles and forbidden arrows, however the imports are written.


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_cycle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    _write(tmp_path, {
        "model/__init__.py": "",
        "model/cli.py": "class UserError(Exception): ...\n\ndef run():\n    from model import retrieve\n",
        "model/retrieve.py": "def main():\n    from model.cli import UserError\n",
        "model/run.py": "import json\n",
    })
    graph = import_graph(tmp_path, ["model"])
    assert cycles(graph) == [["model.cli", "model.retrieve"]]


def test_relative_and_package_imports_are_resolved(tmp_path: Path) -> None:
    _write(tmp_path, {
        "model/__init__.py": "",
        "model/pkg/__init__.py": "from .a import f\n",
        "model/pkg/a.py": "from . import b\ndef f(): ...\n",
        "model/pkg/b.py": "from ..pkg import f\n",  # b -> pkg/__init__ -> a -> b
    })
    graph = import_graph(tmp_path, ["model"])
    assert graph["model.pkg.a"] == {"model.pkg.b"}
    assert cycles(graph) == [["model.pkg", "model.pkg.a", "model.pkg.b"]]


def test_a_self_import_and_a_long_chain_are_handled(tmp_path: Path) -> None:
    files = {"model/__init__.py": "", "model/me.py": "import model.me\n"}
    files |= {f"model/m{n}.py": f"from model import m{n + 1}\n" for n in range(2000)}
    _write(tmp_path, files)
    assert cycles(import_graph(tmp_path, ["model"])) == [["model.me"]]


@pytest.mark.parametrize("source, target", [("model", "index"), ("model", "app"), ("index", "app")])
def test_an_upward_import_is_found(tmp_path: Path, source: str, target: str) -> None:
    _write(tmp_path, {
        f"{source}/__init__.py": "",
        f"{source}/low.py": f"def f():\n    from {target}.high import g\n",
        f"{target}/__init__.py": "",
        f"{target}/high.py": "def g(): ...\n",
    })
    graph = import_graph(tmp_path, [source, target])
    assert layer_violations(graph) == [f"{source}.low imports {target}.high"]
