"""Rocket.Chat's API importer (import.new, import.addUsers, import.run), as its ImportService answers."""

from __future__ import annotations

from typing import Any

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.dynamodb.operation_items import LatestChanged, OperationConflict
from bulk_import.domain.operation import (
    ImportOperation,
    ImportState,
    ProgressStep,
)
from bulk_import.domain.records.staged import StagedRecord
from bulk_import.logic.imports.errors import ImportServiceError
from bulk_import.logic.imports.launch import (
    UNREAD,
    Executions,
    Latest,
    idle_latest,
    new_operation,
    read_latest,
    replace_latest,
    start_worker,
)
from bulk_import.logic.imports.stop import stop

NOT_INITIALIZED = "Import operation not initialized."


CANNOT_RECEIVE = "The current import operation can not receive new data."


ALREADY_FINISHED = "The current import operation is already finished."


MISSING_REQUIRED_DATA = "Users are missing required data."


OPERATION_NOT_FOUND = "error-operation-not-found"


INVALID_OPERATION_STATUS = "error-invalid-operation-status"


def rocketchat_new(
    store: ImportStore, executions: Executions, cell: str, user: str, *, latest: Latest = UNREAD
) -> ImportOperation:
    """import.new: Rocket.Chat clears (and so stops) whatever runs, then creates an API operation."""
    latest = idle_latest(store, cell, stop(store, executions, cell, clear=True, latest=latest))
    return replace_latest(store, new_operation(cell, user, "api", ProgressStep.NEW), latest)


def rocketchat_add_users(
    store: ImportStore, cell: str, users: list[dict[str, Any]], *, latest: Latest = UNREAD
) -> None:
    """import.addUsers: stages users (validated when imported) and adds them to the counts."""
    if not users:
        return
    operation = _writable(read_latest(store, cell, latest))
    if any(not any(user.get("emails") or []) or not any(user.get("importIds") or []) for user in users):
        raise ImportServiceError(MISSING_REQUIRED_DATA)
    first = operation.count.users
    records = [
        StagedRecord(type="user", seq=first + index, data=user, source=f"import.addUsers:{first + index + 1}")
        for index, user in enumerate(users)
    ]
    try:
        store.stage_api_records(operation, records, "users")
    except LatestChanged as changed:
        _writable(changed.current)  # explains a state change; a concurrent add is a retry
        raise ImportServiceError(CANNOT_RECEIVE) from changed


def _writable(operation: ImportOperation | None) -> ImportOperation:
    if operation is None or not operation.valid:
        raise ImportServiceError(NOT_INITIALIZED)
    if operation.state in (ImportState.LOADING, ImportState.IMPORTING):
        raise ImportServiceError(CANNOT_RECEIVE)
    if operation.state in (ImportState.DONE, ImportState.ERROR, ImportState.CANCELED):
        raise ImportServiceError(ALREADY_FINISHED)
    return operation


def rocketchat_run(
    store: ImportStore, executions: Executions, cell: str, *, latest: Latest = UNREAD
) -> ImportOperation:
    """import.run: starts importing what addUsers staged; returns at once."""
    operation = read_latest(store, cell, latest)
    if operation is None or not operation.valid:
        raise ImportServiceError(OPERATION_NOT_FOUND)
    if operation.step != ProgressStep.USER_SELECTION:
        raise ImportServiceError(INVALID_OPERATION_STATUS)
    try:
        operation = store.update_operation(
            operation, from_steps=frozenset({ProgressStep.USER_SELECTION}), step=ProgressStep.IMPORTING_STARTED
        )
    except OperationConflict as exc:
        raise ImportServiceError(INVALID_OPERATION_STATUS) from exc
    return start_worker(store, executions, operation)
