"""Starting, feeding and stopping imports: what the write endpoints of both dialects and the CLI do.

"One active operation per cell" is decided by the store's conditional writes, never by the read
that precedes them: two concurrent starts both read an idle cell, one transaction wins, the other
gets OperationBusy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace
from enum import Enum
from typing import Any, Literal, Protocol

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.dynamodb.operations import KeyTaken, LatestChanged, OperationConflict
from bulk_import.dal.dynamodb.records import BatchOutcome
from bulk_import.dal.s3 import ImportFiles, corrections_key, new_upload_id, snapshot_key, upload_prefix
from bulk_import.domain.errors import BulkImportError
from bulk_import.domain.operation import (
    ACTIVE_STEPS,
    BATCH_SIZE,
    ImportOperation,
    ImportState,
    KeyedStart,
    ProgressStep,
    StartKey,
    new_operation_id,
    utc_now,
)
from bulk_import.domain.records.rules import plainly_valid
from bulk_import.domain.records.staged import COUNT_FIELD, StagedRecord


class _Unread(Enum):
    UNREAD = "unread"


#: The `latest` of a caller that has not read the cell's latest operation: the function reads it.
#: The API functions pass the one they read with the caller's credential, in the same request.
UNREAD = _Unread.UNREAD

#: The cell's latest operation as the caller read it (None: the cell has none), or UNREAD.
Latest = ImportOperation | None | Literal[_Unread.UNREAD]
#: What the start with a request's Idempotency-Key recorded, as the caller read it (None: none did), or UNREAD.
Keyed = KeyedStart | None | Literal[_Unread.UNREAD]


class OperationBusy(BulkImportError):
    """Another operation of the cell is loading or importing."""


class SnapshotNotFound(BulkImportError):
    pass


class CellImportRunning(BulkImportError):
    """A snapshot of a cell cannot be written while an import of that cell runs: the import reads
    the version it started with, and Personium refuses writes to a cell being imported."""


class UploadNotFound(BulkImportError):
    """No file was uploaded under this upload id (or it was never completed)."""


class NotCancelable(BulkImportError):
    """Only a loading or importing operation can be canceled."""


class NotRetryable(BulkImportError):
    """Why this operation's failed records cannot be retried now."""


