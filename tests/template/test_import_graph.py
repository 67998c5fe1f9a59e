"""No two modules import each other, even through others, and the packages depend one way: the CLI
on the local stack and the layer, the local stack on the layer only, the layer on neither
(docs/architecture.md, "Two walks down the layers"). Inside the layer, its rooms depend one way too:
api on logic, logic on dal, dal on domain, and only dal and api speak to AWS or HTTP.

Every import counts, those inside functions too (a lazy import is still a dependency). A module
that imports `package.module` depends on that module, not on the package's __init__.

The tests share helpers through tests/support (and the fault matrix, a program the tests run, through
tests/faults), never by importing a test module or a conftest.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.stack import ROOT

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


#: The layer's rooms, by floor: a module imports modules of its own room or of a lower floor only.
FLOORS = {
    "domain": 0,  # the operation, records, credentials, errors, events: no AWS, no HTTP
    "readers": 1,  # the import files' readers
    "settings": 1,
    "concurrency": 1,
    "observability": 1,
    "dal": 2,  # DynamoDB, S3, Step Functions, EventBridge
    "logic": 3,  # what the service does: imports, uploads, status reads, the worker's tasks
    "api": 4,  # the dialects' HTTP sides
}
#: Third-party packages only some rooms may import.
CONFINED = {
    "boto3": {"dal"},
    "botocore": {"dal"},
    "urllib3": {"dal"},  # the public URLs an admin gives (dal/public_urls.py)
    "aws_lambda_powertools.event_handler": {"api"},
}


def room_of(module: str) -> str:
    return module.split(".")[1]


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
    assert graph["bulk_import.logic.status_reads"] >= {
        "bulk_import.dal.dynamodb",
        "bulk_import.domain.credentials",
    }  # the graph is real
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


def test_the_layers_rooms_depend_downwards_only():
    modules = module_names()
    layer = {name: path for name, path in modules.items() if name.startswith("bulk_import.")}
    assert {room_of(name) for name in layer} == set(FLOORS)  # every room has a floor
    upward = {
        (name, target)
        for name, path in layer.items()
        for target in imports_of(name, path, modules)
        if room_of(target) != room_of(name) and FLOORS[room_of(target)] >= FLOORS[room_of(name)]
    }
    assert upward == set()
    imports = "bulk_import.logic.imports.launch"
    assert any(
        room_of(target) == "dal" for target in imports_of(imports, layer[imports], modules)
    )  # the check sees rooms


def third_party_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module)
    return found


def test_only_dal_speaks_to_aws_and_only_api_to_http():
    modules = module_names()
    misplaced = {
        (name, imported)
        for name, path in modules.items()
        if name.startswith("bulk_import.")
        for imported in third_party_imports(path)
        for package, rooms in CONFINED.items()
        if (imported == package or imported.startswith(package + ".")) and room_of(name) not in rooms
    }
    assert misplaced == set()
    assert "boto3" in third_party_imports(modules["bulk_import.dal.aws_clients"])  # the check sees imports


def test_a_cycle_is_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


#: The packages under tests/ that other modules may import.
SHARED_TEST_PACKAGES = ("tests.support", "tests.faults")


def imported_names(path: Path, package: str) -> set[str]:
    """Every module name `path` imports, relative imports resolved against `package`; a `from a
    import b` counts as both `a` and `a.b` (b may be a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return found


def shared(name: str) -> bool:
    """Whether a module of tests/ is one that others may import."""
    return name == "tests" or any(name == package or name.startswith(package + ".") for package in SHARED_TEST_PACKAGES)


def test_no_module_imports_a_test_module_or_a_conftest():
    imports = {}
    for path in sorted([*(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        imports[module] = {name for name in imported_names(path, package) if name.partition(".")[0] == "tests"}
    assert {(module, name) for module, names in imports.items() for name in names if not shared(name)} == set()
    assert "tests.support.stack" in imports["tests.conftest"]  # the check sees imports of tests/


def test_a_test_module_or_conftest_imported_in_any_form_is_seen(tmp_path):
    assert shared("tests.support.worker") and shared("tests.faults.matrix")
    assert not shared("tests.conftest") and not shared("tests.integration.test_worker")
    assert not shared("tests.supporting")
    module = tmp_path / "test_a.py"
    module.write_text(
        "from .test_worker import CELL\nfrom .. import conftest\n\ndef f():\n    import tests.local.test_cli\n"
    )
    names = imported_names(module, "tests.integration")
    assert {"tests.integration.test_worker", "tests.conftest", "tests.local.test_cli"} <= names
