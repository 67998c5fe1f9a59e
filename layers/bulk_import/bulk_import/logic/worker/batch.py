"""Batch: import one batch of at most 50 staged records and count it exactly once."""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from typing import Any

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.dynamodb.directory_items import DirectoryEntry
from bulk_import.dal.dynamodb.record_items import BatchCount, BatchOutcome
from bulk_import.dal.public_urls import PublicDownloads
from bulk_import.dal.s3 import ImportFiles, selection_key
from bulk_import.domain.downloads import pending_downloads
from bulk_import.domain.importers import downloads_of, emails_required, waits_for_selection
from bulk_import.domain.operation import (
    ImportOperation,
    utc_now,
)
from bulk_import.domain.records.schema import (
    ChannelRecord,
    MessageRecord,
    RecordInvalid,
    UserRecord,
    parse_record,
)
from bulk_import.domain.records.staged import RecordType, StagedRecord
from bulk_import.domain.selection import is_selected
from bulk_import.logic.worker.pending_downloads import (
    FailedAvatar,
    download_records,
    landed_downloads,
    undo_downloads,
)
from bulk_import.logic.worker.steps import OperationStopped, ended_early, importing_step


class RecordError(StrEnum):
    """Why a record failed to import: the stable `code` of each failed record."""

    INVALID = "invalid-record"
    ALREADY_EXISTS = "already-exists"
    #: Its operation ended (cancel, clear, failure) before the record was imported; a retry takes it.
    NOT_IMPORTED = "not-imported"
    #: Rocket.Chat's startImport did not select it (domain/selection.py); a retry imports it.
    NOT_SELECTED = "not-selected"
    #: A pending file could not be downloaded (downloadPendingFiles); a retry tries again.
    DOWNLOAD_FAILED = "download-failed"


NOT_IMPORTED_MESSAGE = "The import ended before this record was imported."
NOT_SELECTED_MESSAGE = "Not selected for this import (startImport)."


