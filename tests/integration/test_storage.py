"""The store's writes: starting an operation moves the previous one aside, atomically and only once."""

import pytest

from bulk_import.model import ImportOperation, ProgressStep, new_operation_id, utc_now
from bulk_import.storage import OperationConflict


def operation(cell="demo", step=ProgressStep.DONE):
    now = utc_now()
    return ImportOperation(id=new_operation_id(), cell=cell, type="api", importer_key="api", step=step,
                           started_at=now, updated_at=now, user="u")


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
    store.put_latest_operation(first.model_copy(update={"step": ProgressStep.IMPORTING_USERS, "updated_at": utc_now()}))
    with pytest.raises(OperationConflict):
        store.start_operation(operation(), first)
    assert store.latest_operations("demo", 5)[0].step is ProgressStep.IMPORTING_USERS


def test_updating_an_operation_that_is_no_longer_the_latest_fails(store):
    first, second = operation(), operation()
    store.start_operation(first, None)
    store.start_operation(second, first)
    with pytest.raises(OperationConflict):
        store.put_latest_operation(first)


def test_put_cell_reports_whether_it_created_the_cell(store):
    assert store.put_cell("demo") is True
    assert store.put_cell("demo") is False
