"""The worker's steps on moto, driven the way the state machine drives them, with faults injected.

The state machine itself runs in tests/local (through moto's interpreter); here each step is
called directly so that a crash can be placed exactly between two writes.
"""

from __future__ import annotations

import json
import threading

import pytest

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.dynamodb.directory_items import directory_key
from bulk_import.dal.s3 import upload_prefix
from bulk_import.domain.operation import ImportState, ProgressStep
from bulk_import.domain.records.staged import RecordType
from bulk_import.logic.imports.errors import ImportServiceError, OperationBusy, SnapshotNotFound
from bulk_import.logic.imports.rocketchat import (
    ALREADY_FINISHED,
    CANNOT_RECEIVE,
    MISSING_REQUIRED_DATA,
    rocketchat_add_users,
    rocketchat_new,
    rocketchat_run,
)
from bulk_import.logic.imports.snapshots import start_snapshot_import
from bulk_import.logic.imports.start import start_file_import
from bulk_import.logic.imports.stop import stop
from bulk_import.logic.worker import stage as stage_module
from bulk_import.logic.worker.batch import import_batch
from bulk_import.logic.worker.phase import advance_phase, fail_operation
from bulk_import.logic.worker.stage import stage_input
from bulk_import.logic.worker.steps import OperationStopped
from tests.support.records import user, users_jsonl, zipped
from tests.support.slack_users_csv import csv_row, users_csv
from tests.support.worker import (
    CELL,
    RECONCILE_AFTER,
    entry_exists,
    failed_records,
    run_worker,
    stage_all,
    sweep_after,
    upload,
)

# -- full runs ---------------------------------------------------------------------------------


def test_rocketchat_api_import_counts_every_user_once_and_keeps_failures_staged(store, files, executions):
    operation = rocketchat_new(store, executions, CELL, "admin")
    users = [user(n) for n in range(120)]
    users[7]["emails"] = ["nope"]  # invalid: stays staged with its error
    users[99]["username"] = "user3"  # duplicate of user3: the later one fails
    rocketchat_add_users(store, CELL, users)
    assert store.latest_operation(CELL).state is ImportState.READY
    rocketchat_run(store, executions, CELL)
    assert executions.started == [(CELL, operation.id)]

    run_worker(store, files, operation.id)

    final = store.latest_operation(CELL)
    assert final.step is ProgressStep.DONE
    assert (final.count.total, final.count.users, final.count.completed, final.count.error) == (120, 120, 118, 2)
    remaining = failed_records(store, operation.id)
    assert sorted(record.seq for record in remaining) == [7, 99]
    assert all(record.error for record in remaining)
    assert "already exists" in next(r.error for r in remaining if r.seq == 99)


def test_personium_snapshot_import_of_a_csv_zip(store, files, executions):
    users_csv = "username,email,name\n" + "".join(f"u{n},u{n}@example.com,U {n}\n" for n in range(75))
    channels_csv = "name,creator,private,members\ngeneral,u0,false,u0;u1\n"
    messages_csv = "username,timestamp,text\nu0,1700000000000,hello\nu1,1700000001000,hi\n"
    upload(
        files,
        "snap1",
        zipped(
            {
                "users.csv": users_csv.encode(),
                "channels.csv": channels_csv.encode(),
                "general/messages.csv": messages_csv.encode(),
            }
        ),
    )
    operation = start_snapshot_import(store, files, executions, CELL, "snap1", "operator")

    run_worker(store, files, operation.id)

    final = store.latest_operation(CELL)
    assert final.step is ProgressStep.DONE
    assert (final.count.users, final.count.channels, final.count.messages) == (75, 1, 2)
    assert final.count.completed == final.count.total == 78
    item = store.client.get_item(
        TableName=store.table_name, Key={k: {"S": v} for k, v in directory_key(CELL, "user", "u74").items()}
    )
    assert "Item" in item


@pytest.mark.parametrize("out_of_time", [True, False], ids=["staged-in-several-calls", "staged-at-once"])
def test_the_start_leaves_the_execution_to_the_worker_whose_first_write_records_it(
    store, files, executions, out_of_time
):
    upload(
        files,
        "snap",
        zipped({"users.jsonl": b"".join(b'{"username": "u%d", "emails": ["u%d@x"]}\n' % (n, n) for n in range(6000))}),
    )
    operation = start_snapshot_import(store, files, executions, CELL, "snap", "operator")
    assert executions.started == [(CELL, operation.id)] and store.latest_operation(CELL).execution_arn is None

    def stage(execution_arn: str, out_of_time: bool) -> dict:
        return stage_input(
            store,
            files,
            CELL,
            operation.id,
            out_of_time=lambda: out_of_time,
            concurrency=1,
            reconcile_after=RECONCILE_AFTER,
            execution_arn=execution_arn,
        )

    first = stage("arn:first", out_of_time)
    assert first["staged"] is not out_of_time and store.latest_operation(CELL).execution_arn == "arn:first"
    stage("arn:again", False)
    assert store.latest_operation(CELL).execution_arn == "arn:first"  # recorded once: a later write keeps it


