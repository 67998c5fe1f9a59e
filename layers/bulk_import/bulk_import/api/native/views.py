"""The JSON shapes of the /v1 answers: an import, a page of imports, failed records (JSON and CSV),
an upload.

Response bodies are dicts typed by TypedDicts, from which the OpenAPI document is generated (pydantic
reads them then, at development time): the read function builds them without loading pydantic
(docs/decisions/0002-cold-start-budget.md), and nothing validates at run time what this code built.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, NotRequired

from typing_extensions import TypedDict

from bulk_import.api.common import OperationCounts, answer_shape, present
from bulk_import.api.native.queries import encode_cursor
from bulk_import.domain.operation import ImportOperation, ImportState, ProgressStep, iso_millis, utc_now
from bulk_import.domain.records.staged import RecordType, StagedRecord
from bulk_import.settings import get_settings

if TYPE_CHECKING:  # the read function does not load the upload machinery
    from bulk_import.logic.uploads import Upload


class ImportFailure(TypedDict):
    """Why an import failed: a Personium-style code (PRxxx-XX-nnnn) and an English message."""

    code: str
    message: str


@answer_shape
class ImportView(TypedDict):
    """An import: its state, progress and times."""

    id: str
    cell: str
    name: NotRequired[str]
    state: ImportState
    step: ProgressStep
    stalled: bool
    valid: bool
    parentId: NotRequired[str]
    counts: OperationCounts
    percent: int
    rate: NotRequired[float]
    """Records processed per second over the last 30-60 s"""
    etaSeconds: NotRequired[int]
    settling: NotRequired[bool]
    """Canceled, cleared or failed, and its counts not final yet: batches that were in flight may
    still count what they imported, then every record never imported counts as an error (counts
    only grow; completed + error == total once settled)"""
    waitingUntil: NotRequired[str]
    """A retry waits until then for its parent's counts to settle, and stages its records after"""
    startedAt: str
    updatedAt: str
    heartbeatAt: str
    finishedAt: NotRequired[str]
    expiresAt: NotRequired[str]
    failure: NotRequired[ImportFailure]


def import_view(operation: ImportOperation) -> ImportView:
    """The view of `operation` now, stalled by this stack's StalledAfterMinutes."""
    rate = operation.rate
    view: ImportView = present(
        id=operation.id,
        cell=operation.cell,
        name=operation.importation_name,
        state=operation.state,
        step=operation.step,
        stalled=operation.is_stalled(utc_now(), get_settings().stalled_after),
        valid=operation.valid,
        parentId=operation.parent_id,
        counts=asdict(operation.count),
        percent=operation.count.percent,
        rate=round(rate, 2) if rate is not None and operation.is_active else None,
        etaSeconds=operation.eta_seconds,
        settling=operation.reconcile_pending or None,
        waitingUntil=operation.waiting_until and iso_millis(operation.waiting_until),
        startedAt=iso_millis(operation.started_at),
        updatedAt=iso_millis(operation.updated_at),
        heartbeatAt=iso_millis(operation.last_heartbeat),
        finishedAt=operation.finished_at and iso_millis(operation.finished_at),
        expiresAt=operation.expires_at and iso_millis(operation.expires_at),
        failure=operation.failure and asdict(operation.failure),
    )
    return view


class ImportList(TypedDict):
    """A page of imports, newest first."""

    items: list[ImportView]
    nextCursor: NotRequired[str]


def _page(items: list[Any], next_key: dict[str, Any] | None) -> Any:
    """A listing's page: its items, and the cursor of the next page unless this is the last."""
    return present(items=items, nextCursor=encode_cursor(next_key))


def import_list(operations: Sequence[ImportOperation], next_key: dict[str, Any] | None) -> ImportList:
    return _page([import_view(operation) for operation in operations], next_key)


@answer_shape
class FailedRecordView(TypedDict):
    """A record that failed to import, with its error."""

    record: str
    """The record's id in its import (type:sequence), the key of a retry correction"""
    type: RecordType
    source: str
    """Where the record came from: file and line, or API call and position"""
    code: str
    message: str
    data: dict[str, Any]


def failed_record_view(record: StagedRecord) -> FailedRecordView:
    return {
        "record": record.record_id,
        "type": RecordType(record.type),
        "source": record.source,
        "code": record.error_code or "record-failed",
        "message": record.error or "",
        "data": record.data,
    }


class FailedRecordList(TypedDict):
    """A page of an import's failed records."""

    items: list[FailedRecordView]
    nextCursor: NotRequired[str]


def failed_record_list(records: Sequence[StagedRecord], next_key: dict[str, Any] | None) -> FailedRecordList:
    return _page([failed_record_view(record) for record in records], next_key)


CSV_COLUMNS = ["record", "type", "source", "code", "message", "data"]


def csv_row(view: FailedRecordView) -> list[str]:
    return [
        view["record"],
        view["type"].value,
        view["source"],
        view["code"],
        view["message"],
        json.dumps(view["data"], default=str, separators=(",", ":")),
    ]


class UploadPart(TypedDict):
    partNumber: int
    url: str


@answer_shape
class UploadView(TypedDict):
    """Where to PUT a file: one URL, or one per part."""

    uploadId: str
    method: str
    url: NotRequired[str]
    """Single upload: PUT the whole file here"""
    partSize: NotRequired[int]
    parts: NotRequired[list[UploadPart]]
    """Multipart upload: PUT each part, then POST the ETags to .../complete"""
    expiresAt: str


def upload_view(upload: Upload) -> UploadView:
    parts = (
        None
        if upload.part_urls is None
        else [UploadPart(partNumber=number, url=url) for number, url in enumerate(upload.part_urls, start=1)]
    )
    view: UploadView = present(
        uploadId=upload.upload_id,
        method="PUT",
        url=upload.url,
        partSize=upload.part_size,
        parts=parts,
        expiresAt=iso_millis(upload.expires_at),
    )
    return view


@answer_shape
class CompletedUpload(TypedDict):
    uploadId: str
    filename: str
