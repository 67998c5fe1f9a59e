"""The worker's promise under AWS's real semantics: each failure found by review (issue 9), as a test
that failed before its fix. Steps are called directly, so a fault lands exactly between two writes;
tests/faults runs the same promises through the real state machine with faults at the SDK boundary."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import boto3
import pytest

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.dynamodb.record_items import FAILED_SHARDS
from bulk_import.dal.s3 import snapshot_key
from bulk_import.domain.operation import ProgressStep, utc_now
from bulk_import.domain.records.schema import MAX_RECORD_BYTES
from bulk_import.domain.records.staged import RecordType
from bulk_import.logic.imports.errors import ImportServiceError
from bulk_import.logic.imports.retry import retry
from bulk_import.logic.imports.rocketchat import CANNOT_RECEIVE, rocketchat_add_users, rocketchat_new, rocketchat_run
from bulk_import.logic.imports.snapshots import start_snapshot_import
from bulk_import.logic.imports.start import start_records_import
from bulk_import.logic.imports.stop import cancel
from bulk_import.logic.worker.batch import import_batch
from bulk_import.logic.worker.phase import SOURCE_CHANGED, advance_phase, fail_operation, failure_of
from bulk_import.logic.worker.stage import stage_input
from bulk_import.logic.worker.steps import OperationStopped
from tests.support.records import user, users_jsonl, zipped
from tests.support.worker import CELL, RECONCILE_AFTER, entry_exists, run_worker, stage_all, sweep_after, upload


class Crash(Exception):
    """The function died here (its write, if any, already landed)."""


def staged_count(files, operation_id: str, batches: int) -> int:
    return sum(len(files.read_staged_batch(operation_id, "user", batch)) for batch in range(batches))


def counts(store: ImportStore, operation_id: str | None = None) -> tuple[int, int, int]:
    """(completed, error, total) of the cell's latest operation, or of `operation_id`."""
    final = store.latest_operation(CELL) if operation_id is None else store.operation(CELL, operation_id)
    return final.count.completed, final.count.error, final.count.total


def test_1_staging_that_crashes_after_saving_chunks_resumes_where_it_saved(store, files, executions, monkeypatch):
    monkeypatch.setattr("bulk_import.logic.worker.stage.STAGE_CHUNK", 500)  # saves every 500 lines, not 5,000
    upload(files, "snap", zipped({"users.jsonl": users_jsonl(1237)}))
    operation = start_snapshot_import(store, files, executions, CELL, "snap", "operator")
    saves = []

    def crash_after_two_chunks() -> bool:
        saves.append(1)
        if len(saves) == 2:  # 1,000 lines staged and saved: the function dies
            raise Crash
        return False

    with pytest.raises(Crash):
        stage_input(
            store,
            files,
            CELL,
            operation.id,
            out_of_time=crash_after_two_chunks,
            concurrency=1,
            reconcile_after=RECONCILE_AFTER,
        )
    # Step Functions retries the task with the same input.
    staged = stage_all(store, files, operation.id)

    assert staged["staged"] and store.latest_operation(CELL).count.total == 1237
    assert staged_count(files, operation.id, 25) == 1237
    assert [record.seq for record in files.read_staged_batch(operation.id, "user", 20)] == list(range(1000, 1050))


def test_1_a_retry_whose_staging_dies_after_its_last_page_does_not_stage_the_records_again(
    store, files, executions, monkeypatch
):
    """Found by the fault matrix: the walk of a parent's batches saved "no position" after its last
    page, which a resumed attempt read as "start again"."""
    from bulk_import.dal.s3 import ImportFiles
    from tests.support.records import users
    from tests.support.worker import import_done

    parent = import_done(store, files, executions, users(120, invalid={3, 70}))
    child = retry(store, files, executions, parent, {}, "op")
    real, writes = ImportFiles.write_manifest, []

    def slow_down_once(self, *args, **kwargs):
        writes.append(1)
        if len(writes) == 1:
            raise Crash("SlowDown")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ImportFiles, "write_manifest", slow_down_once)
    with pytest.raises(Crash):
        stage_input(
            store, files, CELL, child.id, out_of_time=lambda: False, concurrency=1, reconcile_after=RECONCILE_AFTER
        )
    stage_all(store, files, child.id)
    assert store.latest_operation(CELL).count.total == 2