def test_counts_move_in_multiples_of_fifty_during_the_user_phase(store, files, executions):
    upload(files, "big", zipped({"users.jsonl": users_jsonl(260)}))
    operation = start_snapshot_import(store, files, executions, CELL, "big", "operator")
    seen = []
    run_worker(store, files, operation.id, on_batch=lambda _: seen.append(store.latest_operation(CELL).count.processed))
    users_phase = seen[:6]
    assert users_phase == [0, 50, 100, 150, 200, 250]
    assert store.latest_operation(CELL).count.processed == 260


# -- faults ------------------------------------------------------------------------------------


class Crash(Exception):
    pass


@pytest.mark.parametrize(
    ("crash_point", "crashing_call"),
    [
        ("_insert", 2),  # mid-batch: one request's 25 users created, the other's not
        ("count_batch", 1),  # every user created, nothing counted
        ("put_failed_records", 1),  # counted, failed records not yet written
    ],
)
def test_a_batch_that_crashes_and_is_retried_is_counted_once_and_creates_no_duplicate(
    store, files, executions, monkeypatch, crash_point, crashing_call
):
    upload(files, "snap", zipped({"users.jsonl": users_jsonl(100, invalid_every=10)}))
    operation = start_snapshot_import(store, files, executions, CELL, "snap", "operator")
    real = getattr(ImportStore, crash_point)
    calls = {"n": 0}

    def crash_once(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == crashing_call:
            raise Crash(crash_point)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ImportStore, crash_point, crash_once)
    crashed = []
    stage_all(store, files, operation.id)
    for batch in range(2):
        for _attempt in range(3):  # the state machine's Retry on States.TaskFailed
            try:
                import_batch(store, files, CELL, operation.id, RecordType.USER, batch)
                break
            except Crash:
                crashed.append(batch)
    monkeypatch.setattr(ImportStore, crash_point, real)
    for phase in ["channels", "messages", "done"]:
        advance_phase(store, files, CELL, operation.id, phase)

    assert crashed, "the fault was not injected"
    final = store.latest_operation(CELL)
    assert (final.count.completed, final.count.error, final.count.total) == (90, 10, 100)
    assert final.step is ProgressStep.DONE
    assert len(failed_records(store, operation.id)) == 10


# -- cancel and clear --------------------------------------------------------------------------


def test_cancel_mid_run_stops_within_one_batch_and_settles_the_counts(store, files, executions):
    upload(files, "snap", zipped({"users.jsonl": users_jsonl(300)}))
    operation = start_snapshot_import(store, files, executions, CELL, "snap", "operator")
    done = []

    def cancel_after_two(descriptor):
        if len(done) == 2:
            stop(store, executions, CELL, clear=False)
        done.append(descriptor["batch"])

    with pytest.raises(OperationStopped):
        run_worker(store, files, operation.id, on_batch=cancel_after_two)

    final = store.latest_operation(CELL)
    assert final.state is ImportState.CANCELED and final.step is ProgressStep.IMPORT_CANCELLED
    assert executions.stopped == [final.execution_arn]
    # Its counts settle once no attempt of a batch can run anymore: until then they only grow.
    # The attempt of batch 2 that began after the cancel imported nothing: its 50 records count as errors.
    assert (final.count.completed, final.count.error, final.count.total) == (100, 50, 300) and final.reconcile_pending
    assert sweep_after(store, files, executions, minutes=2).reconciled == []
    assert [o.id for o in sweep_after(store, files, executions, minutes=4).reconciled] == [operation.id]
    final = store.latest_operation(CELL)
    assert (final.count.completed, final.count.error, final.count.total) == (100, 200, 300)
    assert not final.reconcile_pending


