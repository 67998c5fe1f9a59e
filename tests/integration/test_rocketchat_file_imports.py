"""Rocket.Chat's file importers on moto, step by step: uploadImportFile, the staging that ends in
importer_user_selection, AwaitSelection and startImport in both orders, the selection applied by the
batches, the refusals of each route in Rocket.Chat's shapes."""

from __future__ import annotations

import base64
import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from bulk_import.domain.importers import IMPORTERS
from bulk_import.domain.operation import ImportState, ProgressStep, utc_now
from bulk_import.domain.records.staged import RecordType
from bulk_import.domain.selection import DIRECT_MESSAGES, is_selected
from bulk_import.logic.imports.errors import ImportServiceError
from bulk_import.logic.imports.retry import retry
from bulk_import.logic.imports.rocketchat_files import start_selected_import, stored_file_name, upload_import_file
from bulk_import.logic.imports.stop import stop
from bulk_import.logic.worker.phase import await_selection, fail_operation
from bulk_import.logic.worker.settle import reconcile_stopped
from bulk_import.logic.worker.stage import stage_input
from bulk_import.logic.worker.steps import OperationStopped
from bulk_import.logic.worker.sweep import sweep
from bulk_import.readers.by_format import read_records
from bulk_import_cli import demo
from tests.support.events import load_event
from tests.support.records import zipped
from tests.support.slack_exports import Export, channel, message, user, workspace_export
from tests.support.slack_users_csv import csv_row, users_csv
from tests.support.stack import FUNCTIONS
from tests.support.worker import CELL, entry_exists, failed_records, run_worker, stage_all

SLACK_USERS = IMPORTERS["slack-users"]
ROWS = [csv_row(f"pick{n}", f"pick{n}@example.com", "Member") for n in range(60)]


def prepared(store, files, executions, content: bytes = users_csv(ROWS), importer=SLACK_USERS):
    operation = upload_import_file(store, files, executions, CELL, "u1", importer, "people.csv", content)
    assert stage_all(store, files, operation.id)["awaitsSelection"] is True
    return store.latest_operation(CELL)


def test_a_file_is_stored_under_rocket_chats_name_then_staged_and_left_waiting(store, files, executions):
    operation = prepared(store, files, executions)
    assert executions.started == [(CELL, operation.id)]
    assert (operation.step, operation.state) == (ProgressStep.USER_SELECTION, ImportState.READY)
    assert (operation.importer_key, operation.type) == ("slack-users", "Slack_Users")
    assert operation.source_key.endswith("_u1_people.csv") and operation.importation_name in operation.source_key
    assert (operation.count.total, operation.count.users, operation.count.processed) == (60, 60, 0)


def test_a_repeat_of_the_staging_that_prepared_the_file_answers_as_it_did(store, files, executions):
    operation = prepared(store, files, executions)
    repeated = stage_all(store, files, operation.id)  # its answer was lost: Step Functions retries it
    assert repeated["awaitsSelection"] is True and repeated["staged"] is True
    assert store.latest_operation(CELL) == operation


def test_the_sweeper_lets_go_an_import_whose_start_import_died_before_sending_the_selection(
    store, files, executions, monkeypatch
):
    operation = prepared(store, files, executions)
    assert await_selection(store, executions, CELL, operation.id, "token-1")
    with monkeypatch.context() as dying:
        dying.setattr(executions, "resume", lambda token: (_ for _ in ()).throw(RuntimeError("died")))
        with pytest.raises(RuntimeError):
            start_selected_import(store, files, executions, store.latest_operation(CELL), {"users": {"all": True}})
    moved = store.latest_operation(CELL)
    assert (moved.step, moved.selection_token) == (ProgressStep.IMPORTING_USERS, "token-1")

    soon = sweep(store, files, executions, utc_now() + timedelta(seconds=30), *SWEEP_LIMITS)
    assert soon.resumed == [] and executions.resumed == []  # the client may still call again
    later = sweep(store, files, executions, utc_now() + timedelta(minutes=3), *SWEEP_LIMITS)
    assert [swept.id for swept in later.resumed] == [operation.id] and executions.resumed == ["token-1"]
    assert store.latest_operation(CELL).selection_token is None and later.failed == []


SWEEP_LIMITS = (timedelta(minutes=10), timedelta(minutes=60), 1, timedelta(minutes=3))