def test_2_a_batch_that_imported_then_died_counts_its_users_as_completed_after_a_cancel(
    store, files, executions, monkeypatch
):
    upload(files, "snap", zipped({"users.jsonl": users_jsonl(150, invalid_every=25)}))
    operation = start_snapshot_import(store, files, executions, CELL, "snap", "operator")
    stage_all(store, files, operation.id)
    real = ImportStore.count_batch

    def die_before_counting(self, *args, **kwargs):
        raise Crash

    monkeypatch.setattr(ImportStore, "count_batch", die_before_counting)
    with pytest.raises(Crash):  # batch 0 wrote its 48 valid users, then died
        import_batch(store, files, CELL, operation.id, RecordType.USER, 0)
    monkeypatch.setattr(ImportStore, "count_batch", real)
    cancel(store, executions, store.latest_operation(CELL))
    with pytest.raises(OperationStopped):  # Step Functions' retry of batch 0 arrives after the cancel
        import_batch(store, files, CELL, operation.id, RecordType.USER, 0)
    with pytest.raises(OperationStopped):  # a duplicate delivery of it changes nothing
        import_batch(store, files, CELL, operation.id, RecordType.USER, 0)

    # Counted late: its 48 users as completed, its 2 invalid records as errors; the other 100 records
    # are not counted until the counts settle, so that no count ever goes down.
    assert counts(store) == (48, 2, 150)
    assert entry_exists(store, "user", "user1") and not entry_exists(store, "user", "user50")
    # A retry right away waits for the parent's counts to settle, and says so.
    child = retry(store, files, executions, store.latest_operation(CELL), {}, "op")
    waiting = stage_input(
        store, files, CELL, child.id, out_of_time=lambda: False, concurrency=1, reconcile_after=RECONCILE_AFTER
    )
    assert waiting["staged"] is False and 170 <= waiting["waitSeconds"] <= 180
    assert store.latest_operation(CELL).waiting_until is not None and counts(store) == (0, 0, 0)
    # Then it settles them itself (no attempt can run anymore) and retries exactly the 102 not
    # imported: none "already exists".
    stage_all(store, files, child.id)
    assert counts(store, operation.id) == (48, 102, 150)
    assert store.latest_operation(CELL).waiting_until is None
    run_worker(store, files, child.id)
    done = store.latest_operation(CELL)
    assert (done.count.total, done.count.completed, done.count.error) == (102, 96, 6)  # 6 invalid of 150
    assert {record.error_code for record in store.failed_records(child.id, 10).items} == {"invalid-record"}


def test_2_a_batch_whose_retry_the_stop_aborted_is_counted_by_the_sweeper(store, files, executions, monkeypatch):
    """Found by the fault matrix: the stop aborts the child execution, so the retry that would count
    late never runs; the sweeper counts it once no attempt can still run."""
    upload(files, "snap", zipped({"users.jsonl": users_jsonl(150)}))
    operation = start_snapshot_import(store, files, executions, CELL, "snap", "operator")
    stage_all(store, files, operation.id)
    import_batch(store, files, CELL, operation.id, RecordType.USER, 0)

    def die_before_counting(self, *args, **kwargs):
        raise Crash

    monkeypatch.setattr(ImportStore, "count_batch", die_before_counting)
    with pytest.raises(Crash):  # batch 1 imported its 50 users, then died; its retry never comes
        import_batch(store, files, CELL, operation.id, RecordType.USER, 1)
    monkeypatch.undo()
    cancel(store, executions, store.latest_operation(CELL))
    assert counts(store) == (50, 0, 150)  # not settled: 50 imported users may still be counted

    early = sweep_after(store, files, executions, 1, stalled_after=60, concurrency=2)
    assert early.reconciled == []  # an attempt could still be running
    swept = sweep_after(store, files, executions, 5, stalled_after=60, concurrency=2)
    assert [operation.id for operation in swept.reconciled] == [operation.id]
    assert counts(store) == (100, 50, 150)
    assert sum(entry_exists(store, "user", f"user{n}") for n in range(150)) == 100
    assert store.stalled_operations(utc_now() + timedelta(days=1)) == []  # it left the index


