"""The import worker's steps, as the state machine (statemachine/import.asl.json) calls them.

Stage: read the input from its cursor and write it to the staging area, resumable, within a time
budget. Batch: import one batch of at most 50 staged records and count it exactly once. Phase: move
the operation to its next step, or record why it failed. Nothing here knows of HTTP or boto3.

Exactness, whatever is retried, delivered twice or crashes (docs/worker.md has the fault matrix):
- a record is numbered (type, seq) when staged, from counts saved with the resume point in one
  write; staging it again overwrites the same item;
- an imported user, channel or message remembers the record that created it, so a retry of that
  record finds it and succeeds instead of creating a duplicate or failing as one;
- a batch's counts are added in one transaction with the batch's marker, which keeps the batch's
  outcome: a retried batch is never counted twice, and every attempt makes the table agree with
  the marker;
- an operation that ends early keeps its counts until no attempt of its batches can still run: a
  batch in flight counts what it imported meanwhile, and then every record never imported is
  counted as an error at once, so counts only grow, at the end completed + error == total, and no
  imported record is counted as an error (docs/decisions/0001-counts-settle-after-a-stop.md);
- every phase transition succeeds when repeated.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, Field, NonNegativeInt

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.dynamodb.operations import OperationConflict
from bulk_import.dal.dynamodb.records import BatchCount, BatchOutcome, DirectoryEntry
from bulk_import.dal.s3 import (
    STAGED_BATCHES_PER_OBJECT,
    ImportFiles,
    SourceChanged,
    StagedBatchMissing,
    manifest_key,
    results_prefix,
    staged_object_of,
)
from bulk_import.domain.errors import BulkImportError
from bulk_import.domain.operation import (
    ACTIVE_STEPS,
    BATCH_SIZE,
    CELL_NAME_PATTERN,
    Failure,
    ImportOperation,
    ProgressStep,
    iso_millis,
    utc_now,
)
from bulk_import.domain.records.schema import (
    ChannelRecord,
    MessageRecord,
    RecordInvalid,
    UserRecord,
    parse_record,
    record_problem,
)
from bulk_import.domain.records.staged import COUNT_FIELD, RecordType, StagedRecord
from bulk_import.readers.by_format import read_records
from bulk_import.readers.lines import MalformedInput, SourceRecord

#: Records read between two saves of the resume point (a crash repeats at most this much reading);
#: each save writes the partial batches too, so fewer saves mean fewer objects written twice.
STAGE_CHUNK = 5000
#: Batches one Distributed Map child imports, one after another (a manifest item is a group of
#: them): each child started is a state transition of the parent ($25 per million) and an Express
#: request, which per batch of 50 cost more than the user writes themselves (docs/benchmarks.md).
BATCHES_PER_CHILD = 20

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
STAGING_STEPS = frozenset({ProgressStep.PREPARING_STARTED, ProgressStep.IMPORTING_STARTED, *PREPARING_STEP.values()})
NEXT_PHASE = {
    "channels": (ProgressStep.IMPORTING_USERS, ProgressStep.IMPORTING_CHANNELS),
    "messages": (ProgressStep.IMPORTING_CHANNELS, ProgressStep.IMPORTING_MESSAGES),
}

NOT_A_ZIP = Failure(code="PR400-MC-0004", message="The snapshot file is not a zip file.")
UNKNOWN_FAILURE = "PR500-SV-0000"
MALFORMED_INPUT = "PR400-BI-0006"  # Personium's "[{0}] file format error."
STALLED = "PR500-BI-0007"
SOURCE_CHANGED = "PR409-BI-0008"


class RecordError(StrEnum):
    """Why a record failed to import: the stable `code` of each failed record."""

    INVALID = "invalid-record"
    ALREADY_EXISTS = "already-exists"
    #: Its operation ended (cancel, clear, failure) before the record was imported; a retry takes it.
    NOT_IMPORTED = "not-imported"


NOT_IMPORTED_MESSAGE = "The import ended before this record was imported."

CellName = Annotated[str, Field(pattern=CELL_NAME_PATTERN)]


class OperationReference(BaseModel):
    cell: CellName
    id: str


class StageTask(BaseModel):
    operation: OperationReference
    #: The execution staging runs in (the state machine passes $$.Execution.Id).
    execution: str | None = None


class BatchDescriptor(BaseModel):
    """Which batch of which operation to import: what a child's ImportGroup Map gives the batch
    function for each batch of its manifest item (a group: cell, operationId, type, batches)."""

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


#: Steps in the order an import walks through them: a move to a step the operation has passed is
#: a repeat of a move that happened.
_STEP_ORDER = {step: index for index, step in enumerate(ProgressStep)}


def _current(store: ImportStore, cell: str, operation_id: str) -> ImportOperation:
    operation = store.latest_operation(cell)
    if operation is None or operation.id != operation_id or not operation.valid or not operation.is_active:
        raise OperationStopped(operation_id)
    return operation


def _move(
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


def stage_input(
    store: ImportStore,
    files: ImportFiles,
    cell: str,
    operation_id: str,
    out_of_time: Callable[[], bool],
    concurrency: int,
    reconcile_after: timedelta,
    execution_arn: str | None = None,
) -> dict[str, Any]:
    """Stages records until the input ends or `out_of_time()`; then, once the input is all staged,
    writes the batch manifests and moves the operation to importing users.

    Its first write records `execution_arn`, the execution it runs in: the start records none
    (imports._run), and the sweeper starts an active operation that has none after UNSTARTED_AFTER.

    A retry stages its parent's failed records once the parent's counts are settled: while they
    are not, it settles them itself once `reconcile_after` has passed since the parent ended
    (reconcile_stopped), or answers `waitSeconds`, how long the state machine waits before it
    calls again, with the wait recorded on the operation (`waitingUntil`).

    Records are staged in S3, one object per STAGED_BATCHES_PER_OBJECT batches of 50 (files.py).
    Resumable from anywhere: where to resume (the input position and the counts up to it) is saved
    on the operation in the same write as those counts, right after the batches it covers are
    written. Any attempt, a retry of a crashed one included, resumes from there, renumbers the same
    records the same way and writes the same objects."""
    operation = _current(store, cell, operation_id)
    manifest = {"bucket": files.bucket, "concurrency": concurrency, "results": results_prefix(operation.id)}
    if operation.step not in STAGING_STEPS:  # staged by an attempt whose answer was lost
        return {
            "operation": _reference(operation),
            "staged": True,
            "manifest": manifest | {t.value: manifest_key(operation.id, t.value) for t in RecordType},
        }
    cursor = operation.stage_cursor
    counts = (
        dict(cursor["counts"]) if cursor else {field: getattr(operation.count, field) for field in COUNT_FIELD.values()}
    )
    position = cursor and cursor["position"]
    if operation.parent_id is not None:
        # A retry is started of an existing operation (imports.retry), which it keeps for as long.
        parent = cast(ImportOperation, store.operation(cell, operation.parent_id))
        if parent.reconcile_pending:
            settles_at = _settles_at(parent, reconcile_after)
            if utc_now() < settles_at:
                return _wait_for_parent(store, operation, settles_at, execution_arn)
            reconcile_stopped(store, files, parent, concurrency)
            parent = cast(ImportOperation, store.operation(cell, operation.parent_id))
        corrections = files.read_json(operation.source_key) if operation.source_key else {}
        writer = _BatchWriter(files, operation.id, counts)
        retried = _records_to_retry(files, store, parent, position)
        for records, position in retried:
            for record in records:
                writer.add(_restaged(record, counts, corrections))
            operation = _save_staged(store, operation, writer, counts, position, execution_arn)
            if out_of_time():
                return {"operation": _reference(operation), "staged": False}
    elif operation.source_key is not None:
        opener = files.opener(operation.source_key, operation.source_etag)
        if cursor is None and operation.importer_key == "personium" and not _is_zip(opener):
            raise NotAZip(operation.source_key)
        writer = _BatchWriter(files, operation.id, counts)
        file_name = operation.source_key.rpartition("/")[2]
        for read, source_record in enumerate(read_records(opener, position, name=file_name), start=1):
            writer.add(_staged(source_record, counts))
            position = source_record.cursor
            if read % STAGE_CHUNK == 0:
                operation = _save_staged(store, operation, writer, counts, position, execution_arn)
                if out_of_time():
                    return {"operation": _reference(operation), "staged": False}
        operation = _save_staged(store, operation, writer, counts, position, execution_arn)
    else:  # import.addUsers staged its users in the table, with their count: they move to S3
        writer = _BatchWriter(files, operation.id)
        batches = math.ceil(counts[COUNT_FIELD[RecordType.USER]] / BATCH_SIZE)
        for first in range(position["batch"] if position else 0, batches, _MARKERS_PER_READ):
            for batch in range(first, min(first + _MARKERS_PER_READ, batches)):
                for record in store.api_records(operation.id, RecordType.USER.value, batch):
                    writer.add(record)
            operation = _save_staged(
                store, operation, writer, counts, {"batch": first + _MARKERS_PER_READ}, execution_arn
            )
            if out_of_time():
                return {"operation": _reference(operation), "staged": False}
    manifest |= {
        record_type.value: files.write_manifest(
            operation.id, record_type.value, _descriptors(operation, record_type, counts)
        )
        for record_type in RecordType
    }
    operation = _move(
        store,
        cell,
        operation_id,
        STAGING_STEPS,
        ProgressStep.IMPORTING_USERS,
        forget_stage_cursor=True,
        execution_arn=execution_arn if operation.execution_arn is None else None,
    )
    return {"operation": _reference(operation), "staged": True, "manifest": manifest}


def _settles_at(operation: ImportOperation, reconcile_after: timedelta) -> datetime:
    """When the counts of an operation that ended early can settle: no attempt of its batches can
    still run then."""
    return cast(datetime, operation.finished_at) + reconcile_after


def _wait_for_parent(
    store: ImportStore, operation: ImportOperation, settles_at: datetime, execution_arn: str | None
) -> dict[str, Any]:
    """Records that the retry waits for its parent's counts to settle (with the execution, as
    staging's first write does), and how long the state machine waits before staging again."""
    try:
        operation = store.update_operation(
            operation,
            from_steps=STAGING_STEPS,
            heartbeat=True,
            waiting_until=settles_at,
            execution_arn=execution_arn if operation.execution_arn is None else None,
        )
    except OperationConflict as exc:
        raise OperationStopped(operation.id) from exc
    wait = math.ceil((settles_at - utc_now()).total_seconds())
    return {"operation": _reference(operation), "staged": False, "waitSeconds": max(wait, 1)}


