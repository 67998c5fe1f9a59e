"""`bulk-import imports` against a running local stack: the /v1 API's JSON for scripts, tables for
humans, problem documents on stderr with exit code 1.

The seeded demo operations are only read here (other tests rely on them); imports this module
changes are its own, on its own cells.
"""

import csv
import io
import json

import pytest
import requests
from rich.console import Console

from bulk_import.domain.credentials import ApiPermission
from bulk_import.logic.admin import create_api_credential
from bulk_import_cli import demo
from bulk_import_cli.imports_command import failed_records_table, imports_table
from bulk_import_cli.main import main
from bulk_import_cli.stack_state import StackInfo

RECORDS = [{"type": "user", "username": "u1", "emails": ["u1@example.com"]}, {"type": "user", "username": "bad"}]


@pytest.fixture
def cli(local_stack, tmp_path, monkeypatch, capsys):
    """Runs `bulk-import imports ARGS` in-process against the package's local stack; returns
    (code, stdout, stderr) of the command alone: the stack runs in this process too, so its
    handlers' log records (one JSON object a line on stdout) are dropped."""
    monkeypatch.setenv("BULK_IMPORT_STATE_FILE", str(tmp_path / "stack.json"))
    monkeypatch.delenv("BULK_IMPORT_TOKEN", raising=False)
    StackInfo.of(local_stack).save()

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["imports", *args])
        captured = capsys.readouterr()
        return code, without_lines_starting(captured.out, '{"'), without_lines_starting(captured.err, '"')

    return run


def without_lines_starting(text: str, prefix: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith(prefix))


