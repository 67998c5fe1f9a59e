"""Stage: read the input from its cursor and write it to the staging area, resumable, within a time
budget; a retry stages its parent's failed records, corrected."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any, cast

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.dynamodb.directory_items import PENDING_SHARDS
from bulk_import.dal.dynamodb.operation_items import OperationConflict
from bulk_import.dal.public_urls import PublicDownloads
from bulk_import.dal.s3 import (
    STAGED_BATCHES_PER_OBJECT,
    ImportFiles,
    manifest_key,
    results_prefix,
    staged_object_of,
)
from bulk_import.domain.importers import downloads_of, waits_for_selection
from bulk_import.domain.operation import (
    BATCH_SIZE,
    ImportOperation,
    ProgressStep,
    utc_now,
)
from bulk_import.domain.records.schema import (
    record_problem,
)
from bulk_import.domain.records.staged import COUNT_FIELD, RecordType, StagedRecord
from bulk_import.logic.worker import steps
from bulk_import.logic.worker.download import download_input
from bulk_import.logic.worker.pending_downloads import pending_record
from bulk_import.logic.worker.settle import reconcile_stopped, settles_at
from bulk_import.logic.worker.steps import (
    MARKERS_PER_READ,
    PREPARING_STEP,
    STAGING_STEPS,
    OperationStopped,
    current,
    move,
    moved_on_by_another,
    reference,
)
from bulk_import.readers.by_format import read_records
from bulk_import.readers.lines import SourceRecord
from bulk_import.readers.slack_export import SkippedFile

#: Records read between two saves of the resume point (a crash repeats at most this much reading);
#: each save writes the partial batches too, so fewer saves mean fewer objects written twice.
STAGE_CHUNK = 5000


def stage_input(
    store: ImportStore,
    files: ImportFiles,
    cell: str,
    operation_id: str,
    out_of_time: Callable[[], bool],
    concurrency: int,
    reconcile_after: timedelta,
    execution_arn: str | None = None,
    downloads: PublicDownloads | None = None,
    skipped: list[SkippedFile] | None = None,
) -> dict[str, Any]:
    """Downloads the input first if it comes from a public URL (`downloads`: logic/worker/download.py).
    Stages records until the input ends or `out_of_time()`; then, once the input is all staged,
    writes the batch manifests and moves the operation to importing users.

    Its first write records `execution_arn`, the execution it runs in: the start records none
    (imports.launch.start_worker), and the sweeper starts an active operation that has none after UNSTARTED_AFTER.

    A retry stages its parent's failed records once the parent's counts are settled: while they
    are not, it settles them itself once `reconcile_after` has passed since the parent ended
    (reconcile_stopped), or answers `waitSeconds`, how long the state machine waits before it
    calls again, with the wait recorded on the operation (`waitingUntil`).

    Records are staged in S3, one object per STAGED_BATCHES_PER_OBJECT batches of 50 (dal/s3.py).
    Resumable from anywhere: where to resume (the input position and the counts up to it) is saved
    on the operation in the same write as those counts, right after the batches it covers are
    written. Any attempt, a retry of a crashed one included, resumes from there, renumbers the same
    records the same way and writes the same objects."""
    operation = _staging_or_staged(store, cell, operation_id)
    manifest = {"bucket": files.bucket, "concurrency": concurrency, "results": results_prefix(operation.id)}
    staged_manifest = manifest | {t.value: manifest_key(operation.id, t.value) for t in RecordType}
    if operation.step == ProgressStep.DOWNLOADING_FILE:
        if downloads is None:
            raise ValueError("the input is to be downloaded, and no downloads are allowed here")
        operation = download_input(store, files, operation, downloads, execution_arn)
    if operation.step not in STAGING_STEPS:  # staged by an attempt whose answer was lost
        return _staged_answer(operation, staged_manifest)
    try:
        return _stage(
            store, files, operation, manifest, reconcile_after, concurrency, out_of_time, execution_arn, skipped
        )
    except _StagedByAnotherAttempt as other:  # a duplicate delivery that finished first
        return _staged_answer(other.operation, staged_manifest)


def _staging_or_staged(store: ImportStore, cell: str, operation_id: str) -> ImportOperation:
    """The operation, if staging may go on or has ended: active, or a prepared file waiting for its
    selection (a repeat of the attempt that moved it there answers as that one did)."""
    operation = store.latest_operation(cell)
    if (
        operation is not None
        and operation.id == operation_id
        and operation.valid
        and operation.step == ProgressStep.USER_SELECTION
        and waits_for_selection(operation.importer_key, operation.parent_id)
    ):
        return operation
    return current(store, cell, operation_id, latest=operation)


class _StagedByAnotherAttempt(Exception):
    """Another attempt of this task (Step Functions and Lambda deliver at least once, at the same time
    too) staged the input and moved the operation on while this one was still staging."""

    def __init__(self, operation: ImportOperation) -> None:
        self.operation = operation


def _stage(
    store: ImportStore,
    files: ImportFiles,
    operation: ImportOperation,
    manifest: dict[str, Any],
    reconcile_after: timedelta,
    concurrency: int,
    out_of_time: Callable[[], bool],
    execution_arn: str | None,
    skipped: list[SkippedFile] | None,
) -> dict[str, Any]:
    """stage_input's staging of an operation still in a staging step."""
    cell, operation_id = operation.cell, operation.id
    cursor = operation.stage_cursor
    counts = (
        dict(cursor["counts"]) if cursor else {field: getattr(operation.count, field) for field in COUNT_FIELD.values()}
    )
    position = cursor and cursor["position"]
    if operation.parent_id is not None:
        # A retry is started of an existing operation (imports.retry.retry), which it keeps for as long.
        parent = cast(ImportOperation, store.operation(cell, operation.parent_id))
        if parent.reconcile_pending:
            parent_settles_at = settles_at(parent, reconcile_after)
            if utc_now() < parent_settles_at:
                return _wait_for_parent(store, operation, parent_settles_at, execution_arn)
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
                return {"operation": reference(operation), "staged": False}
    elif operation.source_key is not None:
        opener = files.opener(operation.source_key, operation.source_etag)
        writer = _BatchWriter(files, operation.id, counts)
        file_name = operation.source_key.rpartition("/")[2]
        for read, source_record in enumerate(read_records(opener, position, name=file_name, skipped=skipped), start=1):
            writer.add(_staged(source_record, counts))
            position = source_record.cursor
            if read % STAGE_CHUNK == 0:
                operation = _save_staged(store, operation, writer, counts, position, execution_arn)
                if out_of_time():
                    return {"operation": reference(operation), "staged": False}
        operation = _save_staged(store, operation, writer, counts, position, execution_arn)
    elif (kind := downloads_of(operation.importer_key)) is not None:
        writer = _BatchWriter(files, operation.id, counts)
        walk = _pending_downloads(store, operation.cell, kind, position)
        for entries, position in walk:
            for identity, indexes in entries:
                for index in indexes:
                    writer.add(_pending_staged(kind, identity, index, counts))
            operation = _save_staged(store, operation, writer, counts, position, execution_arn)
            if out_of_time():
                return {"operation": reference(operation), "staged": False}
    else:  # import.addUsers staged its users in the table, with their count: they move to S3
        writer = _BatchWriter(files, operation.id)
        batches = math.ceil(counts[COUNT_FIELD[RecordType.USER]] / BATCH_SIZE)
        for first in range(position["batch"] if position else 0, batches, MARKERS_PER_READ):
            for batch in range(first, min(first + MARKERS_PER_READ, batches)):
                for record in store.api_records(operation.id, RecordType.USER.value, batch):
                    writer.add(record)
            operation = _save_staged(
                store, operation, writer, counts, {"batch": first + MARKERS_PER_READ}, execution_arn
            )
            if out_of_time():
                return {"operation": reference(operation), "staged": False}
    manifest |= {
        record_type.value: files.write_manifest(
            operation.id, record_type.value, _descriptors(operation, record_type, counts)
        )
        for record_type in RecordType
    }
    operation = move(
        store,
        cell,
        operation_id,
        STAGING_STEPS,
        _staged_step(operation),
        forget_stage_cursor=True,
        execution_arn=execution_arn if operation.execution_arn is None else None,
    )
    return _staged_answer(operation, manifest)


