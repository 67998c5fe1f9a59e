"""Where an operation stands in the worker's steps, and the idempotent moves between them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.dynamodb.operation_items import OperationConflict
from bulk_import.domain.errors import BulkImportError
from bulk_import.domain.importers import downloads_of
from bulk_import.domain.operation import (
    ImportOperation,
    ProgressStep,
)
from bulk_import.domain.records.staged import RecordType
from bulk_import.logic.imports.launch import UNREAD, Latest, read_latest

#: Batches one Distributed Map child imports, one after another (a manifest item is a group of
#: them): each child started is a state transition of the parent ($25 per million) and an Express
#: request, which per batch of 50 cost more than the user writes themselves (docs/benchmarks.md).
BATCHES_PER_CHILD = 20


#: A download's batch may take most of its function's 60 s, and a child is an Express execution (5
#: minutes at most, retries included): one batch per child (docs/capacity.md).
DOWNLOAD_BATCHES_PER_CHILD = 1


def batches_per_child(operation: ImportOperation) -> int:
    """How many batches one Map child imports, one after another (a manifest item)."""
    return DOWNLOAD_BATCHES_PER_CHILD if downloads_of(operation.importer_key) else BATCHES_PER_CHILD


IMPORTING_STEP = {
    RecordType.USER: ProgressStep.IMPORTING_USERS,
    RecordType.CHANNEL: ProgressStep.IMPORTING_CHANNELS,
    RecordType.MESSAGE: ProgressStep.IMPORTING_MESSAGES,
}


PREPARING_STEP = {
    RecordType.USER: ProgressStep.PREPARING_USERS,
    RecordType.CHANNEL: ProgressStep.PREPARING_CHANNELS,
    RecordType.MESSAGE: ProgressStep.PREPARING_MESSAGES,
}


def importing_step(operation: ImportOperation, record_type: RecordType) -> ProgressStep:
    """The step in which the operation's batches of `record_type` run: every batch of downloads in
    importer_importing_files, as Rocket.Chat's pending files and avatars download."""
    return ProgressStep.IMPORTING_FILES if downloads_of(operation.importer_key) else IMPORTING_STEP[record_type]


STAGING_STEPS = frozenset(
    {
        ProgressStep.DOWNLOADING_FILE,
        ProgressStep.FILE_LOADED,
        ProgressStep.PREPARING_STARTED,
        ProgressStep.IMPORTING_STARTED,
        *PREPARING_STEP.values(),
    }
)


NEXT_PHASE = {
    "channels": (ProgressStep.IMPORTING_USERS, ProgressStep.IMPORTING_CHANNELS),
    "messages": (ProgressStep.IMPORTING_CHANNELS, ProgressStep.IMPORTING_MESSAGES),
}


class OperationStopped(BulkImportError):
    """The operation was canceled, cleared or replaced: the worker stops without failing it."""


#: Steps in the order an import walks through them: a move to a step the operation has passed is
#: a repeat of a move that happened.
_STEP_ORDER = {step: index for index, step in enumerate(ProgressStep)}


def current(store: ImportStore, cell: str, operation_id: str, latest: Latest = UNREAD) -> ImportOperation:
    """The operation, if it is still the cell's active one (`latest`: as just read); else OperationStopped."""
    operation = read_latest(store, cell, latest)
    if operation is None or operation.id != operation_id or not operation.valid or not operation.is_active:
        raise OperationStopped(operation_id)
    return operation


def moved_on_by_another(
    store: ImportStore, operation: ImportOperation, moved_on: Callable[[ImportOperation], bool]
) -> ImportOperation:
    """After a conditional write of a task found `operation` changed: the operation as another
    delivery of the same task left it (`moved_on` says what that looks like), which this delivery
    answers with; OperationStopped when it was canceled, cleared, failed or replaced instead."""
    latest = store.latest_operation(operation.cell)
    if latest is not None and latest.id == operation.id and not ended_early(latest) and moved_on(latest):
        return latest
    raise OperationStopped(operation.id)


def move(
    store: ImportStore,
    cell: str,
    operation_id: str,
    from_steps: frozenset[ProgressStep],
    to_step: ProgressStep,
    **changes: Any,
) -> ImportOperation:
    """Moves the operation from one of `from_steps` to `to_step`. Idempotent: Step Functions may run
    a transition twice, or retry one whose write landed before the function died, and such a repeat
    finds the operation there (or past it) and succeeds instead of stranding the import."""
    operation = store.latest_operation(cell)
    for _ in range(2):  # a second read explains a lost race: our own repeat, or a stop
        if operation is None or operation.id != operation_id or not operation.valid:
            raise OperationStopped(operation_id)
        if operation.step == to_step or (
            _STEP_ORDER[operation.step] > _STEP_ORDER[to_step]
            and operation.step not in (ProgressStep.IMPORT_FAILED, ProgressStep.IMPORT_CANCELLED)
        ):
            return operation
        if operation.step not in from_steps:
            raise OperationStopped(operation_id)
        try:
            return store.update_operation(operation, from_steps=from_steps, step=to_step, heartbeat=True, **changes)
        except OperationConflict:
            operation = store.latest_operation(cell)
    raise OperationStopped(operation_id)


#: Batch markers read per request when walking a parent's batches for its failed records.
MARKERS_PER_READ = 100


def reference(operation: ImportOperation) -> dict[str, str]:
    return {"cell": operation.cell, "id": operation.id}


def ended_early(operation: ImportOperation) -> bool:
    """Canceled, cleared or failed: nothing more is imported; what batches in flight imported is
    counted late, until its counts are settled (reconcile_pending)."""
    return not operation.valid or operation.step in (ProgressStep.IMPORT_FAILED, ProgressStep.IMPORT_CANCELLED)
