"""scripts/smoke.sh, the post-deploy check of docs/deploying.md, against the local stack's URL: it
passes with a fresh cell's credentials, and fails (exit 1, naming the call) when a credential is
wrong."""

import subprocess

import pytest

from bulk_import.domain.credentials import ApiPermission
from bulk_import.logic.admin import create_api_credential, create_cell_token
from bulk_import_cli import demo
from tests.support.stack import ROOT

SCRIPT = ROOT / "scripts/smoke.sh"


@pytest.fixture(scope="module")
def credentials(local_stack):
    """What an operator issues on a new stack (docs/deploying.md, "First credentials"), for a new cell."""
    personium = create_cell_token(local_stack.store, "smokecell", root=True).access_token
    api = create_api_credential(local_stack.store, "smokecell", [ApiPermission.READ]).token
    return ["smokecell", personium, demo.ROCKETCHAT_USER_ID, demo.ROCKETCHAT_AUTH_TOKEN, api]


def smoke(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *arguments], capture_output=True, text=True, timeout=120)


def test_smoke_script_passes_against_a_working_stack(local_stack, credentials):
    result = smoke(local_stack.api_url + "/", *credentials)  # a trailing slash as pasted from an output
    assert result.returncode == 0, result.stdout + result.stderr
    assert [line.split(":")[0] for line in result.stdout.splitlines()[:4]] == [
        "ok    personium",
        "ok    rocketchat",
        "ok    native",
        "ok    openapi",
    ]


def test_smoke_script_fails_naming_the_call_whose_credential_is_wrong(local_stack, credentials):
    cell, personium, user, _, api = credentials
    result = smoke(local_stack.api_url, cell, personium, user, "not-the-token", api)
    assert result.returncode == 1
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 1 and failed[0].startswith("FAIL  rocketchat: GET /api/v1/getLatestImportOperations -> 401")


def test_smoke_script_explains_its_usage():
    result = smoke("https://example.com")
    assert result.returncode == 2 and result.stderr.startswith("usage: scripts/smoke.sh URL CELL")
