"""The native /v1 API's HTTP side: bearer credentials, views, cursors, RFC 9457 problem details, CORS.

Every refusal is a problem document (`application/problem+json`) whose `type` is a stable URN, one
per kind of error (PROBLEMS); the README lists them.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import Field

from bulk_import.api.common import WireModel, set_response_headers
from bulk_import.api.observability import logger
from bulk_import.errors import (
    AuthenticationRequired,
    CredentialExpired,
    InvalidCredential,
    InvalidCursor,
    OperationNotFound,
    PermissionDenied,
)
from bulk_import.model import Counts, Failure, ImportOperation, ImportState, ProgressStep, iso_millis, utc_now
from bulk_import.records import RecordType, StagedRecord
from bulk_import.settings import get_settings

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


#: The methods of each /v1 resource, as template.yaml routes them (the GET and the POST of
#: /imports are served by two functions): what its OPTIONS allows.
RESOURCE_METHODS: dict[str, tuple[str, ...]] = {
    "/v1/cells/{cell}/uploads": ("POST",),
    "/v1/cells/{cell}/uploads/{uploadId}/complete": ("POST",),
    "/v1/cells/{cell}/imports": ("GET", "POST"),
    "/v1/cells/{cell}/imports/{operationId}": ("GET",),
    "/v1/cells/{cell}/imports/{operationId}/errors": ("GET",),
    "/v1/cells/{cell}/imports/{operationId}/cancel": ("POST",),
    "/v1/cells/{cell}/imports/{operationId}/retry": ("POST",),
}
#: On every response: a page of any origin may call the API (a bearer credential authenticates,
#: never a cookie) and read the headers it answers with besides the safelisted ones.
CORS_HEADERS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Location, WWW-Authenticate"}
#: What a preflight allows besides the resource's methods: the request headers the API reads.
CORS_ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key"
CORS_MAX_AGE_SECONDS = 86400


class Problem(WireModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    #: Validation problems, one per invalid field or record.
    errors: list[str] | None = None


def problem(
    slug: str,
    detail: str | None = None,
    errors: list[str] | None = None,
    headers: dict[str, str] | None = None,
    instance: str | None = None,
) -> Response:
    status, title = PROBLEMS[slug]
    body = Problem(
        type=PROBLEM_TYPE_PREFIX + slug, title=title, status=status, detail=detail, errors=errors, instance=instance
    )
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
            id=operation.id,
            cell=operation.cell,
            name=operation.importation_name,
            state=operation.state,
            step=operation.step,
            stalled=operation.is_stalled(now, stalled_after),
            valid=operation.valid,
            parentId=operation.parent_id,
            counts=operation.count,
            percent=operation.count.percent,
            rate=round(rate, 2) if rate is not None and operation.is_active else None,
            etaSeconds=operation.eta_seconds,
            startedAt=iso_millis(operation.started_at),
            updatedAt=iso_millis(operation.updated_at),
            heartbeatAt=iso_millis(operation.last_heartbeat),
            finishedAt=operation.finished_at and iso_millis(operation.finished_at),
            expiresAt=operation.expires_at and iso_millis(operation.expires_at),
            failure=operation.failure,
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
        return cls(
            record=record.record_id,
            type=record.type,
            source=record.source,
            code=record.error_code or "record-failed",
            message=record.error or "",
            data=record.data,
        )


class FailedRecordList(WireModel):
    items: list[FailedRecordView]
    nextCursor: str | None = None


CSV_COLUMNS = ["record", "type", "source", "code", "message", "data"]


def csv_row(view: FailedRecordView) -> list[str]:
    return [
        view.record,
        view.type.value,
        view.source,
        view.code,
        view.message,
        json.dumps(view.data, default=str, separators=(",", ":")),
    ]


# -- errors ----------------------------------------------------------------------------------------


def answer_with_problem(
    app: APIGatewayRestResolver, error_type: type[Exception], slug: str, *, detailed: bool = False
) -> None:
    """Answers `error_type` with the problem `slug`; its message is the detail if `detailed`."""

    def handle(error: Exception) -> Response:
        return problem(slug, str(error) if detailed else None, instance=app.current_event.path)

    app.exception_handler(error_type)(handle)


def install_error_handlers(app: APIGatewayRestResolver) -> None:
    """The refusals every /v1 route may meet (native_writes adds those of the writes)."""

    def instance() -> str:
        return app.current_event.path

    for error_type, slug in {
        InvalidCredential: "invalid-credential",
        CredentialExpired: "credential-expired",
        PermissionDenied: "forbidden",
        OperationNotFound: "operation-not-found",
        InvalidCursor: "invalid-cursor",
    }.items():
        answer_with_problem(app, error_type, slug)

    @app.exception_handler(AuthenticationRequired)
    def unauthenticated(_: AuthenticationRequired) -> Response:
        return problem(
            "unauthenticated",
            "Send Authorization: Bearer <token>.",
            instance=instance(),
            headers={"WWW-Authenticate": 'Bearer realm="bulk-import"'},
        )

    @app.exception_handler(RequestValidationError)
    def invalid_request(error: RequestValidationError) -> Response:
        # A body that is not JSON (curl -d sends a form) is read as a form and fails validation
        # puzzlingly; say what is wrong instead.
        content_type = _content_type(app.current_event)
        if app.current_event.body and content_type != "application/json" and not content_type.endswith("+json"):
            return problem("unsupported-media-type", f"got {content_type}", instance=instance())
        return problem("invalid-request", errors=[_validation_message(e) for e in error.errors()], instance=instance())

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


# -- CORS ------------------------------------------------------------------------------------------


def options_response(methods: tuple[str, ...]) -> dict[str, Any]:
    """OPTIONS of a resource, a CORS preflight or not: 204 with its methods, no credential needed."""
    allowed = ", ".join((*methods, "OPTIONS"))
    headers = CORS_HEADERS | {
        "Allow": allowed,
        "Access-Control-Allow-Methods": allowed,
        "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
        "Access-Control-Max-Age": str(CORS_MAX_AGE_SECONDS),
    }
    return {
        "statusCode": 204,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "body": None,
        "isBase64Encoded": False,
    }


def resolve(app: APIGatewayRestResolver, event: dict[str, Any], context: Any) -> dict:
    """Runs the resolver behind the API's CORS: OPTIONS of a resource is answered before routing,
    every other response carries CORS_HEADERS."""
    methods = RESOURCE_METHODS.get(event.get("resource") or "")
    if event.get("httpMethod") == "OPTIONS" and methods:
        return options_response(methods)
    return set_response_headers(app.resolve(event, context), CORS_HEADERS)
