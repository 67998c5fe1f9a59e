"""The native /v1 API's HTTP side: bearer credentials, query parameters, views, cursors, RFC 9457
problem details, CORS.

Every refusal is a problem document (`application/problem+json`) whose `type` is a stable URN, one
per kind of error (PROBLEMS); the README lists them.

Nothing here loads pydantic: the /v1 routes answer without it but those that read a body (its
import alone costs a fifth of a bare boto3 function's cold start, docs/benchmarks.md). Response
bodies are dicts typed by TypedDicts, from which the OpenAPI document is generated (pydantic reads
them then, at development time); the read routes' query parameters are read by hand
(QueryParameter, read_query), in the words Powertools' validation would use (pydantic's).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from decimal import Decimal
from typing import Annotated, Any, NotRequired, TypeVar

from typing_extensions import TypedDict

from bulk_import.api.common import OperationCounts, ProxyRequest, present, set_response_headers
from bulk_import.api.rest import Answer, ReadingRoute, RouteNotFound, Router, by_class, json_text
from bulk_import.domain.errors import (
    AuthenticationRequired,
    CredentialExpired,
    InvalidCredential,
    InvalidCursor,
    OperationNotFound,
    PermissionDenied,
)
from bulk_import.domain.operation import ImportOperation, ImportState, ProgressStep, iso_millis, utc_now
from bulk_import.domain.records.staged import RecordType, StagedRecord
from bulk_import.observability import logger
from bulk_import.settings import get_settings

T = TypeVar("T")


def field_docstrings(cls: T) -> T:
    """Has the OpenAPI generator (pydantic, at development time) describe each field of the TypedDict
    `cls` by the docstring under it. Nothing reads this at run time."""
    cls.__pydantic_config__ = {"use_attribute_docstrings": True}  # type: ignore[attr-defined]
    return cls


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


@field_docstrings
class Problem(TypedDict):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: NotRequired[str]
    instance: NotRequired[str]
    errors: NotRequired[list[str]]
    """Validation problems, one per invalid field or record."""


def problem(
    slug: str,
    detail: str | None = None,
    errors: list[str] | None = None,
    headers: dict[str, str] | None = None,
    instance: str | None = None,
) -> Answer:
    status, title = PROBLEMS[slug]
    body: Problem = present(
        type=PROBLEM_TYPE_PREFIX + slug, title=title, status=status, detail=detail, instance=instance, errors=errors
    )
    return Answer(status, json_text(body), PROBLEM_JSON, headers or {})


# -- requests --------------------------------------------------------------------------------------


def bearer_token(event: ProxyRequest) -> str | None:
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


# -- query parameters ------------------------------------------------------------------------------


class InvalidRequest(Exception):
    """The request is not valid; `errors` says why, one error per invalid field, as pydantic words
    them (`loc`, `msg`)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(_validation_message(error) for error in errors))
        self.errors = errors


class UnsupportedMediaType(Exception):
    """The request's body is not JSON (curl -d sends a form): said as such, rather than as the
    puzzling validation errors of a form read as JSON. The message is the media type sent."""


class QueryParameter:
    """A query parameter of a read route. The read function does not validate requests with
    Powertools (its validation loads pydantic): read_query reads these by hand, and refuses a value
    in the words that validation would use. (Plain classes, not dataclasses: the cold start builds
    these.)"""

    def __init__(self, name: str, description: str, default: Any = None) -> None:
        self.name, self.description = name, description
        #: The value when the parameter is not sent.
        self.default = default

    def parse(self, value: str | list[str]) -> Any:
        """The value of the parameter sent as `value` (a list when it was sent more than once);
        ValueError, as pydantic words it, when it is not valid."""
        raise NotImplementedError

    def annotation(self) -> Any:
        """The parameter's type as a route validated by Powertools declares it, for the OpenAPI
        document. It loads pydantic: only QueryRoute.__signature__ calls it, when the document is
        generated."""
        raise NotImplementedError


#: An integer as pydantic reads one from a string: blanks around (Unicode's White_Space, which \s
#: is but for the separators \x1c-\x1f), a sign, digits grouped by underscores, and a fraction of
#: zeros (" +1_000.0 " is 1000; "1e3", "0x10" and "１" are not). Compiled when first used.
_INTEGER = r"[^\S\x1c-\x1f]*([+-]?)([0-9]+(?:_[0-9]+)*)(?:\.0+)?[^\S\x1c-\x1f]*"
_NOT_AN_INTEGER = "Input should be a valid integer"
#: Longer, pydantic refuses to read an integer (as int() does, sys.get_int_max_str_digits()).
_MAX_INTEGER_DIGITS = 4300


def parse_integer_text(value: str) -> int:
    """The integer pydantic reads from the string `value`; ValueError in its words if none."""
    match = re.fullmatch(_INTEGER, value)
    if match is None:
        raise ValueError(f"{_NOT_AN_INTEGER}, unable to parse string as an integer")
    sign, digits = match[1], match[2].replace("_", "").lstrip("0") or "0"
    if len(digits) > _MAX_INTEGER_DIGITS:
        raise ValueError("Unable to parse input string as an integer, exceeded maximum size")
    return int(sign + digits)


class PageSize(QueryParameter):
    """How many items a page of a listing holds: `default` when the parameter is not sent."""

    def __init__(self, default: int, minimum: int = 1, maximum: int = 1000) -> None:
        super().__init__("limit", "Items per page", default)
        self.minimum, self.maximum = minimum, maximum

    def parse(self, value: str | list[str]) -> int:
        if not isinstance(value, str):
            raise ValueError(_NOT_AN_INTEGER)
        number = parse_integer_text(value)
        if number < self.minimum:
            raise ValueError(f"Input should be greater than or equal to {self.minimum}")
        if number > self.maximum:
            raise ValueError(f"Input should be less than or equal to {self.maximum}")
        return number

    def annotation(self) -> Any:
        from aws_lambda_powertools.event_handler.openapi.params import Query

        return Annotated[int, Query(ge=self.minimum, le=self.maximum, description=self.description)]