def _staged_step(operation: ImportOperation) -> ProgressStep:
    """Where staging leaves the operation: a file of Rocket.Chat's file importers waits for
    startImport's selection (it resumes the execution that waits in AwaitSelection); downloads go on
    in importer_importing_files; every other import goes on at once."""
    if waits_for_selection(operation.importer_key, operation.parent_id):
        return ProgressStep.USER_SELECTION
    if downloads_of(operation.importer_key):
        return ProgressStep.IMPORTING_FILES
    return ProgressStep.IMPORTING_USERS


#: Index entries read per Query when staging the downloads imported entries left.
PENDING_PER_READ = 1000


def _pending_downloads(
    store: ImportStore, cell: str, kind: str, position: dict[str, Any] | None
) -> Iterator[tuple[list[tuple[str, list[int]]], dict[str, Any]]]:
    """The downloads the cell's entries of `kind` left, a page of the PendingDownloads index at a
    time (its partitions one after another), each page with the position after it."""
    position = position or {"shard": 0, "after": None}
    for shard in range(position["shard"], PENDING_SHARDS):
        after = position["after"] if shard == position["shard"] else None
        while True:
            page = store.pending_downloads_page(cell, kind, shard, after, PENDING_PER_READ)
            after = page.next_key
            # Never None, even after the last page: a resumed walk must not start over.
            yield page.items, ({"shard": shard, "after": after} if after else {"shard": shard + 1, "after": None})
            if after is None:
                break