class InvalidCorrections(BulkImportError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class IdempotencyKeyReused(BulkImportError):
    """The Idempotency-Key was sent before with another request."""


class ImportServiceError(BulkImportError):
    """Rocket.Chat ImportService's refusals; the message is Rocket.Chat's own text."""


NOT_INITIALIZED = "Import operation not initialized."
CANNOT_RECEIVE = "The current import operation can not receive new data."
ALREADY_FINISHED = "The current import operation is already finished."
MISSING_REQUIRED_DATA = "Users are missing required data."
OPERATION_NOT_FOUND = "error-operation-not-found"
INVALID_OPERATION_STATUS = "error-invalid-operation-status"


class Executions(Protocol):
    def start(self, cell: str, operation_id: str) -> str: ...
    def execution_arn(self, operation_id: str) -> str: ...
    def stop(self, execution_arn: str, cause: str) -> None: ...


def _new_operation(cell: str, user: str, kind: str, step: ProgressStep, **fields: Any) -> ImportOperation:
    now = utc_now()
    return ImportOperation(
        id=new_operation_id(),
        cell=cell,
        type=kind,
        importer_key=kind,
        step=step,
        started_at=now,
        updated_at=now,
        heartbeat_at=now,
        user=user,
        **fields,
    )


def _read(store: ImportStore, cell: str, latest: Latest) -> ImportOperation | None:
    return store.latest_operation(cell) if latest is UNREAD else latest


def _idle_latest(store: ImportStore, cell: str, latest: Latest = UNREAD) -> ImportOperation | None:
    """The cell's latest operation, if none is active (a hint: the conditional write decides)."""
    latest = _read(store, cell, latest)
    if latest is not None and latest.is_active:
        raise OperationBusy(cell)
    return latest


def _replace_latest(
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


def _run(
    store: ImportStore, executions: Executions, operation: ImportOperation, key: StartKey | None = None
) -> ImportOperation:
    """Starts the worker for an operation that is now active. The worker's first write records the
    execution (worker.stage_input), which saves the start a request; a start that dies before
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


def _repeat(
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


def start_file_import(
    store: ImportStore,
    files: ImportFiles,
    executions: Executions,
    cell: str,
    key: str,
    name: str,
    user: str,
    kind: str = "personium",
    *,
    latest: Latest = UNREAD,
) -> ImportOperation:
    """Imports the file at S3 `key` into `cell` (Personium's POST __import and the CLI)."""
    latest = _idle_latest(store, cell, latest)
    etag = files.etag(key)
    if etag is None:
        raise SnapshotNotFound(key.rpartition("/")[2])
    return _start_file(store, executions, cell, key, etag, name, user, kind, latest)


def _start_file(
    store: ImportStore,
    executions: Executions,
    cell: str,
    key: str,
    etag: str,
    name: str,
    user: str,
    kind: str,
    latest: ImportOperation | None,
    idempotency: StartKey | None = None,
) -> ImportOperation:
    """Starts importing the file at `key`, in the version `etag`, in place of `latest` (read idle).
    With `idempotency`, a start with the same key that claimed the cell first is answered instead."""
    operation = _new_operation(
        cell, user, kind, ProgressStep.PREPARING_STARTED, importation_name=name, source_key=key, source_etag=etag
    )
    try:
        _replace_latest(store, operation, latest, idempotency)
    except KeyTaken as taken:
        repeated = _repeat(store, cell, idempotency, taken.keyed, None)
        if repeated is None:  # expired since: then the start holding the cell is another one
            raise OperationBusy(cell) from taken
        return repeated
    return _run(store, executions, operation, idempotency)


def start_upload_import(
    store: ImportStore,
    files: ImportFiles,
    executions: Executions,
    cell: str,
    upload_id: str,
    name: str | None,
    user: str,
    *,
    latest: Latest = UNREAD,
    idempotency: StartKey | None = None,
    keyed: Keyed = UNREAD,
) -> ImportOperation:
    """Imports the file uploaded as `upload_id` (/v1 uploads) into `cell`. With `idempotency` (a
    client's Idempotency-Key), a repeat answers the import the key's first start claimed (`keyed`:
    what that start recorded, as the caller read it)."""
    latest = _read(store, cell, latest)
    if (repeated := _repeat(store, cell, idempotency, keyed, latest)) is not None:
        return repeated
    uploaded = files.first_object(upload_prefix(cell, upload_id))
    if uploaded is None:
        raise UploadNotFound(upload_id)
    key, etag = uploaded
    latest = _idle_latest(store, cell, latest)
    name = name or key.rpartition("/")[2]
    return _start_file(store, executions, cell, key, etag, name, user, "v1", latest, idempotency)


def start_records_import(
    store: ImportStore,
    files: ImportFiles,
    executions: Executions,
    cell: str,
    records: list[dict[str, Any]],
    name: str | None,
    user: str,
    *,
    latest: Latest = UNREAD,
    idempotency: StartKey | None = None,
    keyed: Keyed = UNREAD,
) -> ImportOperation:
    """Imports records sent inline: they are written as a JSON Lines upload, then imported as one,
    so inline records and files take the same path (and report errors by line). `idempotency` and
    `keyed` as for start_upload_import."""
    latest = _read(store, cell, latest)
    if (repeated := _repeat(store, cell, idempotency, keyed, latest)) is not None:
        return repeated
    latest = _idle_latest(store, cell, latest)  # before the upload: a busy cell leaves no file behind
    key = upload_prefix(cell, new_upload_id()) + "records.jsonl"
    etag = files.put(key, b"".join(json.dumps(record, separators=(",", ":")).encode() + b"\n" for record in records))
    name = name or "records.jsonl"
    return _start_file(store, executions, cell, key, etag, name, user, "v1", latest, idempotency)


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


def retry(
    store: ImportStore,
    files: ImportFiles,
    executions: Executions,
    parent: ImportOperation,
    corrections: dict[str, dict[str, Any]],
    user: str,
    *,
    latest: Latest = UNREAD,
    outcomes: dict[str, dict[int, BatchOutcome]] | None = None,
) -> ImportOperation:
    """Starts a new operation, linked to `parent`, that imports only the records `parent` counted
    as errors (those that failed, and those a cancel, clear or failure left unprocessed), replacing
    those named in `corrections` (`user:12` -> fixed record). `outcomes` are parent's markers of
    `correction_batches(corrections)`, if the caller read them (else they are read here).

    Only the cell's latest operation, once it has ended, can be retried: then every record it counted
    as an error is still in its staging area, so parent.completed + child.total == parent.total, and
    no record is retried twice. A parent that ended early may not have settled its counts yet: the
    retry starts at once and waits for them before it stages (worker.stage_input).
    """
    if parent.is_active or parent.state in (ImportState.NEW, ImportState.READY):
        raise NotRetryable(f"The import is {parent.state.value}; only an import that has ended can be retried.")
    if parent.count.completed == parent.count.total:
        raise NotRetryable("No record of this import failed.")
    latest = _idle_latest(store, parent.cell, latest)
    if latest is None or latest.id != parent.id:
        raise NotRetryable("A newer import of this cell exists; only the latest one can be retried.")
    _check_corrections(store, parent, corrections, outcomes)
    child = _new_operation(
        parent.cell,
        user,
        parent.type,
        ProgressStep.PREPARING_STARTED,
        importation_name=parent.importation_name,
        parent_id=parent.id,
    )
    if corrections:
        source_key = corrections_key(parent.cell, child.id)
        child = replace(child, source_key=source_key)
        files.put(source_key, json.dumps(corrections).encode())
    return _run(store, executions, _replace_latest(store, child, latest))


def correction_batches(corrections: Mapping[str, Any]) -> dict[str, list[int]]:
    """The batches, by record type, of the records `corrections` names (what is not a record id
    left out): their markers tell whether each record failed."""
    batches: dict[str, set[int]] = {}
    for record_type, seq in filter(None, map(_record_id, corrections)):
        batches.setdefault(record_type, set()).add(seq // BATCH_SIZE)
    return {record_type: sorted(numbers) for record_type, numbers in batches.items()}


def _record_id(name: str) -> tuple[str, int] | None:
    """`user:12` as ("user", 12); None if `name` is not a record id."""
    record_type, _, seq = name.partition(":")
    return (record_type, int(seq)) if record_type in COUNT_FIELD and seq.isdigit() else None


def _check_corrections(
    store: ImportStore,
    parent: ImportOperation,
    corrections: dict[str, dict[str, Any]],
    outcomes: dict[str, dict[int, BatchOutcome]] | None,
) -> None:
    """Each correction must name a record `parent` counted as an error (its batch's marker lists
    it, or the batch was never counted) and be a valid record itself."""
    problems = []
    named: dict[str, list[int]] = {}
    for record_id, data in corrections.items():
        if (parsed := _record_id(record_id)) is None:
            problems.append(f"{record_id}: not a record id (such as user:12)")
            continue
        record_type, seq = parsed
        named.setdefault(record_type, []).append(seq)
        if plainly_valid(record_type, data):
            continue
        # Imported here: the records' rules load pydantic, which nothing else an API function does
        # needs (a third of its cold start, record_rules.py).
        from bulk_import.domain.records.schema import RecordInvalid, parse_record

        try:
            parse_record(record_type, data)
        except RecordInvalid as exc:
            problems.append(f"{record_id}: {exc}")
    if outcomes is None:
        outcomes = {
            record_type: store.batch_outcomes(parent.id, record_type, batches)
            for record_type, batches in correction_batches(corrections).items()
        }
    for record_type, seqs in named.items():
        counted = outcomes[record_type]
        problems += [
            f"{record_type}:{seq}: not a failed record of {parent.id}"
            for seq in seqs
            if seq >= getattr(parent.count, COUNT_FIELD[record_type])
            or (seq // BATCH_SIZE in counted and seq not in counted[seq // BATCH_SIZE].failed)
        ]
    if problems:
        raise InvalidCorrections(problems)


def start_snapshot_import(
    store: ImportStore,
    files: ImportFiles,
    executions: Executions,
    cell: str,
    name: str,
    user: str,
    *,
    latest: Latest = UNREAD,
) -> ImportOperation:
    return start_file_import(store, files, executions, cell, snapshot_key(cell, name), name, user, latest=latest)


def snapshot_exists(files: ImportFiles, cell: str, name: str) -> bool:
    """Whether the cell's snapshot `<name>.zip` is stored (one S3 request)."""
    return files.etag(snapshot_key(cell, name)) is not None


def store_snapshot(
    store: ImportStore, files: ImportFiles, cell: str, name: str, body: bytes, *, latest: Latest = UNREAD
) -> None:
    """Personium's PUT __snapshot/<name>.zip: refused while an import of the cell runs (the import
    is pinned to the version it started with either way)."""
    latest = _read(store, cell, latest)
    if latest is not None and latest.is_active:
        raise CellImportRunning(cell)
    files.put(snapshot_key(cell, name), body)


def stop(
    store: ImportStore, executions: Executions, cell: str, *, clear: bool, latest: Latest = UNREAD
) -> ImportOperation | None:
    """Stops the cell's latest operation within one batch: the conditional update makes every batch
    that finishes afterwards uncountable, and StopExecution ends the state machine.

    A cancel ends it as canceled; a clear (Rocket.Chat's) only invalidates it, which Rocket.Chat
    reports as error. Either way its records never imported count as errors: at once if no batch
    ever ran, else once the batches in flight have counted what they imported (ended_early).
    """
    latest = _read(store, cell, latest)
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
    return stopped


def rocketchat_new(
    store: ImportStore, executions: Executions, cell: str, user: str, *, latest: Latest = UNREAD
) -> ImportOperation:
    """import.new: Rocket.Chat clears (and so stops) whatever runs, then creates an API operation."""
    latest = _idle_latest(store, cell, stop(store, executions, cell, clear=True, latest=latest))
    return _replace_latest(store, _new_operation(cell, user, "api", ProgressStep.NEW), latest)


def rocketchat_add_users(
    store: ImportStore, cell: str, users: list[dict[str, Any]], *, latest: Latest = UNREAD
) -> None:
    """import.addUsers: stages users (validated when imported) and adds them to the counts."""
    if not users:
        return
    operation = _writable(_read(store, cell, latest))
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
    operation = _read(store, cell, latest)
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
    return _run(store, executions, operation)