class _BatchWriter:
    """Gathers staged records into their objects (STAGED_BATCHES_PER_OBJECT batches of one type,
    files.py) and writes each as one S3 object: full objects a few at a time, and on `flush` every
    object not yet written, partial ones included (staging saves its resume point right after a
    flush; a later flush rewrites a partial object with more records). Resumed from `counts`, it
    reads back each type's partial object, keeping only the records the saved counts cover, and the
    next records complete it."""

    def __init__(self, files: ImportFiles, operation_id: str, counts: dict[str, int] | None = None) -> None:
        self.files, self.operation_id = files, operation_id
        self.pending: dict[tuple[str, int], list[StagedRecord]] = {}
        self.full: dict[tuple[str, int], list[StagedRecord]] = {}
        self.last_type: RecordType | None = None
        if not counts:
            return
        for record_type in RecordType:
            staged = counts[COUNT_FIELD[record_type]]
            if staged % _RECORDS_PER_OBJECT:
                index = staged // _RECORDS_PER_OBJECT
                self.pending[(record_type.value, index)] = [
                    record
                    for record in files.read_staged_object(operation_id, record_type.value, index)
                    if record.seq < staged
                ]

    def add(self, record: StagedRecord) -> None:
        key = (record.type, staged_object_of(record.batch))
        self.pending.setdefault(key, []).append(record)
        self.last_type = RecordType(record.type)
        if len(self.pending[key]) == _RECORDS_PER_OBJECT:
            self.full[key] = self.pending.pop(key)
            if len(self.full) == _OBJECTS_PER_WRITE:
                self.files.write_staged_objects(self.operation_id, self.full)
                self.full = {}

    def flush(self) -> None:
        if self.full or self.pending:
            self.files.write_staged_objects(self.operation_id, self.full | self.pending)
        self.full = {}


