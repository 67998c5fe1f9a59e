"""Personium's HTTP dialect: request headers, error codes, the cell import status body.

Follows personium-core: X-Override rewrites request headers before anything reads them, the
request key is validated (or generated) and echoed, and every response, errors included, carries
Access-Control-Allow-Origin, X-Personium-Version and Content-Type (but a body-less one), plus
Personium's other CORS headers when the request has an Origin. An OPTIONS without Authorization is
answered before routing, as personium-core's request filter does; with one, by the resource.
"""

from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass
from typing import Any, NotRequired

from typing_extensions import TypedDict

from bulk_import.api.common import ProxyRequest, present, set_response_headers, url_of
from bulk_import.api.rest import Answer, Request, RouteNotFound, by_class, json_text
from bulk_import.domain.errors import (
    AuthenticationRequired,
    BulkImportError,
    CellNotFound,
    CredentialExpired,
    InvalidCredential,
    PermissionDenied,
    StoreUnavailable,
)
from bulk_import.domain.operation import ImportOperation, PersoniumStatus, iso_millis
from bulk_import.logic.authorization import StatusStore
from bulk_import.logic.imports.errors import (
    CellImportFailed,
    CellImportRunning,
    ETagMismatch,
    OperationBusy,
    SnapshotNotFound,
)
from bulk_import.logic.status_reads import cell_import_status
from bulk_import.observability import logger
from bulk_import.readers.personium_snapshot_refusals import (
    ManifestMistyped,
    ManifestNotJson,
    ManifestUnreadable,
    SnapshotNotZip,
    SnapshotPathMissing,
    SnapshotVersionInvalid,
)

REQUEST_KEY_HEADER = "X-Personium-RequestKey"
_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f]")
# Java's \p{Alpha} and \p{Digit} are ASCII-only, so this is Personium's pattern exactly.
_REQUEST_KEY = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


@dataclass(frozen=True)
class PersoniumCode:
    """An entry of personium-messages.properties; the HTTP status is the code's three digits.
    `{0}`, `{1}` in the message are filled from the error's arguments, as Personium does."""

    code: str
    message: str
    #: The message's language tag: Personium's errors say "en", its unknown exception "en_US".
    lang: str = "en"

    @property
    def status(self) -> int:
        return int(self.code[2:5])

    def text(self, *arguments: object) -> str:
        """The message with its arguments, as Personium's `params` makes it (MessageFormat: a whole
        number with thousands separators, null for none), its control characters escaped as
        `\\uXXXX` as Personium escapes them (EscapeControlCode)."""
        formatted = self.message.format(*(_message_format(argument) for argument in arguments))
        return _CONTROL_CHARACTER.sub(lambda found: f"\\u{ord(found.group()):04X}", formatted)


