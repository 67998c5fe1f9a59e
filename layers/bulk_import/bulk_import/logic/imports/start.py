"""Starting an import of a file (in S3, or uploaded through /v1) or of records sent in the request."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, BinaryIO

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.dynamodb.operation_items import KeyTaken
from bulk_import.dal.s3 import ImportFiles, new_upload_id, upload_prefix
from bulk_import.domain.operation import (
    ImportOperation,
    ProgressStep,
    StartKey,
)
from bulk_import.logic.imports.errors import OperationBusy, SnapshotNotFound, UploadNotFound
from bulk_import.logic.imports.launch import (
    UNREAD,
    Executions,
    Keyed,
    Latest,
    earlier_start,
    idle_latest,
    new_operation,
    read_latest,
    replace_latest,
    start_worker,
)


def start_file_import(
    store: ImportStore,
    files: ImportFiles,
    executions: Executions,
    cell: str,
    key: str,
    name: str,
    user: str,
    importer_of_file: Callable[[Callable[[], BinaryIO]], str],
    *,
    latest: Latest = UNREAD,
) -> ImportOperation:
    """Imports the file at S3 `key` into `cell` (Personium's POST __import and the CLI), as the
    importer `importer_of_file` tells from the file (raising what refuses it)."""
    latest = idle_latest(store, cell, latest)
    etag = files.etag(key)
    if etag is None:
        raise SnapshotNotFound(key.rpartition("/")[2])
    kind = importer_of_file(files.opener(key, etag))
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
    operation = new_operation(
        cell, user, kind, ProgressStep.PREPARING_STARTED, importation_name=name, source_key=key, source_etag=etag
    )
    try:
        replace_latest(store, operation, latest, idempotency)
    except KeyTaken as taken:
        repeated = earlier_start(store, cell, idempotency, taken.keyed, None)
        if repeated is None:  # expired since: then the start holding the cell is another one
            raise OperationBusy(cell) from taken
        return repeated
    return start_worker(store, executions, operation, idempotency)


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
    latest = read_latest(store, cell, latest)
    if (repeated := earlier_start(store, cell, idempotency, keyed, latest)) is not None:
        return repeated
    uploaded = files.first_object(upload_prefix(cell, upload_id))
    if uploaded is None:
        raise UploadNotFound(upload_id)
    key, etag = uploaded
    latest = idle_latest(store, cell, latest)
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
    latest = read_latest(store, cell, latest)
    if (repeated := earlier_start(store, cell, idempotency, keyed, latest)) is not None:
        return repeated
    latest = idle_latest(store, cell, latest)  # before the upload: a busy cell leaves no file behind
    key = upload_prefix(cell, new_upload_id()) + "records.jsonl"
    etag = files.put(key, b"".join(json.dumps(record, separators=(",", ":")).encode() + b"\n" for record in records))
    name = name or "records.jsonl"
    return _start_file(store, executions, cell, key, etag, name, user, "v1", latest, idempotency)