_RECORDS_PER_OBJECT = BATCH_SIZE * STAGED_BATCHES_PER_OBJECT
#: Full objects written together (several PutObjects at once).
_OBJECTS_PER_WRITE = 4


def _staged(record: SourceRecord, counts: dict[str, int]) -> StagedRecord:
    """The next record of its type, numbered from the counts (which it advances)."""
    field = COUNT_FIELD[record.type]
    problem = record.problem or record_problem(record.data)
    staged = StagedRecord(
        type=record.type.value,
        seq=counts[field],
        data={} if problem else record.data,
        source=record.source,
        problem=problem,
    )
    counts[field] += 1
    return staged


def _restaged(record: StagedRecord, counts: dict[str, int], corrections: dict[str, Any]) -> StagedRecord:
    """A parent's failed record staged again for its retry, corrected if a correction names it."""
    field = COUNT_FIELD[RecordType(record.type)]
    correction = corrections.get(record.record_id)
    problem = record_problem(correction) if correction is not None else record.problem
    data = {} if problem else (correction if correction is not None else record.data)
    staged = StagedRecord(type=record.type, seq=counts[field], source=record.source, data=data, problem=problem)
    counts[field] += 1
    return staged


#: Batch markers read per request when walking a parent's batches for its failed records.
_MARKERS_PER_READ = 100


