"""`pip install .` brings everything the CLI imports: each third-party module that the CLI and the
layer it runs import (lazy imports too) comes with a distribution that pyproject.toml's
[project] dependencies bring, directly or through theirs; the local stack's come with those plus
the [local] extra. Without this, `bulk-import --help` worked in .venv, where the dev extra brings
everything, and failed on a user's install (`requests` came only through moto and aws-sam-cli).

.ci/run installs the package the same way a user does (a fresh venv, no extras) and runs
`bulk-import --help` outside the checkout; this is the quick form of that check, read from the
metadata of what .venv has installed.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = {"bulk_import", "bulk_import_cli", "bulk_import_local"}
#: What a plain `pip install .` must cover: the CLI and the layer's package it imports.
INSTALLED_BARE = (ROOT / "cli/bulk_import_cli", ROOT / "layers/bulk_import/bulk_import")
#: The local stack: `pip install '.[local]'`.
INSTALLED_WITH_LOCAL = (ROOT / "local/bulk_import_local",)


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def distributions_brought_by(requirements: list[str]) -> set[str]:
    """The distributions that installing `requirements` installs: each, and what each requires (for
    the extras asked of it), by the metadata of the distributions installed here."""
    extras_of: dict[str, set[str]] = {}
    pending = [Requirement(line) for line in requirements]
    while pending:
        requirement = pending.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        if name in extras_of and set(requirement.extras) <= extras_of[name]:
            continue
        extras = extras_of.setdefault(name, set())
        extras |= set(requirement.extras)
        for line in metadata.requires(name) or []:
            dependency = Requirement(line)
            marker = dependency.marker
            if marker is None or any(marker.evaluate({"extra": extra}) for extra in extras or {""}):
                pending.append(Requirement(str(dependency).split(";")[0]))  # its marker is settled
    return set(extras_of)


def third_party_imports(directory: Path) -> dict[str, set[str]]:
    """Top-level module -> the files under `directory` that import it, anywhere in them (a lazy
    import inside a function counts: the command that runs it fails all the same), except under
    `if TYPE_CHECKING:`."""
    imports: dict[str, set[str]] = {}
    for path in sorted(directory.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        type_only = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
            for statement in node.body
            for inner in ast.walk(statement)
        }
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in FIRST_PARTY:
                    imports.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return imports


def unbrought(directories: tuple[Path, ...], brought: set[str]) -> list[str]:
    """The imports under `directories` that no distribution in `brought` provides."""
    providers = metadata.packages_distributions()
    missing = []
    for directory in directories:
        for module, files in sorted(third_party_imports(directory).items()):
            if not {canonicalize_name(d) for d in providers.get(module, [])} & brought:
                missing.append(f"{module} (imported by {', '.join(sorted(files))})")
    return missing


def test_a_plain_install_brings_everything_the_cli_imports():
    brought = distributions_brought_by(project()["dependencies"])
    assert unbrought(INSTALLED_BARE, brought) == [], "declare it in pyproject.toml's [project] dependencies"


def test_the_local_extra_brings_everything_the_local_stack_imports():
    brought = distributions_brought_by(project()["dependencies"] + project()["optional-dependencies"]["local"])
    assert unbrought(INSTALLED_WITH_LOCAL, brought) == [], "declare it in pyproject.toml's [local] extra"


def test_the_check_sees_an_import_that_only_the_dev_extra_brings():
    """The check itself: without `requests` declared (as before issue 21), the CLI's import of it is
    found, though moto and aws-sam-cli bring it into .venv."""
    declared = [line for line in project()["dependencies"] if canonicalize_name(Requirement(line).name) != "requests"]
    assert "requests" in distributions_brought_by(project()["optional-dependencies"]["dev"])
    missing = unbrought(INSTALLED_BARE, distributions_brought_by(declared))
    assert [line.split(" ")[0] for line in missing] == ["requests"]
    assert "cli/bulk_import_cli/main.py" in missing[0]