def test_the_stored_name_counts_months_from_zero_and_pads_nothing():
    assert stored_file_name("u1", "a.zip", datetime(2026, 1, 5, 3, 4, 5, tzinfo=UTC)) == "202605345_u1_a.zip"
    assert stored_file_name("u1", "a.zip", datetime(2026, 12, 31, 23, 59, 9, tzinfo=UTC)) == "2026113123599_u1_a.zip"


@pytest.mark.parametrize("await_first", [True, False], ids=["AwaitSelection-first", "startImport-first"])
def test_either_order_lets_the_execution_go_on_once(store, files, executions, await_first):
    operation = prepared(store, files, executions)
    if await_first:
        await_selection(store, executions, CELL, operation.id, "token-1")
        assert store.latest_operation(CELL).selection_token == "token-1"
    start_selected_import(store, files, executions, store.latest_operation(CELL), {"users": {"all": True}})
    if not await_first:
        assert executions.resumed == []  # no token yet: AwaitSelection finds the operation moved on
        await_selection(store, executions, CELL, operation.id, "token-1")
    assert executions.resumed == ["token-1"]
    moved = store.latest_operation(CELL)
    assert moved.step == ProgressStep.IMPORTING_USERS and moved.selection_token is None
    with pytest.raises(ImportServiceError, match="error-invalid-operation-status"):  # a second startImport
        start_selected_import(store, files, executions, moved, {"users": {"all": True}})


def test_what_is_not_selected_fails_as_not_selected_and_the_counts_add_up(store, files, executions):
    operation = prepared(store, files, executions)
    chosen = [f"pick{n}@example.com" for n in range(0, 60, 3)]
    start_selected_import(store, files, executions, operation, {"users": {"list": chosen}, "channels": {"all": True}})
    run_worker(store, files, operation.id)

    final = store.latest_operation(CELL)
    assert final.step == ProgressStep.DONE
    assert (final.count.completed, final.count.error, final.count.total) == (20, 40, 60)
    failed = failed_records(store, operation.id)
    assert {record.error_code for record in failed} == {"not-selected"}
    assert sorted(record.data["username"] for record in failed) == sorted(f"pick{n}" for n in range(60) if n % 3)


def test_a_channel_not_selected_takes_its_messages_with_it(store, files, executions):
    content = zipped(
        {
            "users.csv": b"username,email,name\nann,ann@example.com,Ann\n",
            "channels.csv": b"name,creator,private,members\nopen,ann,false,ann\nshut,ann,false,ann\n",
            "open/messages.csv": b"username,timestamp,text\nann,1700000000000,kept\n",
            "shut/messages.csv": b"username,timestamp,text\nann,1700000000000,left\nann,1700000001000,out\n",
        }
    )
    operation = prepared(store, files, executions, content, IMPORTERS["csv"])
    start_selected_import(store, files, executions, operation, {"users": {"all": True}, "channels": {"list": ["open"]}})
    run_worker(store, files, operation.id)
    final = store.latest_operation(CELL)
    assert (final.count.completed, final.count.error, final.count.total) == (3, 3, 6)
    assert sorted(r.record_id for r in failed_records(store, operation.id)) == ["channel:1", "message:1", "message:2"]


def test_a_clear_while_waiting_stops_the_execution_and_settles_every_record_as_an_error(store, files, executions):
    operation = prepared(store, files, executions)
    await_selection(store, executions, CELL, operation.id, "token-1")
    stop(store, executions, CELL, clear=True)
    cleared = store.latest_operation(CELL)
    assert executions.stopped == [operation.execution_arn]
    assert cleared.state == ImportState.ERROR and cleared.count.error == cleared.count.total == 60
    with pytest.raises(OperationStopped):  # a late AwaitSelection of that execution
        await_selection(store, executions, CELL, operation.id, "token-2")


def test_no_selection_within_the_wait_fails_the_import_and_its_records(store, files, executions):
    operation = prepared(store, files, executions)
    answer = fail_operation(store, CELL, operation.id, {"Error": "States.Timeout", "Cause": "{}"})
    assert answer["stopped"] is False
    failed = store.latest_operation(CELL)
    assert failed.step == ProgressStep.IMPORT_FAILED and failed.failure.code == "PR408-BI-0009"
    reconcile_stopped(store, files, failed, 1)
    settled = store.latest_operation(CELL)
    assert settled.count.error == settled.count.total == 60 and not settled.reconcile_pending


