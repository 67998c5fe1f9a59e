"""The bulk-import CLI: against a running local stack (JSON on stdout, usable credentials), `serve` as a
user meets it (a dead stack's file, one line per request, a log file per function), and as a program
(--version, exit codes 0/1/2, one line and no traceback for an AWS error, global options anywhere)."""

import dataclasses
import importlib.metadata
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from bulk_import_cli.main import main
from bulk_import_cli.stack_state import StackInfo
from tests.support.stack import FUNCTIONS, ROOT

BULK_IMPORT = str(Path(sys.executable).with_name("bulk-import"))


@pytest.fixture
def cli(local_stack, tmp_path, monkeypatch, capsys):
    """Runs `bulk-import ARGS` in-process against the package's local stack; returns (code, stdout)."""
    monkeypatch.setenv("BULK_IMPORT_STATE_FILE", str(tmp_path / "stack.json"))
    StackInfo.of(local_stack).save()

    def run(*args: str) -> tuple[int, str]:
        code = main(list(args))
        return code, capsys.readouterr().out

    return run


def test_token_create_for_a_new_cell_gives_a_working_root_token(cli, local_stack):
    code, out = cli("token", "create", "--cell", "brandnew", "--root")
    issued = json.loads(out)
    assert code == 0 and issued["token_type"] == "Bearer" and issued["root"] is True
    response = requests.get(
        f"{local_stack.api_url}/brandnew/__import",
        headers={"Authorization": f"Bearer {issued['access_token']}"},
        timeout=10,
    )
    assert (response.status_code, response.json()) == (200, {"status": "ready"})