def test_2_a_straggler_far_behind_the_other_children_is_counted_by_the_sweeper(store, files, executions, monkeypatch):
    """Children run groups of batches: while one child's batch died after importing and waits for
    its retry, the other children ran far ahead; the stop aborts the retry. The sweeper finds the
    straggler from the markers, wherever it is."""
    monkeypatch.setattr("bulk_import.logic.worker.steps.BATCHES_PER_CHILD", 2)
    upload(files, "snap", zipped({"users.jsonl": users_jsonl(500)}))  # 10 batches, 5 groups
    operation = start_snapshot_import(store, files, executions, CELL, "snap", "operator")
    stage_all(store, files, operation.id)
    import_batch(store, files, CELL, operation.id, RecordType.USER, 0)
    with monkeypatch.context() as crashing:
        crashing.setattr(ImportStore, "count_batch", lambda *args, **kwargs: (_ for _ in ()).throw(Crash()))
        with pytest.raises(Crash):  # group 0's batch 1 imported its users, then died
            import_batch(store, files, CELL, operation.id, RecordType.USER, 1)
    for batch in range(2, 8):  # meanwhile the other child ran groups 1 to 3
        import_batch(store, files, CELL, operation.id, RecordType.USER, batch)
    cancel(store, executions, store.latest_operation(CELL))
    assert counts(store) == (350, 0, 500)

    swept = sweep_after(store, files, executions, 5, stalled_after=60, concurrency=2)
    assert [operation.id for operation in swept.reconciled] == [operation.id]
    assert counts(store) == (400, 100, 500)
    assert sum(entry_exists(store, "user", f"user{n}") for n in range(500)) == 400


def test_2_a_batch_that_raced_the_one_that_counted_is_brought_in_line_with_the_marker(
    store, files, executions, monkeypatch
):
    """Attempt A puts users while attempt B, seeing the operation canceled, counts what existed then;
    A's later users would be imported but counted as errors: A's own end removes them."""
    upload(files, "snap", zipped({"users.jsonl": users_jsonl(50)}))
    operation = start_snapshot_import(store, files, executions, CELL, "snap", "operator")
    stage_all(store, files, operation.id)
    real_insert = ImportStore.insert_directory_entries

    def insert_then_race(self, cell, entries):  # 10 users, then attempt B, then the rest
        created = real_insert(self, cell, entries[:10])
        cancel(store, executions, store.latest_operation(CELL))
        with pytest.raises(OperationStopped):  # attempt B, a duplicate delivery
            import_batch(store, files, CELL, operation.id, RecordType.USER, 0)
        return created + real_insert(self, cell, entries[10:])

    monkeypatch.setattr(ImportStore, "insert_directory_entries", insert_then_race)
    with pytest.raises(OperationStopped):  # attempt A
        import_batch(store, files, CELL, operation.id, RecordType.USER, 0)

    completed, error, total = counts(store)
    assert (completed + error, total) == (50, 50)
    existing = sum(entry_exists(store, "user", f"user{n}") for n in range(50))
    assert existing == completed  # every imported user is counted as completed, no other is


def test_3_a_phase_transition_retried_after_its_write_landed_succeeds(store, files, executions, monkeypatch):
    upload(files, "snap", zipped({"users.jsonl": users_jsonl(60)}))
    operation = start_snapshot_import(store, files, executions, CELL, "snap", "operator")
    stage_all(store, files, operation.id)
    for batch in range(2):
        import_batch(store, files, CELL, operation.id, RecordType.USER, batch)
    real = ImportStore.update_operation
    landed = []

    def land_then_die(self, *args, **kwargs):
        result = real(self, *args, **kwargs)
        if not landed:
            landed.append(result.step)
            raise Crash
        return result

    for phase in ("channels", "messages", "done"):
        landed.clear()
        monkeypatch.setattr(ImportStore, "update_operation", land_then_die)
        with pytest.raises(Crash):
            advance_phase(store, files, CELL, operation.id, phase)
        monkeypatch.setattr(ImportStore, "update_operation", real)
        advance_phase(store, files, CELL, operation.id, phase)  # Step Functions' retry
        advance_phase(store, files, CELL, operation.id, phase)  # and a duplicate delivery
    assert store.latest_operation(CELL).step is ProgressStep.DONE


