"""Claiming a cell for a new operation and starting its worker, once per Idempotency-Key.

"One active operation per cell" is decided by the store's conditional writes, never by the read
that precedes them: two concurrent starts both read an idle cell, one transaction wins, the other
gets OperationBusy."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from enum import Enum
from typing import Any, Literal, Protocol

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.dynamodb.operation_items import KeyTaken, OperationConflict
from bulk_import.domain.operation import (
    ACTIVE_STEPS,
    ImportOperation,
    KeyedStart,
    ProgressStep,
    StartKey,
    new_operation_id,
    utc_now,
)
from bulk_import.logic.imports.errors import IdempotencyKeyReused, OperationBusy


class _Unread(Enum):
    UNREAD = "unread"


#: The `latest` of a caller that has not read the cell's latest operation: the function reads it.
#: The API functions pass the one they read with the caller's credential, in the same request.
UNREAD = _Unread.UNREAD


#: The cell's latest operation as the caller read it (None: the cell has none), or UNREAD.
Latest = ImportOperation | None | Literal[_Unread.UNREAD]


#: What the start with a request's Idempotency-Key recorded, as the caller read it (None: none did), or UNREAD.
Keyed = KeyedStart | None | Literal[_Unread.UNREAD]


class Executions(Protocol):
    def start(self, cell: str, operation_id: str) -> str: ...
    def execution_arn(self, operation_id: str) -> str: ...
    def resume(self, task_token: str) -> None: ...
    def stop(self, execution_arn: str, cause: str) -> None: ...


def new_operation(
    cell: str, user: str, kind: str, step: ProgressStep, type_name: str | None = None, **fields: Any
) -> ImportOperation:
    """A new operation of importer `kind`; its `type` is the importer's name where that differs
    (Rocket.Chat's file importers: `csv` is "CSV")."""
    now = utc_now()
    return ImportOperation(
        id=new_operation_id(),
        cell=cell,
        type=type_name or kind,
        importer_key=kind,
        step=step,
        started_at=now,
        updated_at=now,
        heartbeat_at=now,
        user=user,
        **fields,
    )


def read_latest(store: ImportStore, cell: str, latest: Latest) -> ImportOperation | None:
    return store.latest_operation(cell) if latest is UNREAD else latest


def idle_latest(store: ImportStore, cell: str, latest: Latest = UNREAD) -> ImportOperation | None:
    """The cell's latest operation, if none is active (a hint: the conditional write decides)."""
    latest = read_latest(store, cell, latest)
    if latest is not None and latest.is_active:
        raise OperationBusy(cell)
    return latest


def replace_latest(
    store: ImportStore, operation: ImportOperation, latest: ImportOperation | None, key: StartKey | None = None
) -> ImportOperation:
    """Claims the cell for `operation` (recording `key` with it); KeyTaken if a start with `key`
    claimed first."""
    try:
        store.start_operation(operation, latest, key)
    except KeyTaken:
        raise
    except OperationConflict as exc:
        raise OperationBusy(operation.cell) from exc
    return operation


def start_worker(
    store: ImportStore, executions: Executions, operation: ImportOperation, key: StartKey | None = None
) -> ImportOperation:
    """Starts the worker for an operation that is now active. The worker's first write records the
    execution (worker.stage.stage_input), which saves the start a request; a start that dies before
    StartExecution leaves an active operation with none, which the sweeper starts. A start that
    fails frees its Idempotency-Key, so that the client may try again with it."""
    try:
        executions.start(operation.cell, operation.id)
    except Exception:
        store.update_operation(operation, from_steps=ACTIVE_STEPS, step=ProgressStep.IMPORT_FAILED, ended_early=True)
        if key is not None:
            store.forget_start_key(operation.cell, key, operation.id)
        raise
    return operation


def start_key(key: str, request: Mapping[str, Any]) -> StartKey:
    """The StartKey of a client's Idempotency-Key and the request (as JSON values) it came with."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
    return StartKey(hashlib.sha256(key.encode()).hexdigest(), hashlib.sha256(canonical.encode()).hexdigest())


def earlier_start(
    store: ImportStore, cell: str, key: StartKey | None, keyed: Keyed, latest: ImportOperation | None
) -> ImportOperation | None:
    """The import a start with `key` claimed within START_KEY_LIFETIME (what it recorded: `keyed`),
    None if none did; IdempotencyKeyReused if it came with another request."""
    if key is None:
        return None
    if keyed is UNREAD:
        keyed = store.keyed_start(cell, key.key_hash)
    if keyed is None or keyed.expires_at <= utc_now():
        return None
    if keyed.request_hash != key.request_hash:
        raise IdempotencyKeyReused(cell)
    if latest is not None and latest.id == keyed.operation_id:
        return latest
    return store.operation(cell, keyed.operation_id)