AUTHORIZATION_REQUIRED = PersoniumCode("PR401-AU-0001", "Authorization required.")
ACCESS_TOKEN_EXPIRED = PersoniumCode("PR401-AU-0002", "Access token expired.")
INVALID_AUTHENTICATION_SCHEME = PersoniumCode("PR401-AU-0003", "Invalid authentication scheme.")
TOKEN_PARSE_ERROR = PersoniumCode("PR401-AU-0006", "Token parse error.")
PRIVILEGE_LACKING = PersoniumCode("PR403-AU-0002", "Necessary privilege is lacking.")
CELL_NOT_FOUND = PersoniumCode("PR404-DV-0003", "Cell not found.")
URI_NOT_RECOGNIZED = PersoniumCode("PR404-MC-0001", "URI is not recognized.")
INVALID_REQUEST_KEY = PersoniumCode("PR400-EV-0002", "Request header is invalid [X-Personium-RequestKey].")
UNKNOWN_ERROR = PersoniumCode("PR500-SV-0000", "Unknown error.")
REQUIRED_KEY_MISSING = PersoniumCode("PR400-CM-0001", "Required key [{0}] missing.")
FIELD_FORMAT_ERROR = PersoniumCode("PR400-CM-0002", "Field [{0}] format error. Must be [{1}].")
JSON_PARSE_ERROR = PersoniumCode("PR400-CM-0004", "JSON parse error. [{0}].")
RESOURCE_NOT_FOUND = PersoniumCode("PR404-DV-0001", "Resource not found. [{0}].")
CELL_BUSY = PersoniumCode("PR409-MC-0001", "Cell to be processed is being accessed by other requests.")
CELL_IMPORT_FAILED = PersoniumCode(
    "PR409-CM-0001",
    "Cell status is [import failed]. Only Unit Level's APIs, CellImport and GetToken are executable.",
)
CELL_LOCKED = PersoniumCode("PR409-CM-0002", "Because [{0}] is being executed, writing to cell can not be done.")
ETAG_NOT_MATCH = PersoniumCode("PR412-DV-0001", "ETag does not match.")
XML_ERROR = PersoniumCode("PR400-DV-0001", "XML parse error.")
INVALID_DEPTH = PersoniumCode("PR400-DV-0003", "Invalid depth header value:[{0}].")
INFINITE_DEPTH = PersoniumCode("PR403-DV-0001", "Infinite depth is not supported.")
RANGE_NOT_SATISFIABLE = PersoniumCode("PR416-DV-0001", "Requested range not satisfiable.")
METHOD_NOT_ALLOWED = PersoniumCode("PR405-MC-0001", "Method not allowed.")
METHOD_NOT_IMPLEMENTED = PersoniumCode("PR501-MC-0001", "Method not implemented.")
NOT_IMPLEMENTED = PersoniumCode("PR501-MC-0002", "Not implemented. [{0}].")
FILE_IO_ERROR = PersoniumCode("PR500-CM-0002", "Files I/O error caused [{0}] to fail.")
NOT_FOUND_IN_SNAPSHOT = PersoniumCode("PR400-MC-0001", "[{0}] does not exist in the snapshot file.")
SNAPSHOT_NOT_ZIP = PersoniumCode("PR400-MC-0004", "The specified snapshot file is not zip file.")
SNAPSHOT_VERSION_INVALID = PersoniumCode(
    "PR400-MC-0003", "Version of the snapshot file is invalid. Expected [{0}] but was [{1}]."
)
#: What Personium answers an exception it did not foresee with; `{0}` is the number it logs it under.
UNKNOWN_EXCEPTION = PersoniumCode("PR500-SV-9999", "Unknown Exception [{0}]", lang="en_US")
# What personium-core answers a request that cannot get its cell's lock in time under load
# (PersoniumCoreException.Misc.TOO_MANY_CONCURRENT_REQUESTS); here, the table's answer in time.
TOO_MANY_CONCURRENT_REQUESTS = PersoniumCode("PR503-SV-0001", "Too many concurrent requests.")


class InvalidAuthenticationScheme(BulkImportError):
    """An Authorization header that is not a Bearer token."""


class PersoniumRequestError(BulkImportError):
    """A request Personium refuses with `code`, its message filled from `arguments`."""

    def __init__(self, code: PersoniumCode, *arguments: str) -> None:
        super().__init__(code.text(*arguments))
        self.code = code
        self.arguments = arguments


SNAPSHOT_NAME_PATTERN = r"^[a-zA-Z0-9-_]{1,192}$"

#: What an OPTIONS without Authorization is answered, on any path: PersoniumCoreContainerFilter
#: (checkOptionsMethod) answers it before routing, so neither the cell nor a token is looked at.
UNAUTHENTICATED_OPTIONS_METHODS = (
    "GET",
    "POST",
    "PUT",
    "DELETE",
    "HEAD",
    "MERGE",
    "MKCOL",
    "MOVE",
    "PROPFIND",
    "PROPPATCH",
    "ACL",
)
#: What an OPTIONS with Authorization is answered, once the caller has root: CellImportResource and
#: CellSnapshotDavFileResource (Personium's own methods, GET/DELETE/PROPFIND of a snapshot included).
CELL_IMPORT_METHODS = ("GET", "POST")
SNAPSHOT_FILE_METHODS = ("GET", "PUT", "DELETE", "PROPFIND")
SNAPSHOT_COLLECTION_METHODS = ("PROPFIND",)
#: PersoniumCoreContainerFilter.addResponseHeaders: CORS headers added when the request has an Origin.
CORS_MAX_AGE_SECONDS = 86400


def _allowed(methods: tuple[str, ...]) -> dict[str, str]:
    """ResourceUtils.responseBuilderForOptions: OPTIONS first, then the resource's methods."""
    allowed = ", ".join(("OPTIONS", *methods))
    return {"Allow": allowed, "Access-Control-Allow-Methods": allowed}


def options_response(methods: tuple[str, ...]) -> Answer:
    """An OPTIONS answered by a resource: 200, no body, Allow and Access-Control-Allow-Methods."""
    return Answer(200, headers=_allowed(methods))


class LocalizedText(TypedDict):
    lang: str
    value: str


def _message_format(argument: object) -> object:
    if argument is None:
        return "null"
    return f"{argument:,}" if type(argument) is int else argument


class PersoniumMessage(TypedDict):
    """Personium's message format, used for errors and for a failed import's cause."""

    code: str
    message: LocalizedText


