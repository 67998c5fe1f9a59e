"""Phase: move the operation to its next import phase, finish it, or record why it failed."""

from __future__ import annotations

import json

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.dynamodb.operation_items import OperationConflict
from bulk_import.dal.public_urls import (
    FetchFailed,
    FetchTimedOut,
    ResponseTooLarge,
    SsrfValidationFailed,
    TooManyRedirects,
    UnexpectedStatus,
)
from bulk_import.dal.s3 import (
    ImportFiles,
    SourceChanged,
)
from bulk_import.domain.operation import (
    ACTIVE_STEPS,
    Failure,
    ProgressStep,
    download_failure,
)
from bulk_import.domain.records.staged import RecordType
from bulk_import.logic.imports.launch import Executions
from bulk_import.logic.worker.steps import NEXT_PHASE, OperationStopped, ended_early, move, reference
from bulk_import.readers.lines import MalformedInput

UNKNOWN_FAILURE = "PR500-SV-0000"


MALFORMED_INPUT = "PR400-BI-0006"  # Personium's "[{0}] file format error."


SOURCE_CHANGED = "PR409-BI-0008"


#: The errors a download fails with (dal/public_urls.py), by the name Step Functions reports.
_DOWNLOAD_ERRORS = frozenset(
    error.__name__
    for error in (
        SsrfValidationFailed,
        FetchFailed,
        UnexpectedStatus,
        ResponseTooLarge,
        FetchTimedOut,
        TooManyRedirects,
    )
)


SELECTION_TIMED_OUT = Failure(
    code="PR408-BI-0009",
    message="No selection was made within 7 days of the file being prepared (startImport); upload it again.",
)


def advance_phase(store: ImportStore, files: ImportFiles, cell: str, operation_id: str, phase: str) -> dict:
    """Moves the operation from one import phase to the next, or finishes it. Every move is
    idempotent (move), so a repeated or retried phase task succeeds."""
    if phase in NEXT_PHASE:
        from_step, to_step = NEXT_PHASE[phase]
        operation = move(store, cell, operation_id, frozenset({from_step}), to_step)
        return {"operation": reference(operation)}
    # Downloads (pending files and avatars) run in importing files throughout (steps.importing_step).
    operation = move(
        store,
        cell,
        operation_id,
        frozenset({ProgressStep.IMPORTING_MESSAGES, ProgressStep.IMPORTING_FILES}),
        ProgressStep.FINISHING,
    )
    if operation.step == ProgressStep.FINISHING:
        if operation.count.processed != operation.count.total:
            raise RuntimeError(f"counts do not add up: {operation.count}")
        files.delete_manifests(operation.id, [record_type.value for record_type in RecordType])
        operation = move(store, cell, operation_id, frozenset({ProgressStep.FINISHING}), ProgressStep.DONE)
    return {"operation": reference(operation)}


def await_selection(store: ImportStore, executions: Executions, cell: str, operation_id: str, token: str) -> dict:
    """AwaitSelection: records the task token the execution now waits on, for startImport to send
    back. If startImport moved the operation on first (it found no token to send), the task sends
    its own token back, so that neither order leaves the execution waiting; the operation's item is
    written in one order or the other (a conditional write each), so one of the two always sees the
    other's. An operation that ended meanwhile stops the execution (OperationStopped)."""
    if store.await_selection(cell, operation_id, token):
        return {"operation": {"cell": cell, "id": operation_id}}
    operation = store.latest_operation(cell)
    if operation is None or operation.id != operation_id or ended_early(operation) or not operation.is_active:
        raise OperationStopped(operation_id)
    executions.resume(token)
    return {"operation": reference(operation)}


def fail_operation(store: ImportStore, cell: str, operation_id: str, error: dict[str, str]) -> dict:
    """Records why the worker failed (the state machine's Catch output: Error and Cause), unless the
    operation ended otherwise first (canceled, cleared, replaced): then `stopped` is true and the
    execution ends as stopped, whatever error name the stop surfaced as (a Distributed Map reports
    its children's failures as States.ExceedToleratedFailureThreshold). Idempotent."""
    for _ in range(3):
        operation = store.latest_operation(cell)
        if (
            operation is None
            or operation.id != operation_id
            or ended_early(operation)
            or operation.step == ProgressStep.DONE
        ):
            failed = (
                operation is not None
                and operation.id == operation_id
                and operation.valid
                and operation.step == ProgressStep.IMPORT_FAILED
            )
            return {"operation": {"cell": cell, "id": operation_id}, "stopped": not failed}
        try:
            store.update_operation(
                operation,
                # An operation waiting for its selection fails when the wait times out.
                from_steps=ACTIVE_STEPS | {ProgressStep.USER_SELECTION},
                step=ProgressStep.IMPORT_FAILED,
                failure=failure_of(error),
                ended_early=True,
            )
        except OperationConflict:
            continue  # it moved meanwhile (a batch counted, or it ended): look again
        return {"operation": reference(operation), "stopped": False}
    raise OperationConflict(cell)


def failure_of(error: dict[str, str]) -> Failure:
    """The operation's failure message for a Step Functions error (Error name, Cause JSON text)."""
    name, cause = error.get("Error", ""), error.get("Cause", "")
    if name == MalformedInput.__name__:
        return Failure(code=MALFORMED_INPUT, message=f"[{_error_message(cause)}] file format error.")
    if name in _DOWNLOAD_ERRORS:
        return download_failure(_error_message(cause))
    if name == "States.Timeout":  # only AwaitSelection has a timeout
        return SELECTION_TIMED_OUT
    if name == SourceChanged.__name__:
        return Failure(
            code=SOURCE_CHANGED,
            message=f"The input file was replaced during the import "
            f"({_error_message(cause)}); start it again to import the new one.",
        )
    return Failure(code=UNKNOWN_FAILURE, message=f"Unknown error. ({name})")


def _error_message(cause: str) -> str:
    try:
        return json.loads(cause)["errorMessage"]
    except (ValueError, KeyError, TypeError):
        return cause