def _records_to_retry(
    files: ImportFiles, store: ImportStore, parent: ImportOperation, position: dict[str, Any] | None
) -> Iterator[tuple[list[StagedRecord], dict[str, Any]]]:
    """Every record `parent` counted as an error, 100 batches at a time, each page with the position
    after it. A counted batch's marker names its failed records; a batch the parent never counted
    (canceled, cleared or failed before it got there) gives all its records. Markers are read with
    strongly consistent reads, so a parent that was still settling when the retry started loses
    nothing (an index could still be behind)."""
    position = position or {"type": RecordType.USER.value, "batch": 0}
    types = list(RecordType)
    groups: list[tuple[RecordType, range]] = []
    for record_type in types[types.index(RecordType(position["type"])) :]:
        batches = math.ceil(getattr(parent.count, COUNT_FIELD[record_type]) / BATCH_SIZE)
        first = position["batch"] if record_type.value == position["type"] else 0
        groups += [
            (record_type, range(start, min(start + _MARKERS_PER_READ, batches)))
            for start in range(first, batches, _MARKERS_PER_READ)
        ]
    for record_type, batches in groups:
        outcomes = store.batch_outcomes(parent.id, record_type.value, batches)
        wanted = [batch for batch in batches if batch not in outcomes or outcomes[batch].failed]
        staged = files.read_staged_batches(parent.id, record_type.value, wanted)
        records = [
            record
            for batch in wanted
            for record in staged[batch]
            if batch not in outcomes or record.seq in outcomes[batch].failed
        ]
        # Never None, even after the last page: a resumed walk must not start over.
        yield records, {"type": record_type.value, "batch": batches.stop}


def _is_zip(opener: Callable) -> bool:
    with opener() as file:
        return file.read(4) in (b"PK\x03\x04", b"PK\x05\x06")


def _save_staged(
    store: ImportStore,
    operation: ImportOperation,
    writer: _BatchWriter,
    counts: dict[str, int],
    position: dict[str, Any] | None,
    execution_arn: str | None,
) -> ImportOperation:
    """Writes the batches staged so far, then saves the counts and where to resume after them, in
    one write (with the execution staging runs in, where none is recorded yet)."""
    writer.flush()
    step = PREPARING_STEP[writer.last_type] if writer.last_type else operation.step
    try:
        return store.update_operation(
            operation,
            from_steps=STAGING_STEPS,
            step=step,
            heartbeat=True,
            counts=counts | {"total": sum(counts.values())},
            stage_cursor={"position": position, "counts": counts},
            execution_arn=execution_arn if operation.execution_arn is None else None,
        )
    except OperationConflict as exc:
        raise OperationStopped(operation.id) from exc


