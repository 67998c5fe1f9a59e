"""No two modules import each other, even through others, and the packages depend one way: the CLI
on the local stack and the layer, the local stack on the layer only, the layer on neither
(docs/architecture.md, "Two walks down the layers").

Every import counts, those inside functions too (a lazy import is still a dependency). A module
that imports `package.module` depends on that module, not on the package's __init__.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

#: Where each first-party package's modules are.
SOURCES = {
    "bulk_import": ROOT / "layers/bulk_import/bulk_import",
    "bulk_import_local": ROOT / "local/bulk_import_local",
    "bulk_import_cli": ROOT / "cli/bulk_import_cli",
}
#: What each package may import of the others.
ALLOWED = {
    "bulk_import": set(),
    "bulk_import_local": {"bulk_import"},
    "bulk_import_cli": {"bulk_import", "bulk_import_local"},
}


def module_names() -> dict[str, Path]:
    modules = {}
    for package, directory in SOURCES.items():
        for path in directory.rglob("*.py"):
            parts = [package, *path.relative_to(directory).with_suffix("").parts]
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The first-party modules `name` imports (a `from package import module` counts as the module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        found |= {target for target in targets if target in modules and target != name}
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for successor in graph[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_one_that_imports_it_back():
    modules = module_names()
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    assert graph["bulk_import.status"] >= {"bulk_import.storage", "bulk_import.credentials"}  # the graph is real
    assert cycles(graph) == []


def test_each_package_imports_only_those_below_it():
    modules = module_names()
    crossing = {
        (name, target)
        for name, path in modules.items()
        for target in imports_of(name, path, modules)
        if target.partition(".")[0] not in ALLOWED[name.partition(".")[0]] | {name.partition(".")[0]}
    }
    assert crossing == set()
    assert any(
        target.startswith("bulk_import_local.")
        for target in imports_of("bulk_import_cli.main", modules["bulk_import_cli.main"], modules)
    )  # the check sees across packages


def test_a_cycle_is_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
