"""Contention, throttling and index lag as AWS answers them, injected at the SDK boundary. One retry
layer: botocore retries throttling and 5xx (faults `via_http`, answering its HTTP attempts), the store
only what botocore does not (transaction conflicts, statements refused one by one, unprocessed items
and keys), a few times and within the deadline; a throttle botocore gave up on (a fault raised from
the call) is the table being unavailable (StoreUnavailable), not sent again. Nothing the worker
counts depends on an index being current."""

from __future__ import annotations

import itertools
import time

import pytest
from botocore.exceptions import ClientError

from bulk_import.dal.dynamodb.directory_items import directory_key
from bulk_import.domain.deadline import BOTOCORE_ATTEMPTS, STORE_ATTEMPTS, Deadline, bounded_by
from bulk_import.domain.errors import StoreUnavailable
from bulk_import.domain.records.staged import RecordType
from bulk_import.logic.imports.retry import retry
from bulk_import.logic.imports.start import start_records_import
from bulk_import.logic.imports.stop import cancel
from bulk_import.logic.worker.batch import import_batch
from bulk_import_local.sdk_boundary import Fault, SdkBoundary
from tests.support.records import users
from tests.support.worker import CELL, import_done, run_worker, stage_all


@pytest.fixture
def boundary(store):
    boundary = SdkBoundary(strict=True)
    undo = boundary.install()
    yield boundary
    undo()


def test_a_batch_count_that_meets_transaction_conflicts_is_retried_and_counted_once(store, files, executions, boundary):
    operation = start_records_import(store, files, executions, CELL, users(100, invalid={5}), None, "op")
    stage_all(store, files, operation.id)
    boundary.inject(Fault("dynamodb", "TransactWriteItems", code="TransactionCanceledException", times=3))
    import_batch(store, files, CELL, operation.id, RecordType.USER, 0)
    assert len(boundary.fired) == 3
    latest = store.latest_operation(CELL)
    assert (latest.count.completed, latest.count.error) == (49, 1)


def test_cancel_on_a_busy_operation_item_is_retried_not_answered_500(store, files, executions, boundary):
    operation = start_records_import(store, files, executions, CELL, users(10), None, "op")
    boundary.inject(Fault("dynamodb", "UpdateItem", code="TransactionConflictException", times=2))  # the store's
    boundary.inject(Fault("dynamodb", "*", code="ThrottlingException", times=2, via_http=True))  # botocore's
    canceled = cancel(store, executions, operation)
    assert canceled.step.value == "importer_import_cancelled" and len(boundary.fired) == 4


def test_a_throttle_botocore_gave_up_on_is_not_sent_again(store, files, executions, boundary):
    start_records_import(store, files, executions, CELL, users(10), None, "op")
    boundary.inject(Fault("dynamodb", "*", code="ProvisionedThroughputExceededException"))
    before = len(boundary.calls)
    with pytest.raises(StoreUnavailable, match="ProvisionedThroughputExceededException"):
        store.latest_operation(CELL)
    assert len(boundary.calls) - before == 1


def test_a_throttled_table_gets_at_most_botocores_attempts_of_a_request(store, files, executions, boundary):
    start_records_import(store, files, executions, CELL, users(10), None, "op")
    boundary.inject(Fault("dynamodb", "*", code="ThrottlingException", times=10**6, via_http=True))
    with pytest.raises(StoreUnavailable, match="ThrottlingException"):
        store.latest_operation(CELL)  # botocore waits up to 1 + 2 + 4 s between its attempts
    assert len(boundary.fired) == BOTOCORE_ATTEMPTS  # its 4 attempts, and none more from the store


def test_botocore_retries_no_further_than_the_deadline(store, files, executions, boundary):
    start_records_import(store, files, executions, CELL, users(10), None, "op")
    boundary.inject(Fault("dynamodb", "*", code="ThrottlingException", times=10**6, via_http=True))
    deadline = Deadline.after(5)  # attempts take <= 3 s: a first retry (its wait <= 1 s) fits, a second (2 s) not
    with bounded_by(deadline), pytest.raises(StoreUnavailable, match="ThrottlingException"):
        store.latest_operation(CELL)
    assert len(boundary.fired) == 2 and deadline.remaining() > 0
    with bounded_by(Deadline.after(2.9)), pytest.raises(StoreUnavailable, match="no time left"):
        store.latest_operation(CELL)  # less than an attempt left: not sent at all
    assert len(boundary.fired) == 2