def test_a_batch_in_flight_when_canceled_counts_the_users_it_imported_as_completed(
    store, files, executions, monkeypatch
):
    upload(files, "snap", zipped({"users.jsonl": users_jsonl(100)}))
    operation = start_snapshot_import(store, files, executions, CELL, "snap", "operator")
    stage_all(store, files, operation.id)
    real = ImportStore.count_batch

    def cancel_first(self, *args, **kwargs):
        stop(store, executions, CELL, clear=False)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ImportStore, "count_batch", cancel_first)
    with pytest.raises(OperationStopped):
        import_batch(store, files, CELL, operation.id, RecordType.USER, 0)
    monkeypatch.setattr(ImportStore, "count_batch", real)
    with pytest.raises(OperationStopped):  # the next batch imports nothing: it was canceled
        import_batch(store, files, CELL, operation.id, RecordType.USER, 1)

    final = store.latest_operation(CELL)
    assert final.state is ImportState.CANCELED
    assert (final.count.completed, final.count.error, final.count.total) == (50, 50, 100)
    assert entry_exists(store, "user", "user0") and not entry_exists(store, "user", "user50")


def test_rocketchat_clear_while_importing_reads_as_error_with_settled_counts(store, files, executions):
    rocketchat_new(store, executions, CELL, "admin")
    rocketchat_add_users(store, CELL, [user(n) for n in range(60)])
    operation = rocketchat_run(store, executions, CELL)
    stop(store, executions, CELL, clear=True)
    final = store.latest_operation(CELL)
    assert final.state is ImportState.ERROR and not final.valid
    sweep_after(store, files, executions, minutes=4)
    final = store.latest_operation(CELL)
    assert final.count.completed + final.count.error == final.count.total == 60
    with pytest.raises(OperationStopped):
        stage_input(
            store, files, CELL, operation.id, out_of_time=lambda: False, concurrency=1, reconcile_after=RECONCILE_AFTER
        )


# -- starts and refusals -----------------------------------------------------------------------


def test_two_concurrent_starts_let_exactly_one_win(store, files, executions):
    upload(files, "snap", zipped({"users.jsonl": users_jsonl(10)}))
    barrier = threading.Barrier(2)
    outcomes = []

    def start():
        barrier.wait()
        try:
            outcomes.append(start_snapshot_import(store, files, executions, CELL, "snap", "operator").id)
        except OperationBusy:
            outcomes.append("busy")

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcome == "busy" for outcome in outcomes) == [False, True]


def test_a_start_while_one_is_importing_is_refused(store, files, executions):
    upload(files, "snap", zipped({"users.jsonl": users_jsonl(10)}))
    start_snapshot_import(store, files, executions, CELL, "snap", "operator")
    with pytest.raises(OperationBusy):
        start_snapshot_import(store, files, executions, CELL, "snap", "operator")


def test_missing_snapshot_is_refused_before_anything_is_written(store, files, executions):
    with pytest.raises(SnapshotNotFound):
        start_snapshot_import(store, files, executions, CELL, "absent", "operator")
    assert store.latest_operation(CELL) is None


def test_add_users_refusals_use_rocketchat_messages(store, files, executions):
    rocketchat_new(store, executions, CELL, "admin")
    with pytest.raises(ImportServiceError, match=MISSING_REQUIRED_DATA):
        rocketchat_add_users(store, CELL, [user(1, emails=[])])
    rocketchat_add_users(store, CELL, [user(1)])
    rocketchat_run(store, executions, CELL)
    with pytest.raises(ImportServiceError, match=CANNOT_RECEIVE):
        rocketchat_add_users(store, CELL, [user(2)])
    stop(store, executions, CELL, clear=False)
    with pytest.raises(ImportServiceError, match=ALREADY_FINISHED):
        rocketchat_add_users(store, CELL, [user(2)])


# -- malformed input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected_code", "expected_text"),
    [
        (zipped({"users.csv": b"username,mail\nok,ok@example.com\n"}), "PR400-BI-0006", "users.csv line 1"),
        (
            zipped({"users.csv": b"username,email,name\nok,ok@example.com,Ok\n", "channels.csv": b"name\n"}),
            "PR400-BI-0006",
            "channels.csv line 1",
        ),
    ],
)
def test_malformed_input_fails_the_operation_naming_the_file(
    store, files, executions, content, expected_code, expected_text
):
    upload(files, "bad", content)
    operation = start_snapshot_import(store, files, executions, CELL, "bad", "operator")
    with pytest.raises(Exception) as raised:
        stage_input(
            store, files, CELL, operation.id, out_of_time=lambda: False, concurrency=1, reconcile_after=RECONCILE_AFTER
        )
    error = {"Error": type(raised.value).__name__, "Cause": json.dumps({"errorMessage": str(raised.value)})}
    fail_operation(store, CELL, operation.id, error)

    final = store.latest_operation(CELL)
    assert final.step is ProgressStep.IMPORT_FAILED
    assert final.failure.code == expected_code and expected_text in final.failure.message
    assert final.count.completed + final.count.error == final.count.total