class Text(QueryParameter):
    """Any string, optional."""

    def parse(self, value: str | list[str]) -> str:
        if not isinstance(value, str):
            raise ValueError("Input should be a valid string")
        return value

    def annotation(self) -> Any:
        from aws_lambda_powertools.event_handler.openapi.params import Query

        return Annotated[str | None, Query(description=self.description)]


def not_one_of(values: Sequence[str]) -> str:
    """pydantic's words for a value that is none of an enumeration's `values`."""
    *others, last = map(repr, values)
    return f"Input should be {', '.join(others)} or {last}"


_STATES = [state.value for state in ImportState]


class StateFilter(QueryParameter):
    """One of the ImportState values, optional."""

    def parse(self, value: str | list[str]) -> ImportState:
        if isinstance(value, str) and value in _STATES:
            return ImportState(value)
        raise ValueError(not_one_of(_STATES))

    def annotation(self) -> Any:
        from aws_lambda_powertools.event_handler.openapi.params import Query

        return Annotated[ImportState | None, Query(description=self.description)]


CURSOR = Text("cursor", "nextCursor of the previous page")
STATE = StateFilter("state", "Only imports in this state")


def query_value(event: Any, name: str) -> str | list[str] | None:
    """A query parameter as Powertools' validation reads it from a REST API event: its value, the list
    of its values when it was sent more than once, or None when it was not sent."""
    values = event.multi_value_query_string_parameters.get(name)
    if values is None:
        return event.query_string_parameters.get(name)
    return values[0] if len(values) == 1 else values


def read_query(event: Any, parameters: Sequence[QueryParameter]) -> dict[str, Any]:
    """The value of each of `parameters` by name, its default when it was not sent; InvalidRequest
    with an error per invalid one."""
    values: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    for parameter in parameters:
        value = query_value(event, parameter.name)
        try:
            values[parameter.name] = parameter.default if value is None else parameter.parse(value)
        except ValueError as error:
            errors.append({"loc": ("query", parameter.name), "msg": str(error)})
    if errors:
        raise InvalidRequest(errors)
    return values


class QueryRoute(ReadingRoute):
    """A route function called with its query parameters too, read by read_query before it runs."""

    def __init__(self, app: Router, function: Callable[..., Any], parameters: Sequence[QueryParameter]) -> None:
        super().__init__(app, function)
        self.parameters = parameters

    def read(self, request: Any) -> dict[str, Any]:
        return read_query(request, self.parameters)

    def declared(self) -> dict[str, tuple[Any, Any]]:
        return {parameter.name: (parameter.annotation(), parameter.default) for parameter in self.parameters}


def with_query(app: Router, *parameters: QueryParameter) -> Callable[[Callable[..., Any]], QueryRoute]:
    """Decorates a route function (below the route) that takes `parameters` by name besides its path
    parameters."""
    return lambda function: QueryRoute(app, function, parameters)


# -- responses -------------------------------------------------------------------------------------


class ImportFailure(TypedDict):
    """Why an import failed: a Personium-style code (PRxxx-XX-nnnn) and an English message."""

    code: str
    message: str


@field_docstrings
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


@field_docstrings
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


# -- errors ----------------------------------------------------------------------------------------


#: The errors answered with a problem of their own, without detail.
_SLUG_OF_ERROR: dict[type[Exception], str] = {
    InvalidCredential: "invalid-credential",
    CredentialExpired: "credential-expired",
    PermissionDenied: "forbidden",
    OperationNotFound: "operation-not-found",
    InvalidCursor: "invalid-cursor",
    RouteNotFound: "not-found",
}


def answer_error(error: Exception, request: ProxyRequest) -> Answer:
    """The problem a /v1 request that raised `error` gets (native_writes adds the writes' refusals)."""
    if (slug := by_class(_SLUG_OF_ERROR, error)) is not None:
        return problem(slug, instance=request.path)
    if isinstance(error, AuthenticationRequired):
        return problem(
            "unauthenticated",
            "Send Authorization: Bearer <token>.",
            instance=request.path,
            headers={"WWW-Authenticate": 'Bearer realm="bulk-import"'},
        )
    if isinstance(error, InvalidRequest):
        errors = [_validation_message(detail) for detail in error.errors]
        return problem("invalid-request", errors=errors, instance=request.path)
    if isinstance(error, UnsupportedMediaType):
        return problem("unsupported-media-type", f"got {error}", instance=request.path)
    logger.exception("Unexpected error")
    return problem("internal-error", instance=request.path)


def content_type(event: ProxyRequest) -> str:
    """The request's media type, lowercase and without parameters (JSON when not sent)."""
    return (event.headers.get("Content-Type") or "application/json").split(";")[0].strip().lower()


def _validation_message(error: Mapping[str, Any]) -> str:
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
    return Answer(204, headers=headers).proxy()


def resolve(app: Any, event: dict[str, Any], context: Any) -> dict:
    """Runs a /v1 function's Router behind the API's CORS: OPTIONS of a resource is answered before
    routing, every other response carries CORS_HEADERS."""
    methods = RESOURCE_METHODS.get(event.get("resource") or "")
    if event.get("httpMethod") == "OPTIONS" and methods:
        return options_response(methods)
    return set_response_headers(app.resolve(event, context), CORS_HEADERS)