def _descriptors(operation: ImportOperation, record_type: RecordType, counts: dict[str, int]):
    """The manifest's items: groups of BATCHES_PER_CHILD consecutive batches, one child each."""
    batches = math.ceil(counts[COUNT_FIELD[record_type]] / BATCH_SIZE)
    return (
        {
            "cell": operation.cell,
            "operationId": operation.id,
            "type": record_type.value,
            "batches": list(range(first, min(first + BATCHES_PER_CHILD, batches))),
        }
        for first in range(0, batches, BATCHES_PER_CHILD)
    )


def _reference(operation: ImportOperation) -> dict[str, str]:
    return {"cell": operation.cell, "id": operation.id}


def _ended_early(operation: ImportOperation) -> bool:
    """Canceled, cleared or failed: nothing more is imported; what batches in flight imported is
    counted late, until its counts are settled (reconcile_pending)."""
    return not operation.valid or operation.step in (ProgressStep.IMPORT_FAILED, ProgressStep.IMPORT_CANCELLED)


def import_batch(
    store: ImportStore, files: ImportFiles, cell: str, operation_id: str, record_type: RecordType, batch: int
) -> dict:
    """Imports one batch and counts it exactly once, whatever ran before: the batch's marker, written
    with its counts, records its outcome, and every later attempt makes the table agree with it.

    - Not counted, operation importing this type: import the records, then count them.
    - Not counted, operation ended early (cancel, clear, failure, sweep): import nothing more, but
      count what an earlier attempt did import (those entries exist) as completed, not as errors;
      once its counts are settled (every record never counted is an error), remove them instead.
    - Counted (a retry, a duplicate delivery, or another attempt won the count): remove any entry
      an attempt created for a record the marker counts as not imported.
    Then the failed records are written where the errors API lists them (again, if repeated).
    """
    operation, at_latest, outcome = store.read_batch_context(cell, operation_id, record_type.value, batch)
    if operation is None:
        raise OperationStopped(operation_id)
    records = files.read_staged_batch(operation_id, record_type.value, batch)
    if outcome is None and operation.valid and operation.step == IMPORTING_STEP[record_type]:
        imported = _import_records(store, operation, records)
        if store.count_batch(operation, record_type.value, batch, imported) is BatchCount.COUNTED:
            outcome = imported
            if operation.needs_new_mark(utc_now()):
                store.mark_progress(operation)
        else:  # another attempt counted it, or the operation ended meanwhile: look again
            operation, at_latest, outcome = store.read_batch_context(cell, operation_id, record_type.value, batch)
    if outcome is None and operation is not None and _ended_early(operation):
        committed = _committed(store, operation, records)
        if (
            store.count_batch(operation, record_type.value, batch, committed, late=True, at_latest=at_latest)
            is BatchCount.COUNTED
        ):
            outcome = committed
        else:
            operation, at_latest, outcome = store.read_batch_context(cell, operation_id, record_type.value, batch)
            if outcome is None and operation is not None and not operation.reconcile_pending:
                # Settled without this batch: its records count as errors, so none may stay imported.
                outcome = _not_imported(records)
    if outcome is None or operation is None:
        raise OperationStopped(operation_id)  # neither importing this type nor ended early: not ours to run
    _reconcile(store, operation, records, outcome)
    if failed := _failed_records(records, outcome):
        store.put_failed_records(operation_id, failed)
    if _ended_early(operation):
        raise OperationStopped(operation_id)
    return {"type": record_type.value, "batch": batch, "completed": outcome.completed, "error": outcome.error}


#: An error message is cut to this length, so that a batch's marker (50 of them at most) stays far
#: below DynamoDB's 400 KB item limit.
MAX_ERROR_MESSAGE = 1000


