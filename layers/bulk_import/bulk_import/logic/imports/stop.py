"""Stopping imports: cancel (the native API, Rocket.Chat) and clear (a new Rocket.Chat import)."""

from __future__ import annotations

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.dynamodb.operation_items import LatestChanged
from bulk_import.domain.operation import (
    ACTIVE_STEPS,
    ImportOperation,
    ProgressStep,
)
from bulk_import.logic.imports.errors import NotCancelable
from bulk_import.logic.imports.launch import UNREAD, Executions, Latest, read_latest


def cancel(
    store: ImportStore, executions: Executions, operation: ImportOperation, *, latest: Latest = UNREAD
) -> ImportOperation:
    """Cancels `operation` if it is still loading or importing (/v1 cancel). A repeat (a client
    retrying a call whose answer it lost) answers the canceled operation again."""
    if operation.step == ProgressStep.IMPORT_CANCELLED and operation.valid:
        return operation
    if not operation.is_active:
        raise NotCancelable(f"The import is {operation.state.value}; only a loading or importing one can be canceled.")
    stopped = stop(store, executions, operation.cell, clear=False, latest=latest)
    if stopped is None or stopped.id != operation.id or stopped.step != ProgressStep.IMPORT_CANCELLED:
        raise NotCancelable("The import ended before it could be canceled.")
    return stopped


def stop(
    store: ImportStore, executions: Executions, cell: str, *, clear: bool, latest: Latest = UNREAD
) -> ImportOperation | None:
    """Stops the cell's latest operation within one batch: the conditional update makes every batch
    that finishes afterwards uncountable, and StopExecution ends the state machine.

    A cancel ends it as canceled; a clear (Rocket.Chat's) only invalidates it, which Rocket.Chat
    reports as error. Either way its records never imported count as errors: at once if no batch
    ever ran, else once the batches in flight have counted what they imported (ended_early).
    """
    latest = read_latest(store, cell, latest)
    if latest is None or not latest.valid:
        return latest
    changes = {"valid": False} if clear else {"step": ProgressStep.IMPORT_CANCELLED}
    # Decided on what was read: the condition holds the operation to the steps it was read in.
    in_flight = latest.is_active or latest.reconcile_pending
    from_steps = ACTIVE_STEPS if latest.is_active else frozenset({latest.step})
    try:
        stopped = store.update_operation(
            latest, from_steps=from_steps, ended_early=in_flight, settle_unprocessed=not in_flight, **changes
        )
    except LatestChanged as changed:
        return changed.current
    if latest.is_active:  # its execution is named after it, whether or not its worker recorded it yet
        executions.stop(
            latest.execution_arn or executions.execution_arn(latest.id), "canceled" if not clear else "cleared"
        )
    elif latest.step == ProgressStep.USER_SELECTION and latest.execution_arn is not None:
        executions.stop(latest.execution_arn, "cleared")  # a prepared file's, waiting for its selection
    return stopped