@pytest.fixture
def seeded_rocketchat(store, function_environment) -> str:
    """The Rocket.Chat cell as the demo leaves it (its caller may run imports); its name."""
    cell = function_environment["ROCKETCHAT_CELL"]
    demo.seed_demo(store, cell)
    return cell


def stage_all_of(store, files, cell: str, operation_id: str) -> None:
    task = {"staged": False}
    while not task["staged"]:
        task = stage_input(
            store, files, cell, operation_id, out_of_time=lambda: False, concurrency=1, reconcile_after=timedelta(0)
        )


def rocketchat_call(invoke, function, event_file):
    return invoke(function, load_event(event_file))


def test_get_import_file_data_waits_then_lists_what_was_staged(seeded_rocketchat, invoke, files, executions, store):
    cell = seeded_rocketchat
    file_data = "RocketChatStatusFunction/get-import-file-data.json"
    operation = upload_import_file(store, files, executions, cell, "u1", SLACK_USERS, "p.csv", users_csv(ROWS[:3]))
    assert rocketchat_call(invoke, "RocketChatStatusFunction", file_data).body == {"waiting": True, "success": True}
    stage_all_of(store, files, cell, operation.id)
    listed = rocketchat_call(invoke, "RocketChatStatusFunction", file_data).body
    assert [user["user_id"] for user in listed["users"]] == [
        "pick0@example.com",
        "pick1@example.com",
        "pick2@example.com",
    ]
    assert listed["name"] == "Slack_Users" and listed["message_count"] == 0 and listed["success"] is True


def test_a_cleared_operation_still_preparing_is_an_invalid_import_operation(
    seeded_rocketchat, invoke, files, executions, store
):
    cell = seeded_rocketchat
    upload_import_file(store, files, executions, cell, "u1", SLACK_USERS, "p.csv", users_csv(ROWS[:3]))
    stop(store, executions, cell, clear=True)
    answer = rocketchat_call(invoke, "RocketChatStatusFunction", "RocketChatStatusFunction/get-import-file-data.json")
    assert (answer.status, answer.body) == (
        400,
        {
            "success": False,
            "error": "Invalid Import Operation [error-import-operation-invalid]",
            "errorType": "error-import-operation-invalid",
            "details": "getImportFileData",
        },
    )


def test_an_unpadded_base64_body_is_read_as_rocket_chat_reads_it(seeded_rocketchat, invoke, files, store):
    content = users_csv(ROWS[:1])
    event = load_event("RocketChatImportFunction/upload-import-file.json")
    body = json.loads(event["body"]) | {"binaryContent": base64.b64encode(content).decode().rstrip("=") + "\n"}
    event["body"] = json.dumps(body)
    assert invoke("RocketChatImportFunction", event).status == 200
    stored = store.latest_operation(seeded_rocketchat)
    assert files.client.get_object(Bucket=files.bucket, Key=stored.source_key)["Body"].read() == content


def test_a_slack_export_imports_what_was_selected_with_its_names_and_the_counts_add_up(store, files, executions):
    export = workspace_export(channels=3, days=1, per_day=20)
    content = export.zip()
    operation = prepared(store, files, executions, content, IMPORTERS["slack"])
    read = list(read_records(lambda: io.BytesIO(content)))
    by_type = Counter(record.type for record in read)
    assert (operation.count.users, operation.count.channels, operation.count.messages) == (
        len(export.users),
        len(export.channels) + len(export.groups) + len(export.mpims) + len(export.dms),
        sum(len(day) for day in export.days.values()),
    )
    assert operation.count.total == len(read) == sum(by_type.values())

    chosen = {"C0000", DIRECT_MESSAGES}  # general, and every direct conversation (D0001, the 3-person mpim)
    selection = {"users": {"all": True}, "channels": {"list": sorted(chosen)}}
    start_selected_import(store, files, executions, operation, selection)
    run_worker(store, files, operation.id)

    final = store.latest_operation(CELL)
    assert final.step == ProgressStep.DONE
    assert final.count.completed + final.count.error == final.count.total
    failed = {record.record_id: record.error_code for record in failed_records(store, operation.id)}
    for seq, record in enumerate(r for r in read if r.type is RecordType.MESSAGE):
        selected = is_selected(selection, "message", record.data)
        # An invalid record is invalid whether selected or not.
        expected = "invalid-record" if record.problem else None if selected else "not-selected"
        assert failed.get(f"message:{seq}") == expected, record.source
    assert not any(record_id.startswith("user:") for record_id in failed)  # noemail5 too: Slack's may have none
    assert entry_exists(store, "user", "noemail5") and entry_exists(store, "channel", "general")
    assert entry_exists(store, "channel", "d0001") and not entry_exists(store, "channel", "team1")
    general = store.directory_entries(CELL, [("channel", "general")])[("channel", "general")].data
    members = export.channels[0]["members"]
    assert general["members"] == [next(u["name"] for u in export.users if u["id"] == m) for m in members]


