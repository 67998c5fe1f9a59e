"""The batches of downloadPendingFiles and downloadPendingAvatars: each staged record is one download
an imported entry left (domain/downloads.py), fetched from its URL into the bucket and recorded on
the entry; logic/worker/batch.py counts them with its marker like any other record (docs/worker.md,
"Pending files and avatars")."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bulk_import.concurrency import THREAD_NAME_PREFIX, map_all
from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.dynamodb.directory_items import PendingEntry, StoredDownload
from bulk_import.dal.public_urls import FetchFailed, PublicDownloads, SsrfValidationFailed
from bulk_import.dal.s3 import ImportFiles, downloaded_file_key
from bulk_import.domain.downloads import USER, download_name, download_url
from bulk_import.domain.errors import BulkImportError
from bulk_import.domain.importers import downloads_of
from bulk_import.domain.operation import ImportOperation
from bulk_import.domain.records.staged import StagedRecord

#: Downloads at once, as Rocket.Chat's PendingFileImporter keeps at most 10 in flight.
DOWNLOADS_AT_ONCE = 10
_DOWNLOADS = ThreadPoolExecutor(max_workers=DOWNLOADS_AT_ONCE, thread_name_prefix=f"{THREAD_NAME_PREFIX}downloads")
#: Attempts at recording an entry's downloads when another attempt recorded one of them first.
_RECORD_ATTEMPTS = 3


class DownloadsConflict(BulkImportError):
    """An entry's downloads kept changing while this batch recorded its own: the batch is retried."""


def pending_record(identity: str, index: int) -> dict[str, object]:
    """A staged record's data: which entry, and which of its downloads."""
    return {"identity": identity, "download": index}


@dataclass(frozen=True)
class FailedAvatar:
    """An avatar that could not be downloaded: the user, and why."""

    user: str
    reason: str


@dataclass(frozen=True)
class _Download:
    record: StagedRecord
    entry: PendingEntry
    index: int
    url: str


def download_records(
    store: ImportStore,
    files: ImportFiles,
    downloads: PublicDownloads,
    operation: ImportOperation,
    records: list[StagedRecord],
    failed_avatars: list[FailedAvatar] | None = None,
) -> dict[int, str]:
    """Fetches the batch's downloads (DOWNLOADS_AT_ONCE at a time), each into its own key, and records
    each entry's on it in one conditional write. Answers why each failed download failed, by seq.

    A download already recorded (by an earlier attempt of this record, or by an earlier import) and
    one with no http(s) URL count as completed, as Rocket.Chat counts them. A failed avatar too:
    Rocket.Chat counts it completed, leaves it pending and logs it (PendingAvatarImporter): each is
    appended to `failed_avatars`, for the handler to log."""
    kind = _kind(operation)
    entries = _entries(store, operation, records)
    failed: dict[int, str] = {}
    wanted: list[_Download] = []
    for record in records:
        identity, index = record.data["identity"], record.data["download"]
        entry = entries.get(identity)
        if entry is None:
            failed[record.seq] = f"{kind} {identity} no longer exists"
        elif index in entry.pending and (url := download_url(kind, entry.data, index)) is not None:
            wanted.append(_Download(record, entry, index, url))
    fetched = map_all(_DOWNLOADS, lambda download: _fetch(files, downloads, operation, download), wanted)
    stored: dict[str, dict[int, StoredDownload]] = {}
    for download, (key, why) in zip(wanted, fetched, strict=True):
        if key is not None:
            stored.setdefault(download.entry.identity, {})[download.index] = StoredDownload(
                key, download.record.reference(operation.id)
            )
        elif kind == USER:
            if failed_avatars is not None:
                failed_avatars.append(FailedAvatar(download.entry.identity, why))
        else:
            failed[download.record.seq] = why
    for identity, done in stored.items():
        _record(store, operation, entries[identity], done)
    return failed


def landed_downloads(store: ImportStore, operation: ImportOperation, records: list[StagedRecord]) -> set[int]:
    """The seqs of the records whose download an attempt of theirs recorded (one BatchGetItem)."""
    entries = _entries(store, operation, records)
    return {record.seq for record in records if _recorded_by(entries, operation, record)}


def undo_downloads(store: ImportStore, operation: ImportOperation, records: list[StagedRecord]) -> None:
    """Puts back among the pending ones the downloads that these records (counted as not
    downloaded) recorded anyway: an attempt that raced the one that counted."""
    entries = _entries(store, operation, records)
    for record in records:
        if _recorded_by(entries, operation, record):
            store.undo_download(
                operation.cell,
                _kind(operation),
                record.data["identity"],
                record.data["download"],
                record.reference(operation.id),
            )


def _kind(operation: ImportOperation) -> str:
    kind = downloads_of(operation.importer_key)
    if kind is None:
        raise ValueError(f"{operation.importer_key} imports records, it does not download")
    return kind


def _entries(store: ImportStore, operation: ImportOperation, records: list[StagedRecord]) -> dict[str, PendingEntry]:
    identities = sorted({record.data["identity"] for record in records})
    return store.pending_entries(operation.cell, _kind(operation), identities) if identities else {}


def _recorded_by(entries: dict[str, PendingEntry], operation: ImportOperation, record: StagedRecord) -> bool:
    entry = entries.get(record.data["identity"])
    done = entry.done.get(record.data["download"]) if entry else None
    return done is not None and done.by == record.reference(operation.id)


def _fetch(
    files: ImportFiles, downloads: PublicDownloads, operation: ImportOperation, download: _Download
) -> tuple[str | None, str]:
    """Streams one download into its key: (the key, "") once stored, (None, why) if the fetch failed
    (a refused target, a status, a size or time limit). What fails in the bucket raises."""
    kind, entry = _kind(operation), download.entry
    key = downloaded_file_key(
        operation.cell, kind, entry.identity, download.index, download_name(kind, entry.data, download.index)
    )
    try:
        with downloads.open(download.url) as response:
            files.upload_chunks(key, response.chunks())
    except (SsrfValidationFailed, FetchFailed) as exc:
        return None, f"The file could not be downloaded: {exc}"
    return key, ""


def _record(
    store: ImportStore, operation: ImportOperation, entry: PendingEntry, done: dict[int, StoredDownload]
) -> None:
    """Records an entry's downloads; when another attempt recorded some first (a duplicate delivery),
    reads the entry again and records the rest."""
    for _ in range(_RECORD_ATTEMPTS):
        if store.record_downloads(operation.cell, entry, done):
            return
        latest = store.pending_entries(operation.cell, entry.kind, [entry.identity]).get(entry.identity)
        if latest is None:
            return  # the entry is gone: nothing to record it on
        entry, done = latest, {index: stored for index, stored in done.items() if index in latest.pending}
        if not done:
            return  # every one recorded meanwhile (by the other attempt of the same records)
    raise DownloadsConflict(f"{entry.kind} {entry.identity}: its downloads changed {_RECORD_ATTEMPTS} times")
