"""The code that ships (layers/ and functions/), the CLI, the local stack, the tests and the
benchmarks pass the checks pyproject.toml configures: ruff's lint rules and ruff's format; mypy on
what ships. `make lint` runs the same three; `make format` fixes what ruff can. mypy keeps its cache
in .mypy_cache, so a second run takes about a second."""

import subprocess
import sys

import pytest

from tests.support.stack import ROOT

LINTED = ("layers", "functions", "cli", "local", "tests", "bench")
CHECKS = {
    "ruff check": ["ruff", "check", "--no-fix", *LINTED],
    "ruff format": ["ruff", "format", "--check", *LINTED],
    "mypy": ["mypy"],  # the files in [tool.mypy]
}


@pytest.mark.parametrize("check", CHECKS)
def test_the_shipped_code_passes(check):
    run = subprocess.run([sys.executable, "-m", *CHECKS[check]], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"{check}:\n{run.stdout}{run.stderr}"
