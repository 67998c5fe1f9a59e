"""The stack the end-to-end suite talks to, and the credentials its clients send, issued the way an
operator issues them: `bulk-import token create` (docs/deploying.md, "First credentials").

- Neither BASE_URL nor E2E_STACK set (`make test`, `make e2e`): a local stack started for the session,
  `bulk-import serve` on free ports, stopped at its end.
- E2E_STACK=NAME (`make e2e STACK=NAME`): the deployed stack NAME, with your AWS credentials
  (AWS_PROFILE, AWS_REGION): the URL is its ApiUrl output unless BASE_URL is set (its custom
  domain, say), the credentials are issued into its table with `--stack-name NAME`.
- BASE_URL alone: that URL, with credentials issued by the CLI into the stack it finds from the
  repository's root: `make run`'s local stack, else $BULK_IMPORT_STACK's.

Every run imports into cells of its own (e2e-<time>-<random>-...); the Rocket.Chat routes import
into the stack's one Rocket.Chat cell (RocketChatCell), as user `bulk-import-e2e`, whose token each
run replaces. So the suite writes: run it against the local stack or a dev stack, not prod (there,
scripts/smoke.sh makes read-only calls only).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple, dataclass

import pytest

from tests.support.e2e import Http, ServedStack, Target, deployed_api_url, run_id

#: The Rocket.Chat user the suite imports as (a run issues it a new token, which replaces the last).
ROCKETCHAT_USER = "bulk-import-e2e"
ROCKETCHAT_PERMISSIONS = ("--permission", "run-import", "--permission", "view-import-operations")


@pytest.fixture(scope="session")
def target(tmp_path_factory) -> Iterator[Target]:
    base_url = os.environ.get("BASE_URL", "").rstrip("/")
    stack_name = os.environ.get("E2E_STACK", "")
    if stack_name:
        if not base_url:
            try:
                base_url = deployed_api_url(stack_name).rstrip("/")
            except Exception as exc:  # no credentials, no region, no such stack: nothing to test
                pytest.exit(f"E2E_STACK={stack_name}: cannot read the stack's ApiUrl output: {exc}", returncode=1)
        yield Target(base_url, ("--stack-name", stack_name))
    elif base_url:
        yield Target(base_url)
    else:
        with ServedStack(tmp_path_factory.mktemp("served-stack")) as served:
            yield Target(served.api_url, cli_extra_environment=served.environment)


@pytest.fixture(scope="session")
def run() -> str:
    return run_id()


@pytest.fixture(scope="session")
def api_url(target) -> str:
    return target.api_url


@dataclass(frozen=True)
class Cells:
    """The cells this run imports into: Personium's, and one for /v1 and the CLI. A cell runs one
    import at a time, and each test waits for its imports to end, so the tests of one cell follow
    each other (a cell more would cost a credential more: a CLI command, a second or so)."""

    personium: str
    native: str


@pytest.fixture(scope="session")
def cells(run) -> Cells:
    return Cells(f"{run}-personium", f"{run}-v1")


@pytest.fixture(scope="session")
def credentials(target, cells) -> dict[tuple[str, str], dict]:
    """Every credential the suite sends, as `bulk-import token create` prints it, by (kind, cell): a
    Personium root token, /v1 credentials (imports:read and imports:write), the Rocket.Chat user's.
    Issued at once, each command in a process of its own (a CLI command is a second of start-up)."""
    commands = {
        ("personium", cells.personium): ("--cell", cells.personium, "--root"),
        **{("api", cell): ("--api", "--cell", cell, "--name", "e2e") for cell in astuple(cells)},
        ("rocketchat", ""): ("--user", ROCKETCHAT_USER, *ROCKETCHAT_PERMISSIONS),
    }
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        issued = pool.map(lambda arguments: target.cli_json("token", "create", *arguments), commands.values())
        return dict(zip(commands, issued, strict=True))


@pytest.fixture(scope="session")
def personium_for(api_url, credentials) -> Callable[[str], Http]:
    """A Personium client of `cell`: paths under /{cell}, its root token as bearer."""

    def client(cell: str) -> Http:
        return Http(f"{api_url}/{cell}", {"Authorization": f"Bearer {credentials['personium', cell]['access_token']}"})

    return client


@pytest.fixture(scope="session")
def native_for(api_url, credentials) -> Callable[[str], Http]:
    """A /v1 client of `cell`: paths under /v1/cells/{cell}, its credential as bearer."""

    def client(cell: str) -> Http:
        return Http(f"{api_url}/v1/cells/{cell}", {"Authorization": f"Bearer {credentials['api', cell]['token']}"})

    return client


@pytest.fixture(scope="session")
def rocketchat(api_url, credentials) -> Http:
    """A Rocket.Chat client (paths under /api/v1) of a user who may run imports and view them."""
    issued = credentials["rocketchat", ""]
    return Http(f"{api_url}/api/v1", {"X-User-Id": issued["userId"], "X-Auth-Token": issued["authToken"]})