def start_import(local_stack, cell: str) -> str:
    """Starts an import of one good and one bad user (no email) on `cell`; returns its id."""
    token = create_api_credential(local_stack.store, cell, [ApiPermission.READ, ApiPermission.WRITE]).token
    response = requests.post(
        f"{local_stack.api_url}/v1/cells/{cell}/imports",
        json={"records": RECORDS},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def watch_until_done(cli, cell: str, operation_id: str) -> dict:
    code, out, err = cli("watch", "--cell", cell, operation_id, "--interval", "0.2")
    final = json.loads(out)
    assert (code, final["state"]) == (0, "done")
    total = final["counts"]["total"]
    assert f"100% {total}/{total}" in err  # the progress bar's last state, on stderr
    return final


def test_list_prints_the_cells_imports_newest_first(cli):
    code, out, _ = cli("list", "--cell", demo.OTHER_CELL, "--all")
    items = json.loads(out)["items"]
    assert code == 0 and demo.DONE_OPERATION_ID in [item["id"] for item in items]
    assert [item["startedAt"] for item in items] == sorted((item["startedAt"] for item in items), reverse=True)


def test_show_prints_one_import(cli):
    code, out, _ = cli("show", "--cell", demo.DEMO_CELL, demo.ACTIVE_OPERATION_ID)
    view = json.loads(out)
    assert code == 0 and (view["id"], view["state"], view["percent"]) == (demo.ACTIVE_OPERATION_ID, "importing", 81)
    assert (view["counts"]["completed"], view["counts"]["error"], view["counts"]["total"]) == (800, 10, 1000)


def test_errors_lists_the_failed_records(cli):
    code, out, _ = cli("errors", "--cell", demo.OTHER_CELL, demo.DONE_OPERATION_ID)
    records = json.loads(out)["items"]
    assert code == 0 and [(r["record"], r["code"]) for r in records] == [
        ("user:1", "invalid-record"),
        ("user:4", "already-exists"),
    ]


def test_errors_as_csv_follows_the_redirect_to_stdout_or_a_file(cli, tmp_path):
    code, out, _ = cli("errors", "--cell", demo.OTHER_CELL, demo.DONE_OPERATION_ID, "--csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert code == 0 and rows[0] == ["record", "type", "source", "code", "message", "data"]
    assert [row[:4] for row in rows[1:]] == [
        ["user:1", "user", "users.jsonl:2", "invalid-record"],
        ["user:4", "user", "users.jsonl:5", "already-exists"],
    ]
    assert json.loads(rows[1][5]) == {"username": "carol", "emails": []}
    target = tmp_path / "errors.csv"
    code, out, _ = cli("errors", "--cell", demo.OTHER_CELL, demo.DONE_OPERATION_ID, "--csv", str(target))
    assert (code, out) == (0, "") and list(csv.reader(target.open(newline=""))) == rows


def test_watch_follows_an_import_until_it_is_done(cli, local_stack):
    final = watch_until_done(cli, "cli-watch", start_import(local_stack, "cli-watch"))
    assert (final["counts"]["completed"], final["counts"]["error"], final["percent"]) == (1, 1, 100)


def test_retry_with_a_correction_starts_a_child_import_of_the_failed_record(cli, local_stack, tmp_path):
    parent = start_import(local_stack, "cli-retry")
    watch_until_done(cli, "cli-retry", parent)
    (failed,) = json.loads(cli("errors", "--cell", "cli-retry", parent)[1])["items"]
    corrections = tmp_path / "corrections.json"
    corrections.write_text(json.dumps({failed["record"]: {"username": "bad", "emails": ["bad@example.com"]}}))

    code, out, _ = cli("retry", "--cell", "cli-retry", parent, "--corrections", str(corrections))
    child = json.loads(out)
    assert code == 0 and child["parentId"] == parent
    final = watch_until_done(cli, "cli-retry", child["id"])
    assert (final["counts"]["completed"], final["counts"]["error"]) == (1, 0)

    code, out, err = cli("list", "--cell", "cli-retry", "--limit", "1")
    page = json.loads(out)
    assert code == 0 and [item["id"] for item in page["items"]] == [child["id"]]
    assert f"--cursor {page['nextCursor']}" in err
    assert [
        item["id"] for item in json.loads(cli("list", "--cell", "cli-retry", "--limit", "1", "--all")[1])["items"]
    ] == [child["id"], parent]


def test_cancel_of_a_finished_import_is_refused_with_the_problem_on_stderr(cli):
    code, out, err = cli("cancel", "--cell", demo.OTHER_CELL, demo.DONE_OPERATION_ID)
    assert (code, out) == (1, "")
    assert err.startswith("bulk-import: The import cannot be canceled (409): The import is done; only a loading")


def test_a_bad_token_exits_1(cli):
    code, out, err = cli("show", "--cell", demo.DEMO_CELL, demo.ACTIVE_OPERATION_ID, "--token", "bi_wrong")
    assert (code, out, err) == (1, "", "bulk-import: The credential is not valid (401)\n")


def test_without_a_local_stack_an_api_url_is_required(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BULK_IMPORT_STATE_FILE", str(tmp_path / "absent.json"))
    monkeypatch.delenv("BULK_IMPORT_API_URL", raising=False)
    assert main(["imports", "list", "--cell", "c", "--token", "t"]) == 2
    assert "--api-url" in capsys.readouterr().err


def test_table_output_for_humans(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = cli("show", "--cell", demo.OTHER_CELL, demo.DONE_OPERATION_ID, "--table")
    assert code == 0 and f"Import {demo.DONE_OPERATION_ID}" in out
    assert "│ State           │ done" in out and "│ Errors          │ 2 " in out


def test_tables_render_the_stalled_marker_and_the_failed_records():
    view = {
        "id": "01a2",
        "name": "users.jsonl",
        "state": "importing",
        "stalled": True,
        "percent": 40,
        "counts": {"completed": 3000, "error": 1000, "total": 10000},
        "startedAt": "2025-01-02T03:04:05.000Z",
    }
    record = {"record": "user:12", "source": "users.jsonl:13", "code": "invalid-record", "message": "emails: bad"}
    console = Console(file=io.StringIO(), width=200)
    console.print(imports_table({"items": [view]}), failed_records_table({"items": [record]}))
    lines = console.file.getvalue().splitlines()
    assert any(
        "importing stalled" in line and "40%" in line and "3,000/1,000/10,000" in line and "2025-01-02 03:04:05" in line
        for line in lines
    )
    assert any("user:12" in line and "users.jsonl:13" in line and "emails: bad" in line for line in lines)


def test_watch_exits_1_for_an_import_that_ended_failed(cli, local_stack):
    from bulk_import.domain.operation import Counts, Failure, ImportOperation, ProgressStep, new_operation_id, utc_now

    now = utc_now()
    failed = ImportOperation(
        id=new_operation_id(),
        cell="watchfail",
        type="v1",
        importer_key="v1",
        step=ProgressStep.IMPORT_FAILED,
        started_at=now,
        updated_at=now,
        user="t",
        count=Counts(total=4, users=4, completed=1, error=3),
        failure=Failure(code="PR500-BI-0007", message="The import stalled."),
    )
    local_stack.store.start_operation(failed, None)
    code, out, _ = cli("watch", "--cell", "watchfail", failed.id, "--interval", "0.2")
    assert code == 1 and json.loads(out)["failure"]["message"] == "The import stalled."


@pytest.mark.parametrize(
    "args",
    [
        ["--stack-name", "prod-stack", "imports", "show", "--cell", demo.OTHER_CELL, demo.DONE_OPERATION_ID, "--json"],
        [
            "imports",
            "show",
            "--cell",
            demo.OTHER_CELL,
            demo.DONE_OPERATION_ID,
            "--stack-name",
            "prod-stack",
            "--output",
            "json",
        ],
    ],
    ids=["global-options-first", "global-options-after-the-subcommand"],
)
def test_a_named_stack_gives_the_api_url_and_the_table_for_a_credential(
    local_stack, tmp_path, monkeypatch, capsys, args
):
    from bulk_import_cli import common

    monkeypatch.setenv("BULK_IMPORT_STATE_FILE", str(tmp_path / "none.json"))  # no local stack here
    monkeypatch.delenv("BULK_IMPORT_TOKEN", raising=False)
    monkeypatch.delenv("BULK_IMPORT_API_URL", raising=False)
    outputs = {"ApiUrl": local_stack.api_url, "TableName": local_stack.store.table_name}
    monkeypatch.setattr(common, "stack_outputs", lambda args: outputs if args.stack_name == "prod-stack" else {})

    code = main(args)

    out = without_lines_starting(capsys.readouterr().out, '{"')
    assert code == 0 and json.loads(out)["id"] == demo.DONE_OPERATION_ID


def test_start_uploads_a_file_and_starts_its_import(cli, tmp_path):
    users = tmp_path / "users.jsonl"
    users.write_text("".join(json.dumps(record) + "\n" for record in RECORDS))
    code, out, err = cli("start", str(users), "--cell", "cli-start", "--name", "from disk")
    started = json.loads(out)
    assert code == 0 and (started["name"], started["counts"]["total"]) == ("from disk", 0)
    assert f"bulk-import imports watch --cell cli-start {started['id']}" in err
    final = watch_until_done(cli, "cli-start", started["id"])
    assert (final["counts"]["completed"], final["counts"]["error"]) == (1, 1)
    assert cli("start", str(tmp_path / "missing.jsonl"), "--cell", "cli-start")[0] == 2


def test_without_an_id_a_command_takes_the_cells_latest_import(cli, local_stack):
    operation_id = start_import(local_stack, "cli-latest")
    code, out, _ = cli("show", "--cell", "cli-latest")
    assert (code, json.loads(out)["id"]) == (0, operation_id)
    code, out, _ = cli("watch", "--cell", "cli-latest", "--interval", "0.2")
    assert (code, json.loads(out)["id"]) == (0, operation_id)
    code, out, err = cli("show", "--cell", "a-cell-without-imports")
    assert (code, out, err) == (1, "", "bulk-import: cell a-cell-without-imports has no import\n")


def test_the_import_spellings_of_before_still_work_and_say_they_are_deprecated(
    local_stack, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("BULK_IMPORT_STATE_FILE", str(tmp_path / "stack.json"))
    StackInfo.of(local_stack).save()
    operation_id = start_import(local_stack, "cli-legacy")
    assert main(["import", "watch", "--cell", "cli-legacy", "--interval", "0.2", "--output", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(without_lines_starting(captured.out, '{"'))["id"] == operation_id
    assert "`bulk-import import` is deprecated" in captured.err
    assert main(["import", "cancel", "--cell", "cli-legacy", "--json"]) == 1  # done: the API refuses
    assert "The import cannot be canceled (409)" in capsys.readouterr().err
