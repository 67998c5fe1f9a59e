"""Download: the input file of Rocket.Chat's downloadPublicImportFile, fetched from its public URL
into the bucket before staging reads it (docs/worker.md, "Downloading a public file")."""

from __future__ import annotations

import time
from collections.abc import Iterator

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.dynamodb.operation_items import OperationConflict
from bulk_import.dal.public_urls import PublicDownloads
from bulk_import.dal.s3 import ImportFiles, new_upload_id, upload_prefix
from bulk_import.domain.operation import ImportOperation, ProgressStep
from bulk_import.logic.worker.steps import moved_on_by_another

#: Seconds between two heartbeats of a download (stalled_after is minutes); each also finds an
#: operation canceled or cleared meanwhile, and stops the download.
HEARTBEAT_SECONDS = 60.0

_DOWNLOADING = frozenset({ProgressStep.DOWNLOADING_FILE})


def download_input(
    store: ImportStore,
    files: ImportFiles,
    operation: ImportOperation,
    downloads: PublicDownloads,
    execution_arn: str | None,
) -> ImportOperation:
    """Streams the operation's URL into a key of its own in the bucket, then records that key and its
    ETag and moves the operation to importer_file_loaded, as Rocket.Chat's download ends; answers the
    operation as recorded. Raises what the fetch raises (SsrfValidationFailed, FetchFailed): every
    hop is checked again here, whatever the API checked.

    Each delivery of the task downloads into a key of its own, so two at once never write one
    object; the first to record its key wins, and the other's object expires with the uploads."""
    assert operation.source_url is not None and operation.importation_name is not None
    key = upload_prefix(operation.cell, new_upload_id()) + operation.importation_name
    try:
        with downloads.open(operation.source_url) as download:
            etag = files.upload_chunks(key, _with_heartbeats(store, operation, download.chunks(), execution_arn))
        try:
            return store.update_operation(
                operation,
                from_steps=_DOWNLOADING,
                step=ProgressStep.FILE_LOADED,
                heartbeat=True,
                source=(key, etag),
                execution_arn=execution_arn if operation.execution_arn is None else None,
            )
        except OperationConflict:
            return moved_on_by_another(store, operation, _downloaded)
    except _DownloadedByAnother as other:
        return other.operation


class _DownloadedByAnother(Exception):
    """Another delivery of the task recorded its download first: this one's is not needed."""

    def __init__(self, operation: ImportOperation) -> None:
        self.operation = operation


def _downloaded(operation: ImportOperation) -> bool:
    """Whether a delivery recorded its download on the operation."""
    return operation.source_key is not None


def _with_heartbeats(
    store: ImportStore, operation: ImportOperation, chunks: Iterator[bytes], execution_arn: str | None
) -> Iterator[bytes]:
    """The chunks, with a heartbeat on the operation every HEARTBEAT_SECONDS (which records the
    execution, as staging's writes do, so the sweeper does not start it again); once the operation
    is no longer downloading, the exception that says why (which aborts the upload)."""
    last = time.monotonic()
    for chunk in chunks:
        if time.monotonic() - last >= HEARTBEAT_SECONDS:
            try:
                operation = store.update_operation(
                    operation,
                    from_steps=_DOWNLOADING,
                    heartbeat=True,
                    execution_arn=execution_arn if operation.execution_arn is None else None,
                )
            except OperationConflict:
                raise _DownloadedByAnother(moved_on_by_another(store, operation, _downloaded)) from None
            last = time.monotonic()
        yield chunk