def _import_records(store: ImportStore, operation: ImportOperation, records: list[StagedRecord]) -> BatchOutcome:
    """Creates the entries of the batch's valid records (store.insert_directory_entries: a request
    per 25); an invalid record, or one whose entry is someone else's, fails."""
    failed: dict[int, tuple[RecordError, str]] = {}
    entries: dict[int, DirectoryEntry] = {}
    for record in records:
        entry = _prepared(operation, record)
        if isinstance(entry, DirectoryEntry):
            entries[record.seq] = entry
        else:
            failed[record.seq] = (RecordError.INVALID, entry[:MAX_ERROR_MESSAGE])
    created = store.insert_directory_entries(operation.cell, list(entries.values())) if entries else []
    for (seq, entry), was_created in zip(entries.items(), created, strict=True):
        if not was_created:
            failed[seq] = (
                RecordError.ALREADY_EXISTS,
                f"{entry.kind} {entry.identity} already exists"[:MAX_ERROR_MESSAGE],
            )
    return BatchOutcome(completed=len(records) - len(failed), failed=dict(sorted(failed.items())))


def _not_imported(records: list[StagedRecord]) -> BatchOutcome:
    return BatchOutcome(
        completed=0, failed={record.seq: (RecordError.NOT_IMPORTED, NOT_IMPORTED_MESSAGE) for record in records}
    )


def _committed(store: ImportStore, operation: ImportOperation, records: list[StagedRecord]) -> BatchOutcome:
    """What earlier attempts of a batch imported before its operation ended (one BatchGetItem): the
    records whose entry exists and was created by them; the others were never imported."""
    entries = {record.seq: entry for record in records if (entry := _entry(operation, record)) is not None}
    own = store.own_entries(operation.cell, list(entries.values())) if entries else set()
    return BatchOutcome(
        completed=sum(entry[2] in own for entry in entries.values()),
        failed={
            record.seq: (RecordError.NOT_IMPORTED, NOT_IMPORTED_MESSAGE)
            for record in records
            if record.seq not in entries or entries[record.seq][2] not in own
        },
    )


def _reconcile(
    store: ImportStore, operation: ImportOperation, records: list[StagedRecord], outcome: BatchOutcome
) -> None:
    """Removes the entries that records the marker counts as not imported created anyway: an attempt
    that raced the one that counted, and put after it looked. Valid records only (one BatchGetItem)."""
    entries = [
        entry
        for record in records
        if record.seq in outcome.failed
        and outcome.failed[record.seq][0] != RecordError.INVALID
        and (entry := _entry(operation, record))
    ]
    if not entries:
        return
    own = store.own_entries(operation.cell, entries)
    for kind, identity, reference in entries:
        if reference in own:
            store.delete_directory_entry(operation.cell, kind, identity, reference)


def _failed_records(records: list[StagedRecord], outcome: BatchOutcome) -> list[StagedRecord]:
    """The records that failed, with their error, for the errors API; not those never imported
    because the operation ended first (a retry takes them from the marker)."""
    return [
        replace(record, error_code=outcome.failed[record.seq][0], error=outcome.failed[record.seq][1])
        for record in records
        if record.seq in outcome.failed and outcome.failed[record.seq][0] != RecordError.NOT_IMPORTED
    ]


def _prepared(operation: ImportOperation, record: StagedRecord) -> DirectoryEntry | str:
    """The entry a staged record creates, or why it cannot be imported."""
    if record.problem is not None:
        return record.problem
    try:
        parsed = parse_record(record.type, record.data)
    except RecordInvalid as exc:
        return str(exc)
    kind, identity, reference = _directory_entry(operation, record, parsed)
    return DirectoryEntry(kind, identity, parsed.model_dump(mode="json"), reference)


def _entry(operation: ImportOperation, record: StagedRecord) -> tuple[str, str, str] | None:
    """Where the record's entry would be, if it is valid: (kind, identity, reference)."""
    entry = _prepared(operation, record)
    return (entry.kind, entry.identity, entry.reference) if isinstance(entry, DirectoryEntry) else None


