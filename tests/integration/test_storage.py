"""The store's writes: starting an operation moves the previous one aside, atomically and only once."""

import random
from dataclasses import replace

import pytest

from bulk_import.dal.dynamodb.operation_items import LatestChanged, OperationConflict
from bulk_import.dal.dynamodb.record_items import BatchOutcome
from bulk_import.dal.s3 import TAIL_BYTES
from bulk_import.domain.operation import Counts, ImportOperation, ProgressStep, new_operation_id, utc_now
from bulk_import.domain.records.staged import StagedRecord


def operation(cell="demo", step=ProgressStep.DONE):
    now = utc_now()
    return ImportOperation(
        id=new_operation_id(),
        cell=cell,
        type="api",
        importer_key="api",
        step=step,
        started_at=now,
        updated_at=now,
        user="u",
    )


def test_first_operation_becomes_the_latest(store):
    first = operation()
    store.start_operation(first, None)
    assert store.latest_operations("demo", 5) == [first]
    assert store.read_cell_status("demo", None).latest == first


def test_starting_again_moves_the_previous_operation_aside(store):
    first, second = operation(), operation()
    store.start_operation(first, None)
    store.start_operation(second, first)
    assert store.latest_operations("demo", 5) == [second, first]


def test_two_first_starts_on_one_cell_let_only_one_win(store):
    store.start_operation(operation(), None)
    with pytest.raises(OperationConflict):
        store.start_operation(operation(), None)


def test_a_start_based_on_a_stale_read_loses(store):
    first = operation(step=ProgressStep.USER_SELECTION)
    store.start_operation(first, None)
    store.update_operation(
        first, from_steps=frozenset({ProgressStep.USER_SELECTION}), step=ProgressStep.IMPORTING_USERS
    )
    with pytest.raises(OperationConflict):
        store.start_operation(operation(), first)
    assert store.latest_operations("demo", 5)[0].step is ProgressStep.IMPORTING_USERS


def test_updating_an_operation_that_is_no_longer_the_latest_fails(store):
    first, second = operation(), operation()
    store.start_operation(first, None)
    store.start_operation(second, first)
    with pytest.raises(OperationConflict):
        store.update_operation(first, from_steps=frozenset(ProgressStep), step=ProgressStep.IMPORT_FAILED)
    assert store.latest_operation("demo") == second


def test_a_refused_update_carries_the_latest_as_dynamodb_found_it(store):
    first, second = operation(), operation()
    store.start_operation(first, None)
    store.start_operation(second, first)
    with pytest.raises(LatestChanged) as refused:
        store.update_operation(first, from_steps=frozenset(ProgressStep), step=ProgressStep.IMPORT_FAILED)
    assert refused.value.current == store.latest_operation("demo") == second
    with pytest.raises(LatestChanged) as refused:
        store.update_operation(operation(cell="nowhere"), from_steps=frozenset(ProgressStep), valid=False)
    assert refused.value.current is None  # the cell has no operation


def test_a_refused_staging_carries_the_latest_as_dynamodb_found_it(store):
    taking = operation(step=ProgressStep.NEW)
    store.start_operation(taking, None)
    records = [StagedRecord(type="user", seq=seq, data={"username": f"u{seq}"}, source="s") for seq in range(2)]
    store.stage_api_records(taking, records, "users")
    with pytest.raises(LatestChanged) as refused:  # numbered from the counts read before the first add
        store.stage_api_records(taking, records, "users")
    assert refused.value.current == store.latest_operation("demo")
    assert refused.value.current.count.users == 2


def test_update_operation_settles_unprocessed_records_as_errors(store):
    running = replace(
        operation(step=ProgressStep.IMPORTING_USERS), count=Counts(total=120, users=120, completed=50, error=3)
    )
    store.start_operation(running, None)
    stopped = store.update_operation(
        running,
        from_steps=frozenset({ProgressStep.IMPORTING_USERS}),
        step=ProgressStep.IMPORT_CANCELLED,
        settle_unprocessed=True,
    )
    assert (stopped.count.completed, stopped.count.error, stopped.count.total) == (50, 70, 120)


def test_put_cell_reports_whether_it_created_the_cell(store):
    assert store.put_cell("demo") is True
    assert store.put_cell("demo") is False


def test_lookups_of_more_keys_than_one_batch_get_takes_are_split(store, dynamodb_requests):
    for batch in range(0, 130, 2):
        store.put_batch_outcome("op-many", "user", batch, BatchOutcome(completed=50))
    dynamodb_requests.clear()
    outcomes = store.batch_outcomes("op-many", "user", range(130))
    assert sorted(outcomes) == list(range(0, 130, 2))
    assert dynamodb_requests["BatchGetItem"] == 2  # 100 keys each at most


@pytest.mark.parametrize("size", [0, 5, 8 * 1024 * 1024, 8 * 1024 * 1024 + 1], ids=["empty", "small", "at", "above"])
def test_a_stream_is_uploaded_whole_in_one_put_up_to_8_mib_and_in_parts_above(store, size):
    import io

    from bulk_import.dal.s3 import default_files

    files, body = default_files(), bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    puts = []
    files.client.meta.events.register("before-call.s3.*", lambda model, **_: puts.append(model.name))
    stream = io.BytesIO(body)
    stream.seek(3)  # wherever the writer left it
    files.upload("exports/c/op/e-errors.csv", stream)
    assert files.client.get_object(Bucket=files.bucket, Key="exports/c/op/e-errors.csv")["Body"].read() == body
    assert puts[0] == ("PutObject" if size <= 8 * 1024 * 1024 else "CreateMultipartUpload")


@pytest.mark.parametrize("size", [0, 3, TAIL_BYTES - 1, TAIL_BYTES, TAIL_BYTES + 1, 3 * TAIL_BYTES + 5])
def test_a_file_reads_whole_and_from_any_position_whatever_its_size_against_its_end_read_first(files, size):
    body = random.Random(size).randbytes(size)
    etag = files.put("files/sized", body)
    with files.opener("files/sized", etag)() as file:
        assert file.read() == body
        for position in {0, 1, size // 2, max(size - TAIL_BYTES - 1, 0), max(size - 3, 0)}:
            file.seek(position)
            assert file.read(TAIL_BYTES // 2) == body[position : position + TAIL_BYTES // 2]
        file.seek(-min(size, 2), 2)
        assert file.read() == body[size - min(size, 2) :]
