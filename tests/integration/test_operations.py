"""Operations on moto: retry of failed records only, history and error pages, heartbeat, TTL,
progress marks and the stalled-import sweeper."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bulk_import.dal.dynamodb.record_items import STAGING_GRACE
from bulk_import.domain.operation import ImportState, ProgressStep, utc_now
from bulk_import.logic.imports.errors import InvalidCorrections, NotCancelable, NotRetryable, OperationBusy
from bulk_import.logic.imports.retry import retry
from bulk_import.logic.imports.start import start_records_import
from bulk_import.logic.imports.stop import cancel
from bulk_import.logic.worker.sweep import STALLED, Sweep
from tests.support.records import user, users
from tests.support.worker import CELL, RECONCILE_AFTER, import_done, run_worker, sweep_after


def test_retry_imports_only_the_failed_records_corrected_and_the_totals_add_up(store, files, executions):
    parent = import_done(store, files, executions, users(120, invalid={3, 60, 61, 119}))
    assert (parent.count.completed, parent.count.error) == (116, 4)

    corrections = {"user:60": user(60), "user:119": user(119)}
    child = retry(store, files, executions, parent, corrections, "op")
    assert child.parent_id == parent.id and executions.started[-1] == (CELL, child.id)
    run_worker(store, files, child.id)

    child = store.latest_operation(CELL)
    assert child.step is ProgressStep.DONE
    assert (child.count.total, child.count.completed, child.count.error) == (4, 2, 2)
    assert parent.count.completed + child.count.completed + child.count.error == parent.count.total
    still_failing = store.failed_records(child.id, 10).items
    # The records keep their source line; the uncorrected ones fail again.
    assert [(r.source, r.error_code) for r in still_failing] == [
        ("records.jsonl:4", "invalid-record"),
        ("records.jsonl:62", "invalid-record"),
    ]
    # The parent keeps its own failures (kept as long as it is).
    assert len(store.failed_records(parent.id, 10).items) == 4


def test_retrying_a_canceled_import_takes_its_failed_and_its_unprocessed_records(store, files, executions):
    from bulk_import.domain.records.staged import RecordType
    from bulk_import.logic.worker.batch import import_batch
    from bulk_import.logic.worker.stage import stage_input

    started = start_records_import(store, files, executions, CELL, users(180, invalid={10, 120}), None, "op")
    stage_input(
        store, files, CELL, started.id, out_of_time=lambda: False, concurrency=1, reconcile_after=RECONCILE_AFTER
    )
    import_batch(store, files, CELL, started.id, RecordType.USER, 0)  # users 0-49: user10 fails
    import_batch(store, files, CELL, started.id, RecordType.USER, 2)  # users 100-149: user120 fails
    parent = cancel(store, executions, store.latest_operation(CELL))
    assert (parent.count.completed, parent.count.error) == (98, 2)  # settled later

    child = retry(store, files, executions, parent, {"user:120": user(120)}, "op")
    run_worker(store, files, child.id)  # settles the parent's counts first
    parent = store.operation(CELL, parent.id)
    assert (parent.count.completed, parent.count.error) == (98, 82)  # 2 failed + 80 never processed

    child = store.latest_operation(CELL)
    assert (child.count.total, child.count.completed, child.count.error) == (82, 81, 1)
    assert parent.count.completed + child.count.completed + child.count.error == parent.count.total
    (still_failing,) = store.failed_records(child.id, 10).items
    assert still_failing.source == "records.jsonl:11"
    # Every user is imported once, across parent and child, except the one never corrected.
    missing = [
        n
        for n in range(180)
        if "Item"
        not in store.client.get_item(
            TableName=store.table_name, Key={"PK": {"S": f"USER#{CELL}#user{n}"}, "SK": {"S": "USER"}}
        )
    ]
    assert missing == [10]


def test_only_the_latest_ended_import_with_failures_can_be_retried(store, files, executions):
    clean = import_done(store, files, executions, users(3, invalid=set()))
    with pytest.raises(NotRetryable, match="No record"):
        retry(store, files, executions, clean, {}, "op")
    failed_once = import_done(store, files, executions, users(3, invalid={1}))
    child = retry(store, files, executions, failed_once, {}, "op")
    with pytest.raises(OperationBusy):
        retry(store, files, executions, failed_once, {}, "op")
    run_worker(store, files, child.id)
    with pytest.raises(NotRetryable, match="newer"):
        retry(store, files, executions, failed_once, {}, "op")


def test_corrections_must_name_failed_records_and_be_valid(store, files, executions):
    parent = import_done(store, files, executions, users(5, invalid={2}))
    with pytest.raises(InvalidCorrections) as refused:
        retry(store, files, executions, parent, {"user:0": user(0), "user:2": {"username": "x"}}, "op")
    assert refused.value.problems == ["user:2: emails: is required", f"user:0: not a failed record of {parent.id}"]
    assert store.latest_operation(CELL).id == parent.id  # nothing started


def test_history_pages_follow_the_start_key_newest_first_and_filter_by_state(store, files, executions):
    ids = [import_done(store, files, executions, users(2, invalid=set())).id for _ in range(5)]
    pages, start = [], None
    while True:
        page = store.operations(CELL, 2, start)
        pages.append([operation.id for operation in page.items])
        start = page.next_key
        if start is None:
            break
    assert [i for page in pages for i in page] == ids[::-1]
    assert all(len(page) <= 2 for page in pages)
    cancel_target = start_records_import(store, files, executions, CELL, users(2, invalid=set()), None, "op")
    cancel(store, executions, cancel_target)
    assert [o.id for o in store.operations(CELL, 10, state=ImportState.CANCELED).items] == [cancel_target.id]
    assert [o.id for o in store.operations(CELL, 10, state=ImportState.DONE).items] == ids[::-1]
    again = cancel(store, executions, store.latest_operation(CELL))  # a client's retry: the same answer
    assert (again.id, again.state) == (cancel_target.id, ImportState.CANCELED)
    with pytest.raises(NotCancelable):
        cancel(store, executions, store.operation(CELL, ids[-1]))  # done: nothing to cancel


def test_a_cancel_read_before_the_import_ended_answers_it_ended_without_another_read(
    store, files, executions, monkeypatch
):
    running = start_records_import(store, files, executions, CELL, users(3, invalid=set()), None, "op")
    run_worker(store, files, running.id)
    monkeypatch.setattr(type(store), "latest_operation", lambda *a: pytest.fail("read again"))
    with pytest.raises(NotCancelable, match="ended before"):
        cancel(store, executions, running, latest=running)  # both read while it ran
    monkeypatch.undo()
    assert store.latest_operation(CELL).state is ImportState.DONE and executions.stopped == []


def test_failed_records_page_in_type_and_line_order(store, files, executions):
    parent = import_done(store, files, executions, users(30, invalid={1, 5, 9, 12, 20, 29}))
    seen, start = [], None
    while True:
        page = store.failed_records(parent.id, 4, start)
        seen += [record.record_id for record in page.items]
        if page.next_key is None:
            break
        start = page.next_key
    assert seen == ["user:1", "user:5", "user:9", "user:12", "user:20", "user:29"]


def test_finished_operations_and_staged_records_expire_after_the_retention(store, files, executions):
    before = utc_now()
    done = import_done(store, files, executions, users(3, invalid={0}))
    assert done.finished_at >= before
    assert done.expires_at - done.finished_at == pytest.approx(store.retention, abs=timedelta(seconds=1))
    item = store.client.get_item(
        TableName=store.table_name, Key={"PK": {"S": f"STAGE#{done.id}#user#00000000"}, "SK": {"S": "0000000000"}}
    )["Item"]
    assert int(item["expiresAt"]["N"]) >= (before + store.retention + STAGING_GRACE).timestamp() - 1


def test_the_worker_beats_and_marks_progress_and_an_active_import_is_indexed_until_it_ends(store, files, executions):
    operation = start_records_import(store, files, executions, CELL, users(60, invalid=set()), None, "op")
    assert [o.id for o in store.stalled_operations(utc_now() + timedelta(seconds=1))] == [operation.id]
    run_worker(store, files, operation.id)
    done = store.latest_operation(CELL)
    assert done.heartbeat_at > operation.heartbeat_at
    assert done.mark is not None and done.mark.processed == 50  # the first batch's count, marked after it
    assert store.stalled_operations(utc_now() + timedelta(days=1)) == []


def test_the_sweeper_fails_only_imports_stalled_past_the_limit(store, files, executions):
    operation = start_records_import(store, files, executions, CELL, users(3, invalid=set()), None, "op")
    operation = store.update_operation(
        operation,
        from_steps=frozenset({operation.step}),
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:import:x",
    )
    assert sweep_after(store, files, executions, 59, stalled_after=60) == Sweep([], [], [])
    shown = sweep_after(store, files, executions, 30)
    assert ([o.id for o in shown.stalled], shown.failed, shown.started) == ([operation.id], [], [])

    (failed,) = sweep_after(store, files, executions, 61, stalled_after=60).failed

    assert failed.id == operation.id and failed.step is ProgressStep.IMPORT_FAILED
    assert failed.failure.code == STALLED and "no progress since" in failed.failure.message
    assert failed.count.completed + failed.count.error == failed.count.total
    assert executions.stopped == [operation.execution_arn]
    # It stays listed until a later run reconciles it, once no attempt of its batches can still run.
    later = sweep_after(store, files, executions, 70, stalled_after=60)
    assert [o.id for o in later.reconciled] == [operation.id] and later.failed == []
    assert store.stalled_operations(utc_now() + timedelta(days=1)) == []


def test_a_crashing_batch_raises_only_once_every_request_of_its_records_has_ended(
    store, files, executions, monkeypatch
):
    import threading
    import time

    from bulk_import.dal.dynamodb import ImportStore
    from bulk_import.domain.records.staged import RecordType
    from bulk_import.logic.worker.batch import import_batch
    from bulk_import.logic.worker.stage import stage_input

    operation = start_records_import(store, files, executions, CELL, users(50, invalid=set()), None, "op")
    stage_input(
        store, files, CELL, operation.id, out_of_time=lambda: False, concurrency=1, reconcile_after=RECONCILE_AFTER
    )
    real, finished, lock = ImportStore._insert, [], threading.Lock()

    def slow_or_crashing(self, cell, entries):  # a request of 25 INSERTs
        if entries[0].identity == "user0":
            raise RuntimeError("crash")
        time.sleep(0.1)
        result = real(self, cell, entries)
        with lock:
            finished.extend(entry.identity for entry in entries)
        return result

    monkeypatch.setattr(ImportStore, "_insert", slow_or_crashing)
    with pytest.raises(RuntimeError, match="crash"):
        import_batch(store, files, CELL, operation.id, RecordType.USER, 0)
    settled = len(finished)
    time.sleep(0.3)
    assert settled == len(finished) == 25