def _directory_entry(
    operation: ImportOperation, record: StagedRecord, parsed: UserRecord | ChannelRecord | MessageRecord
) -> tuple[str, str, str]:
    reference = record.reference(operation.id)
    if isinstance(parsed, UserRecord):
        return "user", parsed.username.lower(), reference
    if isinstance(parsed, ChannelRecord):
        return "channel", parsed.name.lower(), reference
    return "message", f"{parsed.channel}#{reference}", reference


def advance_phase(store: ImportStore, files: ImportFiles, cell: str, operation_id: str, phase: str) -> dict:
    """Moves the operation from one import phase to the next, or finishes it. Every move is
    idempotent (_move), so a repeated or retried phase task succeeds."""
    if phase in NEXT_PHASE:
        from_step, to_step = NEXT_PHASE[phase]
        operation = _move(store, cell, operation_id, frozenset({from_step}), to_step)
        return {"operation": _reference(operation)}
    operation = _move(store, cell, operation_id, frozenset({ProgressStep.IMPORTING_MESSAGES}), ProgressStep.FINISHING)
    if operation.step == ProgressStep.FINISHING:
        if operation.count.processed != operation.count.total:
            raise RuntimeError(f"counts do not add up: {operation.count}")
        files.delete_manifests(operation.id, [record_type.value for record_type in RecordType])
        operation = _move(store, cell, operation_id, frozenset({ProgressStep.FINISHING}), ProgressStep.DONE)
    return {"operation": _reference(operation)}


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
            or _ended_early(operation)
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
                from_steps=ACTIVE_STEPS,
                step=ProgressStep.IMPORT_FAILED,
                failure=failure_of(error),
                ended_early=True,
            )
        except OperationConflict:
            continue  # it moved meanwhile (a batch counted, or it ended): look again
        return {"operation": _reference(operation), "stopped": False}
    raise OperationConflict(cell)


#: An active operation without an execution this long after its last write was started by an API
#: call that died between writing it and StartExecution: the sweeper starts its execution.
UNSTARTED_AFTER = timedelta(minutes=2)


@dataclass(frozen=True)
class Sweep:
    """What one run of the sweeper found and did."""

    stalled: list[ImportOperation]  # active, no progress for `stalled_after`
    failed: list[ImportOperation]  # of those, failed: no progress for `fail_after`
    started: list[ImportOperation]  # active but never started: their executions started now
    reconciled: list[ImportOperation] = field(default_factory=list)  # ended early, counts now settled


