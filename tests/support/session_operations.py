"""What the layer's clients reached for over a whole test session (tests/conftest.py records it),
checked against the layer's trimmed botocore data once every test has run: a library's call that the
data hides may fail nowhere visible. Under pytest-xdist, each worker records its own tests' calls and
the controller checks them together."""

from __future__ import annotations

from collections.abc import Set
from pathlib import Path

from bulk_import_local import botocore_data
from tests.support.stack import ROOT

#: Made by the layer's clients in any run of the whole suite.
KNOWN = frozenset({("dynamodb", "PutItem"), ("s3", "GetObject")})


def whole_suite(config) -> bool:
    """Whether the session runs every test, as `make test` and CI do: the tests folder, nothing narrower."""
    paths = {Path(config.invocation_params.dir, argument).resolve() for argument in config.args}
    # (--lf is the cache plugin's, absent under -p no:cacheprovider)
    narrowed = any(getattr(config.option, name, None) for name in ("keyword", "markexpr", "deselect", "lf"))
    return paths == {ROOT / "tests"} and not narrowed


def problems(seen: Set[tuple[str, str]], whole: bool) -> list[str]:
    """Why the session's recording fails the check: the data lacks an operation the clients reached
    for, or (in a run of the whole suite) the recording missed calls every such run makes."""
    found = []
    if whole and not seen >= KNOWN:
        found.append(f"the recording missed the suite's calls {sorted(KNOWN - seen)}: the check proves nothing")
    if unlisted := botocore_data.not_listed(seen):
        found.append(
            f"the layer's clients reached for {unlisted}, which its botocore data lacks: add them to OPERATIONS"
            " (local/bulk_import_local/botocore_data.py), then run `.venv/bin/bulk-import botocore-data`"
        )
    return found