def test_a_conditional_failure_is_not_retried(store, files, executions, boundary):
    operation = start_records_import(store, files, executions, CELL, users(10), None, "op")
    cancel(store, executions, operation)
    before = len(boundary.calls)
    with pytest.raises(ClientError):  # an import that ended cannot be counted into: no retry loop
        store.client.update_item(
            TableName=store.table_name,
            Key={"PK": {"S": "x"}, "SK": {"S": "y"}},
            UpdateExpression="SET a = :a",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues={":a": {"S": "b"}},
        )
    assert len(boundary.calls) - before == 1


def every_other():
    """Picks every other item it is shown, from the first."""
    shown = itertools.count()
    return lambda item: next(shown) % 2 == 0


def all_but_the_first_of_each_request():
    """Picks every item of a BatchWriteItem but its first (the items of one request come in key
    order, and what is sent again too): each send lands one item."""
    previous: list[str] = []

    def pick(item):
        key = item["PutRequest"]["Item"]["SK"]["S"]
        first = not previous or key <= previous[-1]
        previous.append(key)
        return not first

    return pick


def test_unprocessed_batch_writes_are_sent_again_until_they_land(store, files, executions, boundary):
    operation = start_records_import(
        store, files, executions, CELL, users(50, invalid=set(range(0, 50, 2))), None, "op"
    )
    stage_all(store, files, operation.id)
    boundary.inject(
        Fault(
            "dynamodb",
            "BatchWriteItem",
            code="ProvisionedThroughputExceededException",
            unprocessed=every_other(),
            times=3,
        )
    )
    import_batch(store, files, CELL, operation.id, RecordType.USER, 0)
    assert len(boundary.fired) == 3
    assert len(store.failed_records(operation.id, 100).items) == 25  # the failed records, all kept


def test_items_left_unprocessed_past_the_stores_attempts_fail_the_attempt_and_its_retry_counts_once(
    store, files, executions, boundary
):
    operation = start_records_import(
        store, files, executions, CELL, users(50, invalid=set(range(0, 50, 2))), None, "op"
    )
    stage_all(store, files, operation.id)
    boundary.inject(
        Fault(
            "dynamodb",
            "BatchWriteItem",
            code="ProvisionedThroughputExceededException",
            unprocessed=all_but_the_first_of_each_request(),
            times=10**6,
        )
    )
    before = len(boundary.calls)
    with pytest.raises(StoreUnavailable, match="unprocessed"):  # the task's attempt fails; Step Functions retries
        import_batch(store, files, CELL, operation.id, RecordType.USER, 0)
    writes = [call for call in boundary.calls[before:] if call.operation == "BatchWriteItem"]
    assert len(writes) == STORE_ATTEMPTS  # then no more
    boundary.clear_faults()

    import_batch(store, files, CELL, operation.id, RecordType.USER, 0)  # the retry
    latest = store.latest_operation(CELL)
    assert (latest.count.completed, latest.count.error) == (25, 25)
    assert len(store.failed_records(operation.id, 100).items) == 25


def test_a_retry_of_failed_records_misses_none_while_the_errors_index_lags(store, files, executions):
    lagging = SdkBoundary(strict=True, index_lag=3600)  # an index shows no item written in the last hour
    undo = lagging.install()
    try:
        parent = import_done(store, files, executions, users(150, invalid={3, 70, 149}))
        assert store.failed_records(parent.id, 10).items == []  # what the index shows now
        child = retry(store, files, executions, parent, {}, "op")
        run_worker(store, files, child.id)
    finally:
        undo()
    done = store.latest_operation(CELL)
    assert (done.count.total, done.count.error) == (3, 3)


def entries_of(store, count: int) -> list[str]:
    """The users of CELL whose entries exist, of user0..user<count - 1>, and the record that made each."""
    found = store._batch_get([directory_key(CELL, "user", f"user{n}") for n in range(count)])
    return sorted(item["importedFrom"].rpartition("#")[2] for item in found.values())