def test_a_retry_imports_what_was_not_selected_without_waiting_for_a_selection(store, files, executions):
    operation = prepared(store, files, executions)
    chosen = [f"pick{n}@example.com" for n in range(0, 60, 2)]
    start_selected_import(store, files, executions, operation, {"users": {"list": chosen}})
    run_worker(store, files, operation.id)

    child = retry(store, files, executions, store.latest_operation(CELL), {}, "u1")
    assert (child.importer_key, child.type) == ("slack-users", "Slack_Users")  # its parent's importer
    assert "awaitsSelection" not in stage_all(store, files, child.id)
    run_worker(store, files, child.id)
    final = store.latest_operation(CELL)
    assert (final.id, final.step) == (child.id, ProgressStep.DONE)
    assert (final.count.completed, final.count.error, final.count.total) == (30, 0, 30)
    assert entry_exists(store, "user", "pick1") and entry_exists(store, "user", "pick59")


def test_a_start_import_that_died_before_letting_the_execution_go_is_finished_by_the_next(
    store, files, executions, monkeypatch
):
    operation = prepared(store, files, executions)
    await_selection(store, executions, CELL, operation.id, "token-1")
    resume = executions.resume
    monkeypatch.setattr(executions, "resume", lambda token: (_ for _ in ()).throw(RuntimeError("died")))
    with pytest.raises(RuntimeError):  # the step moved, the token kept, the function died
        start_selected_import(store, files, executions, store.latest_operation(CELL), {"users": {"all": True}})
    moved = store.latest_operation(CELL)
    assert (moved.step, moved.selection_token) == (ProgressStep.IMPORTING_USERS, "token-1")

    monkeypatch.setattr(executions, "resume", resume)
    start_selected_import(store, files, executions, moved, {"users": {"all": True}})  # the client's next call
    assert executions.resumed == ["token-1"] and store.latest_operation(CELL).selection_token is None
    with pytest.raises(ImportServiceError, match="error-invalid-operation-status"):  # and then as Rocket.Chat
        start_selected_import(store, files, executions, store.latest_operation(CELL), {"users": {"all": True}})


def test_files_rocket_chat_skips_are_logged_once_by_the_stage_function(store, files, executions, monkeypatch):
    """An export as Slackdump writes it: attachments under `__uploads/<file id>/`, which Rocket.Chat
    reads as day files and skips uncounted, as it does a day file that is not an array."""
    export = Export(
        users=[user("U1", "ann")],
        channels=[channel("C1", "general", "U1", ["U1"], created=1452837300)],
        days={
            "general/2016-01-15.json": [message("1452837400.000100", "U1", "hello")],
            "general/2016-01-16.json": b"{}",
        },
        extras={"__uploads/F0001/photo.png": b"\x89PNG\r\n\x1a\n"},
    )
    operation = upload_import_file(store, files, executions, CELL, "u1", IMPORTERS["slack"], "e.zip", export.zip())
    warnings = []
    handler = FUNCTIONS.module("ImportStageFunction")
    monkeypatch.setattr(handler.logger, "warning", lambda message, extra: warnings.append((message, extra)))
    task = FUNCTIONS.invoke("ImportStageFunction", {"operation": {"cell": CELL, "id": operation.id}})
    assert task["awaitsSelection"] is True
    assert store.latest_operation(CELL).count.total == 3  # ann, general, one message: nothing else counted
    assert len(warnings) == 1 and warnings[0][1]["skipped"] == 2
    assert sorted(entry["file"] for entry in warnings[0][1]["first"]) == [
        "__uploads/F0001/photo.png",
        "general/2016-01-16.json",
    ]