def personium_message(code: str, text: str, lang: str = "en") -> PersoniumMessage:
    return {"code": code, "message": {"lang": lang, "value": text}}


class CellImportStatus(TypedDict):
    status: PersoniumStatus
    started_at: NotRequired[str]
    progress: NotRequired[str]
    importation_name: NotRequired[str]
    message: NotRequired[PersoniumMessage]


def cell_import_status_view(operation: ImportOperation | None) -> CellImportStatus:
    if operation is None or operation.personium_status is PersoniumStatus.READY:
        return {"status": PersoniumStatus.READY}
    failure = operation.failure if operation.personium_status is PersoniumStatus.FAILED else None
    return present(
        status=operation.personium_status,
        started_at=iso_millis(operation.started_at),
        progress=f"{operation.count.percent}%",
        importation_name=operation.importation_name,
        message=personium_message(failure.code, failure.message) if failure else None,
    )


def cell_import_status_answer(store: StatusStore, cell: str, event: ProxyRequest) -> CellImportStatus:
    """GET __import: the cell's import status, for a caller with root on it (one store request)."""
    credential = PersoniumCredential.of(event)
    return cell_import_status_view(cell_import_status(store, cell, credential.token, credential.cookie_peer))


@dataclass(frozen=True)
class PersoniumCredential:
    """The token a request presents: a Bearer header, or the p_cookie cookie with p_cookie_peer."""

    token: str | None
    cookie_peer: str | None = None

    @classmethod
    def of(cls, event: ProxyRequest) -> PersoniumCredential:
        authorization = event.headers.get("Authorization")
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer":
                raise InvalidAuthenticationScheme
            return cls(token=token.strip() or None)
        peer = event.query_string_parameters.get("p_cookie_peer")
        if peer is None:
            return cls(token=None)
        # Imported here: clients rarely use the cookie, and the module would lengthen every cold start.
        from http.cookies import CookieError, SimpleCookie

        try:
            cookie = SimpleCookie(event.headers.get("Cookie", "")).get("p_cookie")
        except CookieError:
            cookie = None
        return cls(token=cookie.value if cookie else None, cookie_peer=peer)


def error_body(code: PersoniumCode, *arguments: object) -> str:
    return json_text(personium_message(code.code, code.text(*arguments), code.lang))


def error_response(code: PersoniumCode, *arguments: object) -> Answer:
    return Answer(code.status, error_body(code, *arguments))


#: The Personium error each error is answered with, and the arguments of its message: the error's
#: own (its args) where None.
_CODE_OF_ERROR: dict[type[Exception], tuple[PersoniumCode, tuple[object, ...] | None]] = {
    InvalidAuthenticationScheme: (INVALID_AUTHENTICATION_SCHEME, None),
    CellNotFound: (CELL_NOT_FOUND, None),
    AuthenticationRequired: (AUTHORIZATION_REQUIRED, None),
    InvalidCredential: (TOKEN_PARSE_ERROR, None),
    CredentialExpired: (ACCESS_TOKEN_EXPIRED, None),
    PermissionDenied: (PRIVILEGE_LACKING, None),
    OperationBusy: (CELL_BUSY, None),
    SnapshotNotFound: (RESOURCE_NOT_FOUND, None),
    CellImportRunning: (CELL_LOCKED, ("cell import",)),
    CellImportFailed: (CELL_IMPORT_FAILED, ()),
    ETagMismatch: (ETAG_NOT_MATCH, ()),
    RouteNotFound: (URI_NOT_RECOGNIZED, ()),
    SnapshotNotZip: (SNAPSHOT_NOT_ZIP, ()),
    ManifestUnreadable: (FILE_IO_ERROR, ("read manifest json from snapshot file",)),
    ManifestNotJson: (JSON_PARSE_ERROR, None),
    SnapshotVersionInvalid: (SNAPSHOT_VERSION_INVALID, None),
    SnapshotPathMissing: (NOT_FOUND_IN_SNAPSHOT, None),
}