def test_a_line_that_cannot_be_read_fails_alone_and_the_rest_imports(store, files, executions):
    good = [json.dumps({"type": "user", **user(n)}).encode() + b"\n" for n in range(60)]
    users_csv = b"username,email,name\nc0,c0@example.com,C\nbroken\nc1,c1@example.com,C\n"
    upload(
        files,
        "partly",
        zipped({"users.csv": users_csv, "users.jsonl": b"".join([*good[:6], b"{oops\n", b"\xff\xfe\n", *good[6:]])}),
    )
    operation = start_snapshot_import(store, files, executions, CELL, "partly", "operator")

    run_worker(store, files, operation.id)

    final = store.latest_operation(CELL)
    assert final.step is ProgressStep.DONE
    assert (final.count.total, final.count.completed, final.count.error) == (65, 62, 3)
    failed = failed_records(store, operation.id)
    assert sorted((r.source, r.error_code) for r in failed) == [
        ("users.csv:3", "invalid-record"),
        ("users.jsonl:7", "invalid-record"),
        ("users.jsonl:8", "invalid-record"),
    ]
    assert all(entry_exists(store, "user", f"user{n}") for n in range(60))


def test_a_slack_users_csv_imports_the_users_with_an_email_as_rocket_chat_counts_them(store, files, executions):
    rows = [csv_row(f"member{n}", f"member{n}@example.com" if n % 10 else "", "Member") for n in range(120)]
    rows[5] = csv_row("boss", "boss@example.com", "Admin", "The Boss")
    rows[7] = ["short", "short@example.com"]  # another number of columns: fails alone
    key = upload_prefix(CELL, "5" * 24) + "members.csv"
    files.put(key, b"\xef\xbb\xbf" + users_csv(rows))  # with the byte order mark a spreadsheet may add
    operation = start_file_import(store, files, executions, CELL, key, "members.csv", "operator", lambda _: "v1")

    run_worker(store, files, operation.id)

    final = store.latest_operation(CELL)
    with_email = [row for row in rows if row[1]]
    assert final.step is ProgressStep.DONE
    assert (final.count.total, final.count.users, final.count.error) == (len(with_email), len(with_email), 1)
    assert final.count.completed == len(with_email) - 1
    assert [(r.source, r.error_code) for r in failed_records(store, operation.id)] == [
        ("members.csv:9", "invalid-record")
    ]
    assert entry_exists(store, "user", "boss") and entry_exists(store, "user", "member11")
    assert not entry_exists(store, "user", "member10")  # no email: skipped, never counted


def test_a_duplicate_stage_that_finishes_second_answers_staged_as_the_first(store, files, executions, monkeypatch):
    """Two deliveries of one Stage task at the same time: the later one, still staging when the
    first moved the operation on, answers staged too instead of failing the import."""
    upload(files, "twice", zipped({"users.jsonl": users_jsonl(120)}))
    operation = start_snapshot_import(store, files, executions, CELL, "twice", "operator")
    stale = store.latest_operation(CELL)  # what the later delivery read before the first one finished
    first = stage_all(store, files, operation.id)
    monkeypatch.setattr(stage_module, "current", lambda *_, **__: stale)
    second = stage_input(
        store, files, CELL, operation.id, out_of_time=lambda: False, concurrency=1, reconcile_after=RECONCILE_AFTER
    )
    assert second["staged"] is True and second["manifest"] == first["manifest"]
    assert store.latest_operation(CELL).step is ProgressStep.IMPORTING_USERS


def test_run_refusals_use_rocketchat_error_codes(store, files, executions):
    from bulk_import.logic.imports.rocketchat import INVALID_OPERATION_STATUS, OPERATION_NOT_FOUND

    with pytest.raises(ImportServiceError, match=OPERATION_NOT_FOUND):
        rocketchat_run(store, executions, CELL)
    rocketchat_new(store, executions, CELL, "admin")
    with pytest.raises(ImportServiceError, match=INVALID_OPERATION_STATUS):
        rocketchat_run(store, executions, CELL)  # nothing added yet: still importer_new
    assert executions.started == []


def test_import_new_clears_a_running_import_first(store, files, executions):
    rocketchat_new(store, executions, CELL, "admin")
    rocketchat_add_users(store, CELL, [user(n) for n in range(10)])
    running = rocketchat_run(store, executions, CELL)
    replacement = rocketchat_new(store, executions, CELL, "admin")
    assert executions.stopped == [executions.execution_arn(running.id)]  # started, its worker not yet run
    history = store.latest_operations(CELL, 5)
    assert [operation.id for operation in history] == [replacement.id, running.id]
    assert history[1].state is ImportState.ERROR and history[1].count.processed == 0  # settled later
    sweep_after(store, files, executions, minutes=4)
    assert store.operation(CELL, running.id).count.processed == 10