def _pending_staged(kind: str, identity: str, index: int, counts: dict[str, int]) -> StagedRecord:
    """One download an entry left, as the next record of its kind's type."""
    record_type = RecordType(kind)
    field = COUNT_FIELD[record_type]
    staged = StagedRecord(
        type=record_type.value,
        seq=counts[field],
        data=pending_record(identity, index),
        source=f"{kind} {identity}, download {index}",
    )
    counts[field] += 1
    return staged


def _staged_answer(operation: ImportOperation, manifest: dict[str, Any]) -> dict[str, Any]:
    """What the state machine gets once the input is staged: the manifests, and whether the
    operation waits for its selection first (AwaitSelection)."""
    answer = {"operation": reference(operation), "staged": True, "manifest": manifest}
    return answer | ({"awaitsSelection": True} if operation.step == ProgressStep.USER_SELECTION else {})


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
    return {"operation": reference(operation), "staged": False, "waitSeconds": max(wait, 1)}


class _BatchWriter:
    """Gathers staged records into their objects (STAGED_BATCHES_PER_OBJECT batches of one type,
    dal/s3.py) and writes each as one S3 object: full objects a few at a time, and on `flush` every
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
            (record_type, range(start, min(start + MARKERS_PER_READ, batches)))
            for start in range(first, batches, MARKERS_PER_READ)
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
        raise _StagedByAnotherAttempt(moved_on_by_another(store, operation, _past_staging)) from exc


def _past_staging(operation: ImportOperation) -> bool:
    return operation.step not in STAGING_STEPS


def _descriptors(operation: ImportOperation, record_type: RecordType, counts: dict[str, int]):
    """The manifest's items: groups of consecutive batches (steps.batches_per_child), one child each."""
    batches = math.ceil(counts[COUNT_FIELD[record_type]] / BATCH_SIZE)
    per_child = steps.batches_per_child(operation)
    return (
        {
            "cell": operation.cell,
            "operationId": operation.id,
            "type": record_type.value,
            "batches": list(range(first, min(first + per_child, batches))),
        }
        for first in range(0, batches, per_child)
    )
