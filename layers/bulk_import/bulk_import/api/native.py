"""The native /v1 API's HTTP side: bearer credentials, views, cursors and RFC 9457 problem details.

Every refusal is a problem document (`application/problem+json`) whose `type` is a stable URN, one
per kind of error (PROBLEMS); the README lists them.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from pydantic import BaseModel, Field, model_validator

from bulk_import.api.common import WireModel
from bulk_import.api.observability import logger
from bulk_import.errors import (
    AuthenticationRequired,
    CredentialExpired,
    InvalidCredential,
    InvalidCursor,
    OperationNotFound,
    PermissionDenied,
)
from bulk_import.imports import InvalidCorrections, NotCancelable, NotRetryable, OperationBusy, UploadNotFound
from bulk_import.model import Counts, Failure, ImportOperation, ImportState, ProgressStep, iso_millis, utc_now
from bulk_import.records import RecordType, StagedRecord
from bulk_import.settings import get_settings
from bulk_import.uploads import MAX_UPLOAD_SIZE, Upload

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:bulk-import:problem:"

#: slug -> (HTTP status, title). The `type` of a problem is PROBLEM_TYPE_PREFIX + slug.
PROBLEMS: dict[str, tuple[int, str]] = {
    "unauthenticated": (401, "A bearer credential is required"),
    "invalid-credential": (401, "The credential is not valid"),
    "credential-expired": (401, "The credential has expired"),
    "forbidden": (403, "The credential does not allow this in this cell"),
    "not-found": (404, "No such resource"),
    "operation-not-found": (404, "No such import in this cell"),
    "upload-not-found": (404, "No file was uploaded under this upload id"),
    "invalid-request": (422, "The request is not valid"),
    "invalid-cursor": (400, "The cursor does not belong to this listing"),
    "invalid-corrections": (422, "Some corrections cannot be applied"),
    "import-in-progress": (409, "Another import of this cell is loading or importing"),
    "not-cancelable": (409, "The import cannot be canceled"),
    "not-retryable": (409, "The import cannot be retried"),
    "idempotency-key-reused": (422, "The Idempotency-Key was used with a different request"),
    "idempotency-key-in-use": (409, "A request with this Idempotency-Key is still being processed"),
    "unsupported-media-type": (415, "The request body must be JSON (Content-Type: application/json)"),
    "internal-error": (500, "Internal error"),
}


class Problem(WireModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    #: Validation problems, one per invalid field or record.
    errors: list[str] | None = None


def problem(slug: str, detail: str | None = None, errors: list[str] | None = None,
            headers: dict[str, str] | None = None, instance: str | None = None) -> Response:
    status, title = PROBLEMS[slug]
    body = Problem(type=PROBLEM_TYPE_PREFIX + slug, title=title, status=status, detail=detail, errors=errors,
                   instance=instance)
    return Response(status_code=status, content_type=PROBLEM_JSON, body=body.model_dump_json(), headers=headers)


# -- requests --------------------------------------------------------------------------------------


def bearer_token(event: APIGatewayProxyEvent) -> str | None:
    """The bearer token of the Authorization header; None when there is no header."""
    header = event.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidCredential
    return token.strip()


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    """An opaque cursor for a DynamoDB start key (numbers become strings: keys here are strings)."""
    if key is None:
        return None
    plain = {name: str(value) if isinstance(value, Decimal) else value for name, value in key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if cursor is None:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor from exc
    if not isinstance(key, dict) or not all(isinstance(v, str) for v in key.values()):
        raise InvalidCursor
    return key


FileName = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^/\\\x00-\x1f]+$")]


class UploadRequest(BaseModel):
    filename: FileName = Field(description="Name of the file (a .zip in Rocket.Chat's CSV layout, or .jsonl)")
    size: int | None = Field(default=None, ge=0, le=MAX_UPLOAD_SIZE,
                             description="Bytes; above 5 GiB the upload is multipart")


class CompleteUploadRequest(BaseModel):
    etags: list[str] = Field(min_length=1, max_length=10_000,
                             description="The ETag S3 returned for each part, in part order")


class InlineRecord(BaseModel, extra="allow"):
    """A record sent inline: its type, and the fields of that type (see the README)."""

    type: RecordType


class StartImportRequest(BaseModel):
    uploadId: str | None = Field(default=None, pattern=r"^[0-9a-f]{24}$")
    records: list[InlineRecord] | None = Field(default=None, min_length=1, max_length=10_000)
    name: str | None = Field(default=None, max_length=256, description="Shown as the import's name")

    @model_validator(mode="after")
    def _one_source(self) -> StartImportRequest:
        if (self.uploadId is None) == (self.records is None):
            raise ValueError("give either uploadId or records")
        return self


class RetryRequest(BaseModel):
    corrections: dict[Annotated[str, Field(pattern=r"^(user|channel|message):\d+$")], dict[str, Any]] = Field(
        default_factory=dict, max_length=10_000,
        description="Fixed records by record id (as the errors listing names them); the others are retried as they were")


# -- responses -------------------------------------------------------------------------------------


class ImportView(WireModel):
    id: str
    cell: str
    name: str | None = None
    state: ImportState
    step: ProgressStep
    stalled: bool
    valid: bool
    parentId: str | None = None
    counts: Counts
    percent: int
    rate: float | None = Field(default=None, description="Records processed per second over the last 30-60 s")
    etaSeconds: int | None = None
    startedAt: str
    updatedAt: str
    heartbeatAt: str
    finishedAt: str | None = None
    expiresAt: str | None = None
    failure: Failure | None = None

    @classmethod
    def of(cls, operation: ImportOperation, now: datetime, stalled_after: timedelta) -> ImportView:
        rate = operation.rate
        return cls(
            id=operation.id, cell=operation.cell, name=operation.importation_name, state=operation.state,
            step=operation.step, stalled=operation.is_stalled(now, stalled_after), valid=operation.valid,
            parentId=operation.parent_id, counts=operation.count, percent=operation.count.percent,
            rate=round(rate, 2) if rate is not None and operation.is_active else None,
            etaSeconds=operation.eta_seconds, startedAt=iso_millis(operation.started_at),
            updatedAt=iso_millis(operation.updated_at), heartbeatAt=iso_millis(operation.last_heartbeat),
            finishedAt=operation.finished_at and iso_millis(operation.finished_at),
            expiresAt=operation.expires_at and iso_millis(operation.expires_at), failure=operation.failure,
        )


def import_view(operation: ImportOperation) -> ImportView:
    """The view of `operation` now, stalled by this stack's StalledAfterMinutes."""
    return ImportView.of(operation, utc_now(), get_settings().stalled_after)