def answer_error(error: Exception, request: ProxyRequest) -> Answer:
    """The Personium error a request that raised `error` gets: the one place that maps errors to
    Personium's codes, for the status function's router and the import function's exception handlers."""
    if isinstance(error, PersoniumRequestError):
        return error_response(error.code, *error.arguments)
    if isinstance(error, StoreUnavailable):
        unavailable = error_response(TOO_MANY_CONCURRENT_REQUESTS)
        return Answer(unavailable.status_code, unavailable.body, headers={"Retry-After": str(error.retry_after)})
    if (listed := by_class(_CODE_OF_ERROR, error)) is not None:
        code, arguments = listed
        answer = error_response(code, *(error.args if arguments is None else arguments))
        if answer.status_code == 401:
            # CellRsCmp takes Bearer tokens only, in the realm of the cell's URL.
            cell = request.path.strip("/").split("/")[0]
            answer.headers["WWW-Authenticate"] = f'Bearer realm="{url_of(request, f"/{cell}/")}"'
        return answer
    if isinstance(error, ManifestMistyped):
        # Personium's cast of the manifest fails: its answer to an exception it did not foresee,
        # under a number it logs the exception with.
        number = str(uuid.uuid4().int % 100_000)
        logger.warning("Snapshot manifest mistyped", extra={"unknown_exception": number})
        return error_response(UNKNOWN_EXCEPTION, number)
    if isinstance(error, BulkImportError):
        return error_response(UNKNOWN_ERROR)
    logger.exception("Unexpected error")
    return error_response(UNKNOWN_ERROR)


def apply_method_override(event: dict[str, Any]) -> dict[str, Any]:
    """A POST with X-HTTP-Method-Override is served as that method (for clients that can send only
    GET and POST), before X-Override is read: PersoniumCoreContainerFilter.overrideMethod."""
    if event.get("httpMethod") != "POST":
        return event
    override = next(
        (value for name, value in (event.get("headers") or {}).items() if name.lower() == "x-http-method-override"),
        None,
    )
    if not override:
        return event
    return event | {
        "httpMethod": override,
        "requestContext": (event.get("requestContext") or {}) | {"httpMethod": override},
    }


def apply_header_overrides(event: dict[str, Any]) -> dict[str, Any]:
    """X-Override: `Name: Value` replaces header Name (several X-Override headers may be sent)."""
    overrides = [
        value
        for name, values in (event.get("multiValueHeaders") or {}).items()
        if name.lower() == "x-override"
        for value in values
    ] or [value for name, value in (event.get("headers") or {}).items() if name.lower() == "x-override"]
    if not overrides:
        return event
    event = copy.deepcopy(event)
    headers = event.get("headers") or {}
    multi = event.get("multiValueHeaders") or {}
    for override in overrides:
        name, separator, value = override.partition(":")
        if not separator or not name.strip():
            continue
        name, value = name.strip(), value.strip()
        for mapping in (headers, multi):
            for existing in [key for key in mapping if key.lower() == name.lower()]:
                del mapping[existing]
        headers[name] = value
        multi[name] = [value]
    event["headers"], event["multiValueHeaders"] = headers, multi
    return event


def cors_headers(event: Request) -> dict[str, str]:
    """Personium's CORS response headers. Access-Control-Allow-Origin is `*` on every response, as the
    API reference (the seed) says; personium-core since 2018 echoes the Origin instead. The others
    only when the request has an Origin, as personium-core adds them: credentials, a day's max age,
    X-Personium-Version exposed, and the headers a preflight asks for allowed, whatever they are."""
    headers = {"Access-Control-Allow-Origin": "*"}
    if event.headers.get("Origin") is None:
        return headers
    headers |= {
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Max-Age": str(CORS_MAX_AGE_SECONDS),
        "Access-Control-Expose-Headers": "X-Personium-Version",
    }
    requested = event.headers.get("Access-Control-Request-Headers")
    return headers | ({"Access-Control-Allow-Headers": requested} if requested is not None else {})


def resolve(app: Any, event: dict[str, Any], context: Any, personium_version: str) -> dict:
    """Runs the router (bulk_import.api.rest's or Powertools') the way Personium's filters wrap every
    resource."""
    event = apply_header_overrides(apply_method_override(event))
    request = Request(event)
    request_key = request.headers.get(REQUEST_KEY_HEADER) or str(uuid.uuid4())
    headers = cors_headers(request) | {"X-Personium-Version": personium_version}
    valid_key = _REQUEST_KEY.match(request_key) is not None
    if event.get("httpMethod") == "OPTIONS" and request.headers.get("Authorization") is None:
        # Answered by the request filter before routing, even with a request key it refuses.
        allowed = _allowed(UNAUTHENTICATED_OPTIONS_METHODS) | headers
        return Answer(200, headers=allowed | ({REQUEST_KEY_HEADER: request_key} if valid_key else {})).proxy()
    if not valid_key:
        logger.info("Rejected request key", extra={"request_key": request_key[:256]})
        return set_response_headers(error_response(INVALID_REQUEST_KEY).proxy(), headers)
    logger.append_keys(request_key=request_key)
    logger.info("Personium request", extra={"method": event.get("httpMethod"), "path": event.get("path")})
    return set_response_headers(app.resolve(event, context), headers | {REQUEST_KEY_HEADER: request_key})