def import_batch(
    store: ImportStore,
    files: ImportFiles,
    cell: str,
    operation_id: str,
    record_type: RecordType,
    batch: int,
    downloads: PublicDownloads | None = None,
    failed_avatars: list[FailedAvatar] | None = None,
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

    A batch of downloads (downloadPendingFiles, downloadPendingAvatars) fetches its records' files
    through `downloads` (logic/worker/pending_downloads.py) where another imports records: a
    download recorded on its entry stands for an entry created. Avatars that could not be
    downloaded (counted as completed, as Rocket.Chat counts them) are appended to `failed_avatars`.
    """
    operation, at_latest, outcome = store.read_batch_context(cell, operation_id, record_type.value, batch)
    if operation is None:
        raise OperationStopped(operation_id)
    records = files.read_staged_batch(operation_id, record_type.value, batch)
    if outcome is None and operation.valid and operation.step == importing_step(operation, record_type):
        imported = _imported(store, files, downloads, operation, records, failed_avatars)
        if store.count_batch(operation, record_type.value, batch, imported) is BatchCount.COUNTED:
            outcome = imported
            if operation.needs_new_mark(utc_now()):
                store.mark_progress(operation)
        else:  # another attempt counted it, or the operation ended meanwhile: look again
            operation, at_latest, outcome = store.read_batch_context(cell, operation_id, record_type.value, batch)
    if outcome is None and operation is not None and ended_early(operation):
        committed = committed_outcome(store, operation, records)
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
    if ended_early(operation):
        raise OperationStopped(operation_id)
    return {"type": record_type.value, "batch": batch, "completed": outcome.completed, "error": outcome.error}


#: An error message is cut to this length, so that a batch's marker (50 of them at most) stays far
#: below DynamoDB's 400 KB item limit.
MAX_ERROR_MESSAGE = 1000


def _imported(
    store: ImportStore,
    files: ImportFiles,
    downloads: PublicDownloads | None,
    operation: ImportOperation,
    records: list[StagedRecord],
    failed_avatars: list[FailedAvatar] | None,
) -> BatchOutcome:
    """What this attempt imports of the batch: its records' entries, or its downloads."""
    if downloads_of(operation.importer_key) is None:
        return _import_records(store, operation, records, _selection(files, operation))
    if downloads is None:
        raise ValueError("a batch of downloads needs what it may download")
    failed = download_records(store, files, downloads, operation, records, failed_avatars)
    return BatchOutcome(
        completed=len(records) - len(failed),
        failed={seq: (RecordError.DOWNLOAD_FAILED, why[:MAX_ERROR_MESSAGE]) for seq, why in sorted(failed.items())},
    )


def _import_records(
    store: ImportStore, operation: ImportOperation, records: list[StagedRecord], selection: dict[str, Any] | None
) -> BatchOutcome:
    """Creates the entries of the batch's valid records (store.insert_directory_entries: a request
    per 25); an invalid record, one `selection` leaves out, or one whose entry is someone else's,
    fails."""
    failed: dict[int, tuple[RecordError, str]] = {}
    entries: dict[int, DirectoryEntry] = {}
    for record in records:
        entry = _prepared(operation, record)
        if not isinstance(entry, DirectoryEntry):
            failed[record.seq] = (RecordError.INVALID, entry[:MAX_ERROR_MESSAGE])
        elif selection is not None and not is_selected(selection, record.type, record.data):
            failed[record.seq] = (RecordError.NOT_SELECTED, NOT_SELECTED_MESSAGE)
        else:
            entries[record.seq] = entry
    created = store.insert_directory_entries(operation.cell, list(entries.values())) if entries else []
    for (seq, entry), was_created in zip(entries.items(), created, strict=True):
        if not was_created:
            failed[seq] = (
                RecordError.ALREADY_EXISTS,
                f"{entry.kind} {entry.identity} already exists"[:MAX_ERROR_MESSAGE],
            )
    return BatchOutcome(completed=len(records) - len(failed), failed=dict(sorted(failed.items())))


#: The selection of the operation this environment last imported a batch of: its batches, one
#: after another, read it once.
_selections: dict[str, dict[str, Any]] = {}


def _selection(files: ImportFiles, operation: ImportOperation) -> dict[str, Any] | None:
    """What startImport selected, for an operation of a Rocket.Chat file importer (None: all)."""
    if not waits_for_selection(operation.importer_key, operation.parent_id):
        return None
    if operation.id not in _selections:
        _selections.clear()
        _selections[operation.id] = files.read_json(selection_key(operation.id))
    return _selections[operation.id]


def _not_imported(records: list[StagedRecord]) -> BatchOutcome:
    return BatchOutcome(
        completed=0, failed={record.seq: (RecordError.NOT_IMPORTED, NOT_IMPORTED_MESSAGE) for record in records}
    )


def committed_outcome(store: ImportStore, operation: ImportOperation, records: list[StagedRecord]) -> BatchOutcome:
    """What earlier attempts of a batch imported before its operation ended (one BatchGetItem): the
    records whose entry exists and was created by them (or whose download they recorded); the
    others were never imported."""
    if downloads_of(operation.importer_key) is not None:
        landed = landed_downloads(store, operation, records)
        return BatchOutcome(
            completed=len(landed),
            failed={
                record.seq: (RecordError.NOT_IMPORTED, NOT_IMPORTED_MESSAGE)
                for record in records
                if record.seq not in landed
            },
        )
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
    that raced the one that counted, and put after it looked. Valid records only (one BatchGetItem).
    For downloads, puts back among the pending ones those such records recorded."""
    if downloads_of(operation.importer_key) is not None:
        undo_downloads(store, operation, [record for record in records if record.seq in outcome.failed])
        return
    entries = [
        entry
        for record in records
        if record.seq in outcome.failed
        and outcome.failed[record.seq][0] not in (RecordError.INVALID, RecordError.NOT_SELECTED)
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
        parsed = parse_record(record.type, record.data, emails_required=emails_required(operation.importer_key))
    except RecordInvalid as exc:
        return str(exc)
    kind, identity, reference = _directory_entry(operation, record, parsed)
    data = parsed.model_dump(mode="json", exclude_none=True)
    return DirectoryEntry(kind, identity, data, reference, downloads=pending_downloads(kind, data))


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
