"""The bulk-import CLI against a running local stack: JSON on stdout, usable credentials."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from bulk_import_cli.main import main
from tests.conftest import FUNCTIONS, ROOT


@pytest.fixture
def cli(local_stack, tmp_path, monkeypatch, capsys):
    """Runs `bulk-import ARGS` in-process against the package's local stack; returns (code, stdout)."""
    monkeypatch.setenv("BULK_IMPORT_STATE_FILE", str(tmp_path / "stack.json"))
    local_stack.info.save()

    def run(*args: str) -> tuple[int, str]:
        code = main(list(args))
        return code, capsys.readouterr().out

    return run


def test_token_create_for_a_new_cell_gives_a_working_root_token(cli, local_stack):
    code, out = cli("token", "create", "--cell", "brandnew", "--root")
    issued = json.loads(out)
    assert code == 0 and issued["token_type"] == "Bearer" and issued["root"] is True
    response = requests.get(f"{local_stack.api_url}/brandnew/__import",
                            headers={"Authorization": f"Bearer {issued['access_token']}"}, timeout=10)
    assert (response.status_code, response.json()) == (200, {"status": "ready"})


def test_token_create_without_root_is_refused_by_the_status_api(cli, local_stack):
    _, out = cli("token", "create", "--cell", "brandnew2")
    token = json.loads(out)["access_token"]
    response = requests.get(f"{local_stack.api_url}/brandnew2/__import",
                            headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert (response.status_code, response.json()["code"]) == (403, "PR403-AU-0002")


def test_token_create_for_a_rocketchat_user(cli, local_stack):
    code, out = cli("token", "create", "--user", "uXyZ0123456789abc", "--permission", "run-import")
    issued = json.loads(out)
    assert code == 0 and issued["userId"] == "uXyZ0123456789abc" and len(issued["authToken"]) == 43
    response = requests.get(f"{local_stack.api_url}/api/v1/import.status", timeout=10,
                            headers={"X-User-Id": issued["userId"], "X-Auth-Token": issued["authToken"]})
    assert response.status_code == 200


def test_invoke_prints_only_the_handler_result(cli):
    code, out = cli("invoke", "PersoniumStatusFunction", "-e",
                    str(ROOT / "events/PersoniumStatusFunction/status-in-progress.json"))
    result = json.loads(out)
    assert code == 0 and result["statusCode"] == 200
    assert json.loads(result["body"])["status"] == "importation in progress"


@pytest.mark.parametrize("args", [
    ("token", "create", "--cell", "c", "--user", "u"),
    ("token", "create", "--user", "u"),
    ("invoke", "NoSuchFunction", "-e", str(ROOT / "events/PersoniumStatusFunction/status-in-progress.json")),
])
def test_bad_usage_exits_2_with_a_message(cli, capsys, args):
    assert cli(*args)[0] == 2


def test_without_a_local_stack_or_a_stack_name_the_cli_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BULK_IMPORT_STATE_FILE", str(tmp_path / "absent.json"))
    monkeypatch.delenv("BULK_IMPORT_STACK", raising=False)
    assert main(["token", "create", "--cell", "c", "--root"]) == 2
    assert "bulk-import serve" in capsys.readouterr().err


def test_serve_runs_the_stack_until_terminated(tmp_path):
    state = tmp_path / "serve.json"
    # As from a shell: none of the functions' configuration is set before the stack sets it.
    inherited = {name: value for name, value in os.environ.items()
                 if name not in FUNCTIONS.environment() and not name.startswith(("AWS_", "POWERTOOLS_"))}
    env = inherited | {"BULK_IMPORT_STATE_FILE": str(state)}
    process = subprocess.Popen([str(Path(sys.executable).with_name("bulk-import")), "serve", "--port", "0"],
                               env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not state.exists():
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
            time.sleep(0.2)
        api_url = json.loads(state.read_text())["api_url"]
        response = requests.get(f"{api_url}/api/v1/import.status", timeout=10, headers={
            "X-User-Id": "aobEdbYhXfu5hkeqG", "X-Auth-Token": "9HqLlyZOugoStsXCUfD_0YdwnNnunAJF8V47U3QHXSq"})
        assert response.json()["state"] == "ready"
        personium = requests.get(f"{api_url}/demo/__import", timeout=10,
                                 headers={"Authorization": "Bearer DemoRootToken-local-only-000000000000000000"})
        native = requests.get(f"{api_url}/v1/cells/demo/imports", timeout=10,
                              headers={"Authorization": "Bearer bi_DemoApiToken-local-only-000000000000000000"})
        assert (personium.status_code, native.status_code) == (200, 200), (personium.text, native.text)
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert not state.exists()
    assert "curl" in out and api_url in out


def test_demo_seed_stores_what_the_console_events_need(cli, local_stack):
    from bulk_import.files import default_files, snapshot_key
    from bulk_import_cli.demo import OTHER_CELL, SAMPLE_SNAPSHOT

    code, out = cli("demo", "seed")
    assert code == 0 and json.loads(out)["seeded"] is True
    assert default_files().etag(snapshot_key(OTHER_CELL, SAMPLE_SNAPSHOT)) is not None