def test_inserts_dynamodb_refuses_one_by_one_are_sent_again_alone_and_counted_once(store, files, executions, boundary):
    operation = start_records_import(store, files, executions, CELL, users(50, invalid={7}), None, "op")
    stage_all(store, files, operation.id)
    # The two requests go at once, in either order: the faults pick them by their size.
    odd = lambda statement: int(statement["Parameters"][0]["S"].rpartition("user")[2]) % 2 == 1  # noqa: E731
    boundary.inject(
        Fault(
            "dynamodb",
            "BatchExecuteStatement",
            code="ThrottlingError",
            statements=odd,
            times=2,
            when=lambda params: len(params["Statements"]) > 12,
        )
    )
    boundary.inject(
        Fault(
            "dynamodb",
            "BatchExecuteStatement",
            code="TransactionConflict",
            statements=lambda statement: True,
            when=lambda params: len(params["Statements"]) == 12,
        )
    )
    import_batch(store, files, CELL, operation.id, RecordType.USER, 0)

    assert len(boundary.fired) == 3
    sent = [len(call.params["Statements"]) for call in boundary.calls if call.operation == "BatchExecuteStatement"]
    assert sorted(sent) == [12, 12, 12, 24, 25]  # 25 + 24; their 12 + 12 odd ones again; one of those again
    latest = store.latest_operation(CELL)
    assert (latest.count.completed, latest.count.error) == (49, 1)
    assert len(entries_of(store, 50)) == 49


def test_inserts_refused_until_the_deadline_fail_the_attempt_and_its_retry_counts_once(
    store, files, executions, boundary
):
    operation = start_records_import(store, files, executions, CELL, users(50), None, "op")
    stage_all(store, files, operation.id)
    odd = lambda statement: int(statement["Parameters"][0]["S"].rpartition("user")[2]) % 2 == 1  # noqa: E731
    boundary.inject(Fault("dynamodb", "BatchExecuteStatement", code="ThrottlingError", statements=odd, times=10**6))
    deadline = Deadline.after(4)  # a send again waits up to 2 s and may take 3: few fit
    started = time.monotonic()
    with bounded_by(deadline), pytest.raises(StoreUnavailable, match="statements refused"):
        import_batch(store, files, CELL, operation.id, RecordType.USER, 0)
    assert deadline.remaining() > 0 and time.monotonic() - started < 4
    assert store.latest_operation(CELL).count.processed == 0  # nothing counted
    boundary.clear_faults()

    import_batch(store, files, CELL, operation.id, RecordType.USER, 0)  # the retry: created once, counted once
    latest = store.latest_operation(CELL)
    assert (latest.count.completed, latest.count.error) == (50, 0)
    assert len(entries_of(store, 50)) == 50


def test_an_insert_refused_for_good_fails_the_batch_and_counts_nothing(store, files, executions, boundary):
    operation = start_records_import(store, files, executions, CELL, users(50), None, "op")
    stage_all(store, files, operation.id)
    user3 = lambda statement: statement["Parameters"][0]["S"].endswith("#user3")  # noqa: E731
    boundary.inject(
        Fault(
            "dynamodb",
            "BatchExecuteStatement",
            code="ValidationError",
            message="bad",
            statements=user3,
            when=lambda params: any(map(user3, params["Statements"])),
        )
    )
    with pytest.raises(ClientError, match="ValidationError"):
        import_batch(store, files, CELL, operation.id, RecordType.USER, 0)
    assert store.latest_operation(CELL).count.processed == 0  # the task fails and is retried; nothing counted

    import_batch(store, files, CELL, operation.id, RecordType.USER, 0)  # the retry: created once, counted once
    latest = store.latest_operation(CELL)
    assert (latest.count.completed, latest.count.error) == (50, 0)
    assert len(entries_of(store, 50)) == 50


def test_two_records_of_one_user_in_a_batch_the_first_creates_it_the_second_fails_every_attempt(
    store, files, executions
):
    records = users(50)
    records[30] = {**records[4], "name": "Another Four"}  # user4 again, later in the same batch
    operation = start_records_import(store, files, executions, CELL, records, None, "op")
    stage_all(store, files, operation.id)
    for _ in range(2):  # a duplicate delivery of the batch after it counted
        import_batch(store, files, CELL, operation.id, RecordType.USER, 0)

    latest = store.latest_operation(CELL)
    assert (latest.count.completed, latest.count.error) == (49, 1)
    assert [record.seq for record in store.failed_records(operation.id, 10).items] == [30]
    assert entries_of(store, 50).count("4") == 1 and "30" not in entries_of(store, 50)