def test_3_staging_repeated_after_it_moved_the_operation_on_answers_staged(store, files, executions):
    upload(files, "snap", zipped({"users.jsonl": users_jsonl(60)}))
    operation = start_snapshot_import(store, files, executions, CELL, "snap", "operator")
    first = stage_all(store, files, operation.id)
    again = stage_input(
        store, files, CELL, operation.id, out_of_time=lambda: False, concurrency=1, reconcile_after=RECONCILE_AFTER
    )
    assert again == first
    staged = store.latest_operation(CELL)
    assert staged.step is ProgressStep.IMPORTING_USERS
    assert staged.stage_cursor is None  # dropped once staged: every batch count rewrites this item


def test_3_failing_twice_or_after_a_cancel_is_idempotent_and_tells_a_stop_from_a_failure(store, files, executions):
    operation = start_records_import(store, files, executions, CELL, [{"type": "user", **user(1)}], None, "op")
    error = {"Error": "States.ExceedToleratedFailureThreshold", "Cause": "{}"}
    assert fail_operation(store, CELL, operation.id, error)["stopped"] is False
    assert fail_operation(store, CELL, operation.id, error)["stopped"] is False
    assert store.latest_operation(CELL).step is ProgressStep.IMPORT_FAILED

    other = start_records_import(store, files, executions, CELL, [{"type": "user", **user(2)}], None, "op")
    cancel(store, executions, other)
    # A canceled import's Map fails with States.ExceedToleratedFailureThreshold on AWS: still a stop.
    assert fail_operation(store, CELL, other.id, error)["stopped"] is True
    assert store.latest_operation(CELL).step is ProgressStep.IMPORT_CANCELLED


def test_6_floats_nesting_and_oversize_lines_fail_alone_with_their_file_and_line(store, files, executions):
    lines = [
        {"type": "user", **user(0), "utcOffset": 5.5, "customFields": {"ratio": [0.25, {"deep": 1.5}]}},
        {"type": "user", **user(1), "bio": "x" * (MAX_RECORD_BYTES + 10)},
        {"type": "user", **user(2), "customFields": json.loads("[" * 40 + "]" * 40)},
        {"type": "user", **user(3), "customFields": {"big": 1e300}},
        {"type": "user", **user(4)},
    ]
    content = (
        "\n".join(json.dumps(line) for line in lines).encode()
        + b"\n"
        + b'{"type":"user","username":"nan","emails":["n@example.com"],"utcOffset":NaN}\n'
    )
    upload(files, "odd", zipped({"users.jsonl": content}))
    operation = start_snapshot_import(store, files, executions, CELL, "odd", "operator")
    run_worker(store, files, operation.id)

    assert counts(store) == (2, 4, 6)
    failed = {record.source: record.error for record in store.failed_records(operation.id, 10).items}
    assert set(failed) == {"users.jsonl:2", "users.jsonl:3", "users.jsonl:4", "users.jsonl:6"}
    assert "too large" in failed["users.jsonl:2"] and "nested too deep" in failed["users.jsonl:3"]
    assert "out of range" in failed["users.jsonl:4"] and "not finite" in failed["users.jsonl:6"]
    assert entry_exists(store, "user", "user0")


def test_6_a_snapshot_replaced_during_its_import_fails_it_instead_of_mixing_versions(store, files, executions):
    upload(files, "snap", zipped({"users.jsonl": users_jsonl(10)}))
    operation = start_snapshot_import(store, files, executions, CELL, "snap", "operator")
    files.put(snapshot_key(CELL, "snap"), zipped({"users.jsonl": users_jsonl(20)}))
    with pytest.raises(Exception) as raised:
        stage_input(
            store, files, CELL, operation.id, out_of_time=lambda: False, concurrency=1, reconcile_after=RECONCILE_AFTER
        )
    error = {"Error": type(raised.value).__name__, "Cause": json.dumps({"errorMessage": str(raised.value)})}
    assert failure_of(error).code == SOURCE_CHANGED