class ImportList(WireModel):
    items: list[ImportView]
    nextCursor: str | None = None


class FailedRecordView(WireModel):
    record: str = Field(description="The record's id in its import (type:sequence), the key of a retry correction")
    type: RecordType
    source: str = Field(description="Where the record came from: file and line, or API call and position")
    code: str
    message: str
    data: dict[str, Any]

    @classmethod
    def of(cls, record: StagedRecord) -> FailedRecordView:
        return cls(record=record.record_id, type=record.type, source=record.source,
                   code=record.error_code or "record-failed", message=record.error or "", data=record.data)


class FailedRecordList(WireModel):
    items: list[FailedRecordView]
    nextCursor: str | None = None


CSV_COLUMNS = ["record", "type", "source", "code", "message", "data"]


def csv_row(view: FailedRecordView) -> list[str]:
    return [view.record, view.type.value, view.source, view.code, view.message,
            json.dumps(view.data, default=str, separators=(",", ":"))]


class UploadPart(WireModel):
    partNumber: int
    url: str


class UploadView(WireModel):
    uploadId: str
    method: str = "PUT"
    url: str | None = Field(default=None, description="Single upload: PUT the whole file here")
    partSize: int | None = None
    parts: list[UploadPart] | None = Field(
        default=None, description="Multipart upload: PUT each part, then POST the ETags to .../complete")
    expiresAt: str

    @classmethod
    def of(cls, upload: Upload) -> UploadView:
        parts = None if upload.part_urls is None else [
            UploadPart(partNumber=number, url=url) for number, url in enumerate(upload.part_urls, start=1)]
        return cls(uploadId=upload.upload_id, url=upload.url, partSize=upload.part_size, parts=parts,
                   expiresAt=iso_millis(upload.expires_at))


class CompletedUpload(WireModel):
    uploadId: str
    filename: str


# -- errors ----------------------------------------------------------------------------------------


def install_error_handlers(app: APIGatewayRestResolver) -> None:
    def instance() -> str:
        return app.current_event.path

    handlers: dict[type[Exception], str] = {
        InvalidCredential: "invalid-credential",
        CredentialExpired: "credential-expired",
        PermissionDenied: "forbidden",
        OperationNotFound: "operation-not-found",
        UploadNotFound: "upload-not-found",
        InvalidCursor: "invalid-cursor",
        OperationBusy: "import-in-progress",
        NotCancelable: "not-cancelable",
        NotRetryable: "not-retryable",
        IdempotencyValidationError: "idempotency-key-reused",
        IdempotencyAlreadyInProgressError: "idempotency-key-in-use",
    }
    for error_type, slug in handlers.items():
        def handle(error: Exception, slug: str = slug) -> Response:
            detail = str(error) if isinstance(error, (NotCancelable, NotRetryable)) else None
            return problem(slug, detail, instance=instance())
        app.exception_handler(error_type)(handle)

    @app.exception_handler(AuthenticationRequired)
    def unauthenticated(_: AuthenticationRequired) -> Response:
        return problem("unauthenticated", "Send Authorization: Bearer <token>.", instance=instance(),
                       headers={"WWW-Authenticate": 'Bearer realm="bulk-import"'})

    @app.exception_handler(InvalidCorrections)
    def invalid_corrections(error: InvalidCorrections) -> Response:
        return problem("invalid-corrections", errors=error.problems, instance=instance())

    @app.exception_handler(RequestValidationError)
    def invalid_request(error: RequestValidationError) -> Response:
        # A body that is not JSON (curl -d sends a form) is read as a form and fails validation
        # puzzlingly; say what is wrong instead.
        content_type = _content_type(app.current_event)
        if app.current_event.body and content_type != "application/json" and not content_type.endswith("+json"):
            return problem("unsupported-media-type", f"got {content_type}", instance=instance())
        return problem("invalid-request", errors=[_validation_message(e) for e in error.errors()],
                       instance=instance())

    @app.exception_handler(NotFoundError)
    def unknown_route(_: NotFoundError) -> Response:
        return problem("not-found", instance=instance())

    @app.exception_handler(Exception)
    def unexpected_error(_: Exception) -> Response:
        logger.exception("Unexpected error")
        return problem("internal-error", instance=instance())


def _content_type(event: APIGatewayProxyEvent) -> str:
    return (event.headers.get("Content-Type") or "application/json").split(";")[0].strip().lower()


def _validation_message(error: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in error.get("loc", ()))
    return f"{location}: {error.get('msg', 'invalid')}" if location else str(error.get("msg", "invalid"))