def sweep(
    store: ImportStore,
    files: ImportFiles,
    executions: Any,
    now: datetime,
    stalled_after: timedelta,
    fail_after: timedelta,
    concurrency: int,
    reconcile_after: timedelta,
) -> Sweep:
    """The scheduled sweeper. Reads the active operations once; starts the execution of those whose
    start died half-way (the execution is named after the operation, so it can never run twice);
    fails those stalled for `fail_after` (their unprocessed records counted as errors, their
    executions stopped), each only if it is unchanged since it was read; and settles the counts of
    those that ended early `reconcile_after` ago or more (reconcile_stopped; `concurrency` is the
    Maps' MaxConcurrency)."""
    candidates = store.stalled_operations(now - min(stalled_after, fail_after, UNSTARTED_AFTER, reconcile_after))
    minutes = int(fail_after.total_seconds() // 60)
    failed, started = [], []
    reconciled = [
        reconcile_stopped(store, files, operation, concurrency)
        for operation in candidates
        if operation.reconcile_pending and now > _settles_at(operation, reconcile_after)
    ]
    for operation in candidates:
        if not operation.is_active:
            continue
        if operation.execution_arn is None and operation.is_stalled(now, UNSTARTED_AFTER):
            execution_arn = executions.start(operation.cell, operation.id)
            try:
                started.append(
                    store.update_operation(
                        operation,
                        from_steps=ACTIVE_STEPS,
                        execution_arn=execution_arn,
                        heartbeat=True,
                        unchanged_since=operation.updated_at,
                    )
                )
            except OperationConflict:
                pass  # the worker wrote meanwhile: it runs
            continue
        if not operation.is_stalled(now, fail_after):
            continue
        failure = Failure(
            code=STALLED,
            message=f"The import stalled: no progress since "
            f"{iso_millis(operation.last_heartbeat)} (limit {minutes} minutes).",
        )
        try:
            failed.append(
                store.update_operation(
                    operation,
                    from_steps=ACTIVE_STEPS,
                    step=ProgressStep.IMPORT_FAILED,
                    failure=failure,
                    ended_early=True,
                    unchanged_since=operation.updated_at,
                )
            )
        except OperationConflict:
            continue  # it moved on or ended since it was read
        if operation.execution_arn is not None:
            executions.stop(operation.execution_arn, "stalled")
    stalled = [
        operation for operation in candidates if operation.is_stalled(now, stalled_after) and operation not in started
    ]
    return Sweep(stalled=stalled, failed=failed, started=started, reconciled=reconciled)


def reconcile_stopped(
    store: ImportStore, files: ImportFiles, operation: ImportOperation, concurrency: int
) -> ImportOperation:
    """Settles the counts of `operation`, which ended early: counts what batches in flight at the
    end imported and no attempt counted, then counts every record never imported as an error.

    A stop (StopExecution, or a Map Run that fails) aborts child executions: an attempt that died
    after importing, whose retry would have counted late (import_batch), never runs again. Once no
    attempt can still run (`reconcile_after`), those batches are found exactly, from the markers:
    a child imports its group's batches one after another, each once the one before it is counted,
    so only a group's first uncounted batch can have been in flight. And a Map starts its children
    in item order, at most `concurrency` at once, so a started group none of whose batches was
    counted was running at the stop: past the last group with a counted batch, at most
    `concurrency` groups were started. Each such first uncounted batch whose records' entries exist
    is counted late by the same marker transaction. Idempotent: the sweeper and a retry waiting for
    this operation may both run it."""
    for record_type in RecordType:
        for batch in _first_uncounted_of_groups(
            store, operation.id, record_type, getattr(operation.count, COUNT_FIELD[record_type]), concurrency
        ):
            ended, at_latest, outcome = store.read_batch_context(operation.cell, operation.id, record_type.value, batch)
            if ended is None or outcome is not None:
                continue
            try:
                records = files.read_staged_batch(operation.id, record_type.value, batch)
            except StagedBatchMissing:
                continue  # never staged (it ended while staging), so never imported
            committed = _committed(store, ended, records)
            if committed.completed:
                store.count_batch(ended, record_type.value, batch, committed, late=True, at_latest=at_latest)
    store.settle_counts(operation.cell, operation.id)
    return operation


def _first_uncounted_of_groups(
    store: ImportStore, operation_id: str, record_type: RecordType, records: int, concurrency: int
) -> Iterator[int]:
    """The first uncounted batch of each group that may have started: groups are read in order
    (their markers, several groups per BatchGetItem) until `concurrency` + 1 groups in a row had
    no batch counted: no later group started."""
    batches = math.ceil(records / BATCH_SIZE)
    groups = [range(first, min(first + BATCHES_PER_CHILD, batches)) for first in range(0, batches, BATCHES_PER_CHILD)]
    per_read = max(1, _MARKERS_PER_READ // BATCHES_PER_CHILD)
    idle = 0
    for start in range(0, len(groups), per_read):
        chunk = groups[start : start + per_read]
        counted = store.batch_outcomes(operation_id, record_type.value, [b for group in chunk for b in group])
        for group in chunk:
            first_uncounted = next((batch for batch in group if batch not in counted), None)
            if first_uncounted is not None:
                yield first_uncounted
            idle = 0 if first_uncounted != group.start else idle + 1
            if idle > concurrency:
                return


def failure_of(error: dict[str, str]) -> Failure:
    """The operation's failure message for a Step Functions error (Error name, Cause JSON text)."""
    name, cause = error.get("Error", ""), error.get("Cause", "")
    if name == NotAZip.__name__:
        return NOT_A_ZIP
    if name == MalformedInput.__name__:
        return Failure(code=MALFORMED_INPUT, message=f"[{_error_message(cause)}] file format error.")
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
