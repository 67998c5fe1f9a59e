"""The import worker's steps, as the state machine (statemachine/import.asl.json) calls them.

Stage: read the input from its cursor and write it to the staging area, resumable, within a time
budget. Batch: import one batch of at most 50 staged records and count it exactly once. Phase: move
the operation to its next step, or record why it failed. Nothing here knows of HTTP or boto3.

Exactness, whatever is retried or crashes:
- a record is numbered (type, seq) when staged; staging it again overwrites the same item;
- an imported user, channel or message remembers the record that created it, so a retry of that
  record finds it and succeeds instead of creating a duplicate or failing as one;
- a batch's counts are added in one transaction with the batch's marker, so a retried batch is
  never counted twice, and only while the operation is still in the batch's phase, so nothing is
  counted after a cancel; a batch stopped that way undoes what it created;
- an operation that ends early counts its unprocessed records as errors, so at the end
  completed + error == total.
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Callable, Iterator, Literal

from pydantic import BaseModel, NonNegativeInt

from bulk_import.concurrency import map_all
from bulk_import.errors import BulkImportError
from bulk_import.files import ImportFiles
from bulk_import.inputs import MalformedInput, read_records
from bulk_import.model import (
    ACTIVE_STEPS,
    BATCH_SIZE,
    CellName,
    Failure,
    ImportOperation,
    ProgressStep,
    iso_millis,
    utc_now,
)
from bulk_import.records import ChannelRecord, MessageRecord, RecordInvalid, RecordType, UserRecord, parse_record
from bulk_import.storage import BatchCount, ImportStore, OperationConflict, StagedRecord

#: Records staged per write round; the cursor and counts are saved after each.
STAGE_CHUNK = 500
#: Records of one batch are imported concurrently (independent conditional puts), by threads
#: created once per process and kept across warm invocations.
_RECORD_WORKERS = ThreadPoolExecutor(max_workers=10)

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
COUNT_FIELD = {RecordType.USER: "users", RecordType.CHANNEL: "channels", RecordType.MESSAGE: "messages"}
STAGING_STEPS = frozenset({ProgressStep.PREPARING_STARTED, ProgressStep.IMPORTING_STARTED, *PREPARING_STEP.values()})
NEXT_PHASE = {
    "channels": (ProgressStep.IMPORTING_USERS, ProgressStep.IMPORTING_CHANNELS),
    "messages": (ProgressStep.IMPORTING_CHANNELS, ProgressStep.IMPORTING_MESSAGES),
}

NOT_A_ZIP = Failure(code="PR400-MC-0004", message="The snapshot file is not a zip file.")
UNKNOWN_FAILURE = "PR500-SV-0000"
MALFORMED_INPUT = "PR400-BI-0006"  # Personium's "[{0}] file format error."
STALLED = "PR500-BI-0007"


class RecordError(StrEnum):
    """Why a record failed to import: the stable `code` of each failed record."""

    INVALID = "invalid-record"
    ALREADY_EXISTS = "already-exists"


class OperationReference(BaseModel):
    cell: CellName
    id: str


class StageTask(BaseModel):
    operation: OperationReference
    cursor: dict[str, Any] | None = None


class BatchDescriptor(BaseModel):
    """One item of a manifest: which batch of which operation to import."""

    cell: CellName
    operationId: str
    type: RecordType
    batch: NonNegativeInt


class BatchTask(BaseModel):
    batch: BatchDescriptor


class PhaseTask(BaseModel):
    operation: OperationReference
    phase: Literal["channels", "messages", "done", "failed"]
    error: dict[str, str] | None = None


class OperationStopped(BulkImportError):
    """The operation was canceled, cleared or replaced: the worker stops without failing it."""


class NotAZip(BulkImportError):
    """A Personium snapshot must be a zip file."""


def _current(store: ImportStore, cell: str, operation_id: str) -> ImportOperation:
    operation = store.latest_operation(cell)
    if operation is None or operation.id != operation_id or not operation.valid or not operation.is_active:
        raise OperationStopped(operation_id)
    return operation


def stage_input(
    store: ImportStore, files: ImportFiles, cell: str, operation_id: str, cursor: dict | None,
    out_of_time: Callable[[], bool], concurrency: int,
) -> dict[str, Any]:
    """Stages records from `cursor` until the input ends or `out_of_time()`; then, once the input
    is all staged, writes the batch manifests and moves the operation to importing users."""
    operation = _current(store, cell, operation_id)
    counts = dict(cursor["counts"]) if cursor else {field: getattr(operation.count, field) for field in COUNT_FIELD.values()}
    if operation.parent_id is not None:
        parent = store.operation(cell, operation.parent_id)
        corrections = files.read_json(operation.source_key) if operation.source_key else {}
        for records, position in _records_to_retry(store, parent, cursor and cursor["position"]):
            chunk = []
            for record in records:
                field = COUNT_FIELD[RecordType(record.type)]
                chunk.append(StagedRecord(type=record.type, seq=counts[field], source=record.source,
                                          data=corrections.get(record.record_id, record.data)))
                counts[field] += 1
            operation = _save_staged(store, operation, chunk, counts)
            if position is not None and out_of_time():
                return {"operation": _reference(operation), "staged": False,
                        "cursor": {"position": position, "counts": counts}}
    elif operation.source_key is not None:
        opener = files.opener(operation.source_key)
        if cursor is None and operation.importer_key == "personium" and not _is_zip(opener):
            raise NotAZip(operation.source_key)
        chunk: list[StagedRecord] = []
        file_name = operation.source_key.rpartition("/")[2]
        for record in read_records(opener, cursor and cursor["position"], name=file_name):
            field = COUNT_FIELD[record.type]
            chunk.append(StagedRecord(type=record.type.value, seq=counts[field], data=record.data, source=record.source))
            counts[field] += 1
            if len(chunk) == STAGE_CHUNK:
                operation = _save_staged(store, operation, chunk, counts)
                chunk = []
                if out_of_time():
                    return {"operation": _reference(operation), "staged": False,
                            "cursor": {"position": record.cursor, "counts": counts}}
        operation = _save_staged(store, operation, chunk, counts)
    manifest = {"bucket": files.bucket, "concurrency": concurrency} | {
        record_type.value: files.write_manifest(operation.id, record_type.value, _descriptors(operation, record_type, counts))
        for record_type in RecordType
    }
    try:
        operation = store.update_operation(operation, from_steps=STAGING_STEPS, step=ProgressStep.IMPORTING_USERS,
                                           heartbeat=True)
    except OperationConflict as exc:
        raise OperationStopped(operation_id) from exc
    return {"operation": _reference(operation), "staged": True, "cursor": None, "manifest": manifest}


#: Batch markers read per request when looking for the batches a retried import never counted.
_MARKERS_PER_READ = 100


def _records_to_retry(store: ImportStore, parent: ImportOperation, position: dict[str, Any] | None,
                      ) -> Iterator[tuple[list[StagedRecord], dict[str, Any] | None]]:
    """Every record `parent` counted as an error, a page at a time, each page with the position
    after it (None after the last): its failed records (the FailedRecords index), then, unless it
    finished every batch, all records of the batches it never counted (canceled, failed or cleared
    before it got to them)."""
    position = position or {"failed": None}
    if "failed" in position:
        after = position["failed"]
        while True:
            page = store.failed_records(parent.id, STAGE_CHUNK, after)
            after = page.next_key
            if after is not None:
                yield page.items, {"failed": after}
                continue
            position = None if parent.step == ProgressStep.DONE else {"type": RecordType.USER.value, "batch": 0}
            yield page.items, position
            break
    if position is None:
        return
    types = list(RecordType)
    for record_type in types[types.index(RecordType(position["type"])):]:
        batches = math.ceil(getattr(parent.count, COUNT_FIELD[record_type]) / BATCH_SIZE)
        first = position["batch"] if record_type.value == position["type"] else 0
        for group in range(first, batches, _MARKERS_PER_READ):
            numbers = range(group, min(group + _MARKERS_PER_READ, batches))
            counted = store.counted_batches(parent.id, record_type.value, numbers)
            records = [record for batch in numbers if batch not in counted
                       for record in store.staged_batch(parent.id, record_type.value, batch)]
            yield records, {"type": record_type.value, "batch": group + _MARKERS_PER_READ}


def _is_zip(opener: Callable) -> bool:
    with opener() as file:
        return file.read(4) in (b"PK\x03\x04", b"PK\x05\x06")


def _save_staged(store: ImportStore, operation: ImportOperation, chunk: list[StagedRecord],
                 counts: dict[str, int]) -> ImportOperation:
    if chunk:
        store.stage_records(operation.id, chunk)
    step = PREPARING_STEP[RecordType(chunk[-1].type)] if chunk else operation.step
    try:
        return store.update_operation(operation, from_steps=STAGING_STEPS, step=step, heartbeat=True,
                                      counts=counts | {"total": sum(counts.values())})
    except OperationConflict as exc:
        raise OperationStopped(operation.id) from exc


def _descriptors(operation: ImportOperation, record_type: RecordType, counts: dict[str, int]):
    batches = math.ceil(counts[COUNT_FIELD[record_type]] / BATCH_SIZE)
    return ({"cell": operation.cell, "operationId": operation.id, "type": record_type.value, "batch": batch}
            for batch in range(batches))


def _reference(operation: ImportOperation) -> dict[str, str]:
    return {"cell": operation.cell, "id": operation.id}


def import_batch(store: ImportStore, cell: str, operation_id: str, record_type: RecordType, batch: int) -> dict:
    operation, counted = store.read_batch_context(cell, operation_id, record_type.value, batch)
    if operation is None or operation.id != operation_id or not operation.valid \
            or operation.step != IMPORTING_STEP[record_type]:
        raise OperationStopped(operation_id)
    records = store.staged_batch(operation_id, record_type.value, batch)
    errors = map_all(_RECORD_WORKERS, lambda record: import_record(store, operation, record), records)
    imported = [record for record, error in zip(records, errors) if error is None]
    failed = [replace(record, error_code=error[0], error=error[1])
              for record, error in zip(records, errors) if error is not None]
    if not counted:
        if store.count_batch(operation, record_type.value, batch, len(imported), len(failed)) is BatchCount.STOPPED:
            for record in imported:
                store.delete_directory_entry(
                    cell, *_directory_entry(operation, record, parse_record(record.type, record.data)))
            raise OperationStopped(operation_id)
        if operation.needs_new_mark(utc_now()):
            store.mark_progress(operation)
    store.settle_batch(operation_id, imported, failed)
    return {"type": record_type.value, "batch": batch, "completed": len(imported), "error": len(failed)}


def import_record(store: ImportStore, operation: ImportOperation, record: StagedRecord) -> tuple[RecordError, str] | None:
    """Imports one staged record; why it cannot be imported (code, message), None on success."""
    try:
        parsed = parse_record(record.type, record.data)
    except RecordInvalid as exc:
        return RecordError.INVALID, str(exc)
    kind, identity, reference = _directory_entry(operation, record, parsed)
    if store.put_directory_entry(operation.cell, kind, identity, parsed.model_dump(mode="json"), reference):
        return None
    return RecordError.ALREADY_EXISTS, f"{kind} {identity} already exists"


def _directory_entry(operation: ImportOperation, record: StagedRecord,
                     parsed: UserRecord | ChannelRecord | MessageRecord) -> tuple[str, str, str]:
    reference = record.reference(operation.id)
    if isinstance(parsed, UserRecord):
        return "user", parsed.username.lower(), reference
    if isinstance(parsed, ChannelRecord):
        return "channel", parsed.name.lower(), reference
    return "message", f"{parsed.channel}#{reference}", reference


def advance_phase(store: ImportStore, files: ImportFiles, cell: str, operation_id: str, phase: str) -> dict:
    """Moves the operation from one import phase to the next, or finishes it."""
    operation = _current(store, cell, operation_id)
    try:
        if phase in NEXT_PHASE:
            from_step, to_step = NEXT_PHASE[phase]
            operation = store.update_operation(operation, from_steps=frozenset({from_step}), step=to_step,
                                               heartbeat=True)
        else:
            operation = store.update_operation(operation, from_steps=frozenset({ProgressStep.IMPORTING_MESSAGES}),
                                               step=ProgressStep.FINISHING, heartbeat=True)
            if operation.count.processed != operation.count.total:
                raise RuntimeError(f"counts do not add up: {operation.count}")
            files.delete_manifests(operation.id, [record_type.value for record_type in RecordType])
            operation = store.update_operation(operation, from_steps=frozenset({ProgressStep.FINISHING}),
                                               step=ProgressStep.DONE)
    except OperationConflict as exc:
        raise OperationStopped(operation_id) from exc
    return {"operation": _reference(operation)}


def fail_operation(store: ImportStore, cell: str, operation_id: str, error: dict[str, str]) -> dict:
    """Records why the worker failed (the state machine's Catch output: Error and Cause)."""
    operation = store.latest_operation(cell)
    if operation is None or operation.id != operation_id:
        return {"operation": {"cell": cell, "id": operation_id}}
    try:
        store.update_operation(operation, from_steps=ACTIVE_STEPS, step=ProgressStep.IMPORT_FAILED,
                               failure=failure_of(error), settle_unprocessed=True)
    except OperationConflict:
        pass  # it ended meanwhile (canceled or cleared): that end stands
    return {"operation": _reference(operation)}


def sweep_stalled(store: ImportStore, executions: Any, now: datetime, stalled_after: timedelta,
                  fail_after: timedelta) -> tuple[list[ImportOperation], list[ImportOperation]]:
    """The scheduled sweeper: the active operations stalled for `stalled_after`, and those of them
    it failed, stalled for `fail_after` too (their unprocessed records counted as errors, their
    executions stopped). The active operations are read once."""
    stalled = store.stalled_operations(now - min(stalled_after, fail_after))
    minutes = int(fail_after.total_seconds() // 60)
    failed = []
    for operation in stalled:
        if not operation.is_stalled(now, fail_after):
            continue
        failure = Failure(code=STALLED, message=f"The import stalled: no progress since "
                          f"{iso_millis(operation.last_heartbeat)} (limit {minutes} minutes).")
        try:
            failed.append(store.update_operation(operation, from_steps=ACTIVE_STEPS, step=ProgressStep.IMPORT_FAILED,
                                                 failure=failure, settle_unprocessed=True))
        except OperationConflict:
            continue  # it moved on or ended since the index was read
        if operation.execution_arn is not None:
            executions.stop(operation.execution_arn, "stalled")
    return [operation for operation in stalled if operation.is_stalled(now, stalled_after)], failed


def failure_of(error: dict[str, str]) -> Failure:
    """The operation's failure message for a Step Functions error (Error name, Cause JSON text)."""
    name, cause = error.get("Error", ""), error.get("Cause", "")
    if name == NotAZip.__name__:
        return NOT_A_ZIP
    if name == MalformedInput.__name__:
        return Failure(code=MALFORMED_INPUT, message=f"[{_error_message(cause)}] file format error.")
    return Failure(code=UNKNOWN_FAILURE, message=f"Unknown error. ({name})")


def _error_message(cause: str) -> str:
    try:
        return json.loads(cause)["errorMessage"]
    except (ValueError, KeyError, TypeError):
        return cause