def test_6_failed_records_spread_over_the_index_shards_and_page_in_line_order(store, files, executions):
    invalid = {3 + 50 * batch + batch for batch in range(FAILED_SHARDS)}  # one in each of 8 batches
    records = [
        {"type": "user", **(user(n) | ({"emails": []} if n in invalid else {}))} for n in range(50 * FAILED_SHARDS)
    ]
    operation = start_records_import(store, files, executions, CELL, records, None, "op")
    run_worker(store, files, operation.id)
    shards = {
        item["failedOf"]["S"]
        for item in boto3.client("dynamodb").scan(
            TableName=store.table_name, FilterExpression="attribute_exists(failedOf)"
        )["Items"]
    }
    assert len(shards) == FAILED_SHARDS
    seen, start = [], None
    while True:
        page = store.failed_records(operation.id, 3, start)
        seen += [record.seq for record in page.items]
        if (start := page.next_key) is None:
            break
    assert seen == sorted(invalid)


def test_6_add_users_that_lost_the_race_to_import_run_is_refused(store, files, executions):
    rocketchat_new(store, executions, CELL, "admin")
    rocketchat_add_users(store, CELL, [user(n) for n in range(3)])
    ready = store.latest_operation(CELL)
    rocketchat_run(store, executions, CELL)
    with pytest.raises(ImportServiceError, match=CANNOT_RECEIVE):
        rocketchat_add_users(store, CELL, [user(9)], latest=ready)  # read before the run
    assert store.latest_operation(CELL).count.total == 3


def test_6_the_sweeper_fails_only_what_it_read_unchanged(store, files, executions, monkeypatch):
    operation = start_records_import(
        store, files, executions, CELL, [{"type": "user", **user(n)} for n in range(60)], None, "op"
    )
    stage_all(store, files, operation.id)
    as_read = store.stalled_operations(utc_now() + timedelta(hours=2))
    import_batch(store, files, CELL, operation.id, RecordType.USER, 0)  # progress after the sweeper's read
    monkeypatch.setattr(ImportStore, "stalled_operations", lambda self, before: as_read)
    swept = sweep_after(store, files, executions, 120, stalled_after=60)
    assert swept.failed == [] and store.latest_operation(CELL).is_active


class ProcessDeath(BaseException):
    """The API's process died (no `except Exception` runs)."""


class DiesBeforeStarting:
    def start(self, cell: str, operation_id: str) -> str:
        raise ProcessDeath

    def execution_arn(self, operation_id: str) -> str:
        return f"arn:aws:states:us-east-1:123456789012:execution:import:{operation_id}"

    def stop(self, execution_arn: str, cause: str) -> None: ...


def test_6_an_import_whose_start_died_before_its_execution_is_started_by_the_sweeper(store, files, executions):
    with pytest.raises(ProcessDeath):  # between the operation's write and StartExecution
        start_records_import(store, files, DiesBeforeStarting(), CELL, [{"type": "user", **user(1)}], None, "op")
    stuck = store.latest_operation(CELL)
    assert stuck.is_active and stuck.execution_arn is None

    assert sweep_after(store, files, executions, 1).started == []
    swept = sweep_after(store, files, executions, 3)
    assert [operation.id for operation in swept.started] == [stuck.id]
    assert executions.started == [(CELL, stuck.id)]
    assert store.latest_operation(CELL).execution_arn is not None


def test_the_state_machine_routes_every_failure_through_failed_which_tells_a_stop(store):
    asl = json.loads(Path("statemachine/import.asl.json").read_text())
    states = asl["States"]
    for name, state in states.items():
        if state["Type"] in ("Task", "Map") and name != "Failed":
            assert state["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}], name
        if state["Type"] == "Map":
            assert state["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject", name
    assert states["Failed"]["Next"] == "Stopped?"
    assert states["Stopped?"]["Choices"][0]["Next"] == "Stopped" and states["Stopped?"]["Default"] == "ImportFailed"