def test_token_create_without_root_is_refused_by_the_status_api(cli, local_stack):
    _, out = cli("token", "create", "--cell", "brandnew2")
    token = json.loads(out)["access_token"]
    response = requests.get(
        f"{local_stack.api_url}/brandnew2/__import", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert (response.status_code, response.json()["code"]) == (403, "PR403-AU-0002")


def test_token_create_for_a_rocketchat_user(cli, local_stack):
    code, out = cli("token", "create", "--user", "uXyZ0123456789abc", "--permission", "run-import")
    issued = json.loads(out)
    assert code == 0 and issued["userId"] == "uXyZ0123456789abc" and len(issued["authToken"]) == 43
    response = requests.get(
        f"{local_stack.api_url}/api/v1/import.status",
        timeout=10,
        headers={"X-User-Id": issued["userId"], "X-Auth-Token": issued["authToken"]},
    )
    assert response.status_code == 200


def test_invoke_prints_only_the_handler_result(cli):
    code, out = cli(
        "invoke", "PersoniumStatusFunction", "-e", str(ROOT / "events/PersoniumStatusFunction/status-in-progress.json")
    )
    result = json.loads(out)
    assert code == 0 and result["statusCode"] == 200
    assert json.loads(result["body"])["status"] == "importation in progress"


@pytest.mark.parametrize(
    "args",
    [
        ("token", "create", "--cell", "c", "--user", "u"),
        ("token", "create", "--user", "u"),
        ("invoke", "NoSuchFunction", "-e", str(ROOT / "events/PersoniumStatusFunction/status-in-progress.json")),
    ],
)
def test_bad_usage_exits_2_with_a_message(cli, capsys, args):
    assert cli(*args)[0] == 2


def test_without_a_local_stack_or_a_stack_name_the_cli_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BULK_IMPORT_STATE_FILE", str(tmp_path / "absent.json"))
    monkeypatch.delenv("BULK_IMPORT_STACK", raising=False)
    assert main(["token", "create", "--cell", "c", "--root"]) == 2
    assert "bulk-import serve" in capsys.readouterr().err


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def closed_port() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


def stale_state(path: Path, pid: int | None, port: int) -> StackInfo:
    """The state file a stack killed under its terminal left behind (pid None: a file of before pids)."""
    info = StackInfo(
        endpoint=f"http://127.0.0.1:{port}",
        api_url=f"http://127.0.0.1:{port}",
        region="us-east-1",
        parameters={},
        pid=pid,
    )
    saved = dataclasses.asdict(info)
    if pid is None:
        del saved["pid"]
    path.write_text(json.dumps(saved))
    return info


def saved_pid(state: Path) -> int | None:
    try:
        return json.loads(state.read_text())["pid"]
    except (OSError, ValueError):  # not there, or being written
        return None


def wait_for(condition, process: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_serve_starts_over_a_dead_stacks_file_shows_one_line_per_request_and_logs_per_function(tmp_path):
    """`make run` as a user meets it: a file left by a stack whose terminal was closed, requests during
    the demo import, and the terminal closed (SIGHUP) before the import ends."""
    state = tmp_path / "serve.json"
    stale_state(state, dead_pid(), closed_port())  # its terminal was closed: the file stayed
    # As from a shell: none of the functions' configuration is set before the stack sets it.
    inherited = {
        name: value
        for name, value in os.environ.items()
        if name not in FUNCTIONS.environment() and not name.startswith(("AWS_", "POWERTOOLS_"))
    }
    env = inherited | {"BULK_IMPORT_STATE_FILE": str(state)}
    process = subprocess.Popen(
        [BULK_IMPORT, "serve", "--port", "0", "--demo-users", "20000"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: saved_pid(state) == process.pid, process)
        api_url = json.loads(state.read_text())["api_url"]
        response = requests.get(
            f"{api_url}/api/v1/import.status",
            timeout=10,
            headers={"X-User-Id": "aobEdbYhXfu5hkeqG", "X-Auth-Token": "9HqLlyZOugoStsXCUfD_0YdwnNnunAJF8V47U3QHXSq"},
        )
        assert response.status_code == 200 and response.json()["success"] is True
        personium = requests.get(
            f"{api_url}/demo/__import",
            timeout=10,
            headers={"Authorization": "Bearer DemoRootToken-local-only-000000000000000000"},
        )
        native = requests.get(
            f"{api_url}/v1/cells/demo/imports",
            timeout=10,
            headers={"Authorization": "Bearer bi_DemoApiToken-local-only-000000000000000000"},
        )
        assert (personium.status_code, native.status_code) == (200, 200), (personium.text, native.text)
        assert requests.get(f"{api_url}/no/such/route", timeout=10).status_code == 403

        # A second stack in the same place is refused while this one runs.
        second = subprocess.run(
            [BULK_IMPORT, "serve", "--port", "0"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert second.returncode == 1, second.stderr
        assert "another local stack runs here" in second.stderr and "Traceback" not in second.stderr
    finally:
        process.send_signal(signal.SIGHUP)  # its terminal closed
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert not state.exists()
    assert f"removed {state}" in err  # the dead stack's file
    assert "Demo: importing 20,000 generated users" in out and "Demo import" not in out  # stopped during it
    progress = [line for line in out.splitlines() if line.startswith("demo-20000-users ")]
    assert progress and all(
        re.fullmatch(r"demo-20000-users \w+ +\d+% [\d,]+/[\d,]+ .* ETA .+", line) for line in progress
    ), progress
    assert "curl" in out and api_url in out and "serve/logs/<Function>.log" in out
    # The terminal: the banner and one line per request; none of the functions' JSON.
    request_line = re.compile(r"\d\d:\d\d:\d\d [A-Z]+ /\S* \d{3} \d+ms")
    requests_shown = [line for line in out.splitlines() if request_line.fullmatch(line)]
    assert [line.split(" ", 1)[1].rsplit(" ", 1)[0] for line in requests_shown] == [
        "GET /api/v1/import.status 200",
        "GET /demo/__import 200",
        "GET /v1/cells/demo/imports 200",
        "GET /no/such/route 403",
    ]
    assert not [line for line in out.splitlines() if line.startswith("{")]
    # The functions' output: each in its own file (Powertools log lines and EMF metrics, JSON each).
    logs = tmp_path / "serve" / "logs"
    personium_log = [json.loads(line) for line in (logs / "PersoniumStatusFunction.log").read_text().splitlines()]
    assert any(entry.get("function_name", "").endswith("PersoniumStatusFunction") for entry in personium_log)
    assert any("_aws" in entry for entry in personium_log)  # its StatusRead metric
    native_log = (logs / "NativeReadFunction.log").read_text()
    assert "PersoniumStatusFunction" not in native_log and "RocketChatStatusFunction" not in native_log
    assert (logs / "local-stack.log").exists()


def test_a_dead_stacks_file_is_not_a_running_stack(tmp_path, monkeypatch):
    monkeypatch.setenv("BULK_IMPORT_STATE_FILE", str(tmp_path / "stack.json"))
    with socket.socket() as listener:  # a live API port
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert stale_state(tmp_path / "stack.json", os.getpid(), port).alive()
        assert StackInfo.running() is not None
        assert not stale_state(tmp_path / "stack.json", dead_pid(), port).alive()  # its process is gone
        assert stale_state(tmp_path / "stack.json", None, port).alive()  # a file of before pids: the port tells
    assert not stale_state(tmp_path / "stack.json", os.getpid(), port).alive()  # its port is closed
    assert StackInfo.running() is None and StackInfo.load() is not None


def test_serve_refuses_to_start_where_a_stack_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BULK_IMPORT_STATE_FILE", str(tmp_path / "stack.json"))
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        stale_state(tmp_path / "stack.json", os.getpid(), listener.getsockname()[1])
        assert main(["serve", "--port", "0"]) == 1
    assert f"{tmp_path / 'stack.json'} exists: another local stack runs here" in capsys.readouterr().err
    assert (tmp_path / "stack.json").exists()


def test_demo_seed_stores_what_the_console_events_need(cli, local_stack):
    from bulk_import.dal.s3 import default_files, snapshot_key
    from bulk_import_cli.demo import OTHER_CELL, SAMPLE_SNAPSHOT

    code, out = cli("demo", "seed")
    assert code == 0 and json.loads(out)["seeded"] is True
    assert default_files().etag(snapshot_key(OTHER_CELL, SAMPLE_SNAPSHOT)) is not None


# -- the CLI as a program: version, exit codes, errors, global options -----------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`bulk-import ARGS` as a shell runs it, with no local stack here."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "BULK_IMPORT_", "POWERTOOLS_"))
    }
    return subprocess.run(
        [BULK_IMPORT, *args],
        env=inherited | {"BULK_IMPORT_STATE_FILE": "/nonexistent/s.json"} | (env or {}),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("override", ["NoSuchParameter=1", "SsrfAllowlist", "=1"])
def test_serve_refuses_a_parameter_override_that_names_no_parameter(override, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BULK_IMPORT_STATE_FILE", str(tmp_path / "absent.json"))
    assert main(["serve", "--port", "0", "--parameter-overrides", override]) == 2
    assert "Traceback" not in capsys.readouterr().err and not (tmp_path / "absent.json").exists()


def test_a_parameter_override_reaches_the_functions_environment():
    from bulk_import_local.local_stack import LocalStack

    stack = LocalStack(ROOT / "template.yaml", parameter_overrides={"SsrfAllowlist": "127.0.0.1, files.corp"})
    assert stack.host.environment()["SSRF_ALLOWLIST"] == "127.0.0.1, files.corp"
    assert stack.template.parameters["BatchConcurrency"] == "4"  # the local stack's own stay


def test_version_is_the_installed_packages():
    result = run_cli("--version")
    assert (result.returncode, result.stdout) == (0, f"bulk-import {importlib.metadata.version('bulk-import')}\n")


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("imports",),
        ("imports", "list"),
        ("imports", "show", "--output", "xml"),
        ("nosuch",),
        ("token", "create", "--cell", "c", "--user", "u"),
    ],
)
def test_usage_errors_exit_2(args, capsys):
    assert main(list(args)) == 2
    assert "Traceback" not in capsys.readouterr().err


@pytest.fixture(scope="module")
def cloudformation():
    """An endpoint that answers every CloudFormation call as AWS answers DescribeStacks of a stack that
    does not exist (moto would load its EC2 backend for CloudFormation: test_local_stack.py forbids it)."""
    body = (
        b'<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type>'
        b"<Code>ValidationError</Code><Message>Stack with id nope does not exist</Message></Error>"
        b"<RequestId>0</RequestId></ErrorResponse>"
    )

    class NoSuchStack(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(400)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NoSuchStack)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "env, expected",
    [
        # A stack that does not exist: CloudFormation refuses with a ClientError.
        ({}, "bulk-import: AWS refused DescribeStacks: ValidationError: Stack with id nope does not exist"),
        # No AWS credentials anywhere.
        (
            {
                "AWS_ACCESS_KEY_ID": None,
                "AWS_SECRET_ACCESS_KEY": None,
                "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                "AWS_CONFIG_FILE": "/nonexistent",
                "AWS_EC2_METADATA_DISABLED": "true",
            },
            "bulk-import: Unable to locate credentials: configure AWS credentials",
        ),
        # An endpoint nothing listens on.
        ({"AWS_ENDPOINT_URL": "closed"}, "bulk-import: Could not connect to the endpoint URL"),
    ],
    ids=["no-such-stack", "no-credentials", "no-endpoint"],
)
def test_aws_errors_exit_1_with_one_line_and_no_traceback(cloudformation, env, expected):
    settings = {"AWS_ENDPOINT_URL": cloudformation, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"} | env
    if settings["AWS_ENDPOINT_URL"] == "closed":
        settings["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{closed_port()}"
    for command in (("token", "create", "--cell", "c", "--root"), ("imports", "list", "--cell", "c")):
        # The global options after the subcommand, as before it.
        result = run_cli(
            *command,
            "--stack-name",
            "nope",
            "--region",
            "us-east-1",
            env={name: value for name, value in settings.items() if value is not None},
        )
        assert result.returncode == 1, (command, result.stderr)
        assert result.stderr.startswith(expected) and result.stderr.count("\n") == 1, result.stderr
        assert "Traceback" not in result.stderr and result.stdout == ""


def test_global_options_after_the_subcommand_and_from_the_environment(cli, monkeypatch, capsys):
    monkeypatch.setenv("AWS_DEFAULT_REGION", os.environ["AWS_DEFAULT_REGION"])  # restored after the test
    monkeypatch.setenv("COLUMNS", "200")
    code, out = cli("token", "create", "--cell", "globals", "--root", "--output", "table", "--region", "us-east-1")
    assert code == 0 and "│ token_type" in out and "│ Bearer" in out
    monkeypatch.setenv("BULK_IMPORT_OUTPUT", "table")
    code, out = cli("demo", "seed")
    assert code == 0 and "│ seeded" in out
    code, out = cli("--output", "json", "demo", "seed")  # the option wins over the variable
    assert code == 0 and json.loads(out)["seeded"] is True


def test_without_the_local_stacks_packages_the_other_commands_still_run():
    """An install without the [local] extra (no moto, no PyYAML): `serve` says what to install."""
    script = (
        "import sys; sys.modules['moto'] = sys.modules['yaml'] = None\n"
        "from bulk_import_cli.main import main\n"
        "sys.exit(main(sys.argv[1:]))"
    )
    version = run_python(script, "--version")
    assert (version.returncode, version.stdout) == (0, f"bulk-import {importlib.metadata.version('bulk-import')}\n")
    unreachable = run_python(
        script, "imports", "list", "--cell", "c", "--api-url", f"http://127.0.0.1:{closed_port()}", "--token", "t"
    )
    assert (unreachable.returncode, unreachable.stderr.split(": ", 1)[0]) == (1, "bulk-import")
    assert "Connection refused" in unreachable.stderr
    serve = run_python(script, "serve")
    assert serve.returncode == 1 and "pip install 'bulk-import[local]'" in serve.stderr
    assert "Traceback" not in version.stderr + unreachable.stderr + serve.stderr


def test_outside_the_project_the_cli_reads_none_of_its_files(tmp_path):
    """Installed (`pip install .`), the CLI finds what it runs where `sam` does, in the current
    directory, never beside its own modules."""
    sources = (ROOT / "cli/bulk_import_cli").glob("*.py")
    assert [path.name for path in sources if "__file__" in path.read_text()] == []
    main = "import sys\nfrom bulk_import_cli.main import main\nsys.exit(main(sys.argv[1:]))"
    for command in (["serve", "--port", "0"], ["openapi", "--check"]):
        elsewhere = run_python(main, *command, cwd=tmp_path)
        assert (elsewhere.returncode, elsewhere.stderr) == (
            2,
            "bulk-import: template.yaml: no such template (run this in the project's directory, or pass --template)\n",
        )
    assert (
        run_python(main, "openapi", "--check", "--template", str(ROOT / "template.yaml"), cwd=tmp_path).returncode == 0
    )


def run_python(script: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "BULK_IMPORT_"))}
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        env=env | {"BULK_IMPORT_STATE_FILE": "/nonexistent/s"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
