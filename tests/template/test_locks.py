"""The pins agree: requirements-dev.txt (the development lock `make` installs) holds what
pyproject.toml asks for, the layer ships what the tests run, and the layer's direct dependencies
are the runtime dependencies of pyproject.toml. `make lock` regenerates both generated files."""

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.stack import ROOT

LAYER = ROOT / "layers" / "bulk_import"


def pins(path) -> dict[str, str]:
    """name -> version of a pip-compile output, each with its hashes."""
    text = path.read_text()
    entries = re.findall(
        r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\\n((?:    --hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", text, re.MULTILINE
    )
    assert len(entries) == len(re.findall(r"^[A-Za-z0-9]", text, re.MULTILINE)), f"{path}: a pin without hashes"
    return {canonicalize_name(name): version for name, version, _ in entries}


def requirements_in(path) -> list[Requirement]:
    return [Requirement(line) for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_the_lock_holds_what_pyproject_asks_for():
    locked = pins(ROOT / "requirements-dev.txt")
    extras = project()["optional-dependencies"].values()
    wanted = [Requirement(line) for line in project()["dependencies"] + [line for extra in extras for line in extra]]
    unmet = [
        str(requirement)
        for requirement in wanted
        if not requirement.specifier.contains(locked.get(canonicalize_name(requirement.name), "0"), prereleases=True)
    ]
    assert unmet == [], "run `make lock`"


def test_the_layer_ships_what_the_tests_run():
    locked, shipped = pins(ROOT / "requirements-dev.txt"), pins(LAYER / "requirements.txt")
    assert {name: (version, locked.get(name)) for name, version in shipped.items() if locked.get(name) != version} == {}
    assert {"aws-lambda-powertools", "aws-xray-sdk", "pydantic", "pydantic-core", "boto3", "botocore"} <= set(shipped)


def test_the_layer_pins_the_runtime_dependencies_of_pyproject():
    runtime = {canonicalize_name(r.name): r for r in map(Requirement, project()["dependencies"])}
    for requirement in requirements_in(LAYER / "requirements.in"):
        assert str(runtime[canonicalize_name(requirement.name)]) == str(requirement)
