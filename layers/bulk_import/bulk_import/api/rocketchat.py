"""Rocket.Chat's REST dialect: X-User-Id/X-Auth-Token, IImport operations, ApiClass error bodies,
and its REST API's CORS middleware."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NotRequired

from typing_extensions import TypedDict

from bulk_import.api.common import OperationCounts, present, set_response_headers
from bulk_import.api.rest import Answer, Request, RouteNotFound, Router, parse_json
from bulk_import.domain.errors import AuthenticationRequired, BulkImportError, PermissionDenied
from bulk_import.domain.operation import ImportOperation, ImportState, iso_millis
from bulk_import.observability import logger

NOT_LOGGED_IN = "You must be logged in to do this."
NOT_PERMITTED = "User does not have the permissions required for this action [error-unauthorized]"
# Rocket.Chat's ApiClass.internalError default text, spelling included.
INTERNAL_ERROR = "Internal error occured"

# Its REST API's CORS middleware (apps/meteor/server/api/v1/middlewares/cors.ts) and the router's
# catch-all OPTIONS handler (packages/http-router, `options('*')`): texts and headers as sent.
CORS_ALLOW_METHODS = "GET, POST, PUT, DELETE, HEAD, PATCH"
CORS_ALLOW_HEADERS = (
    "Origin, X-Requested-With, Content-Type, Accept, X-User-Id, X-Auth-Token, x-visitor-token, Authorization"
)
CORS_NOT_ENABLED = 'CORS not enabled. Go to "Admin > General > REST Api" to enable it.'
INVALID_ORIGIN = "Invalid origin"
OPTIONS_ANSWER = "OK"
# What a text body gets from Hono's c.body() (the Fetch Response's default for a string).
TEXT_PLAIN = "text/plain;charset=UTF-8"


class RocketChatOperation(TypedDict):
    _id: str
    type: str
    importerKey: str
    ts: str
    status: str
    valid: bool
    user: str
    _updatedAt: str
    count: OperationCounts
    file: NotRequired[str]


RocketChatOperation.__doc__ = "IImport as Rocket.Chat serialises it (collection `import`)."


def rocketchat_operation(operation: ImportOperation) -> RocketChatOperation:
    return present(
        _id=operation.id,
        type=operation.type,
        importerKey=operation.importer_key,
        ts=iso_millis(operation.started_at),
        status=operation.step.value,
        valid=operation.valid,
        user=operation.user,
        _updatedAt=iso_millis(operation.updated_at),
        count=asdict(operation.count),
        file=operation.importation_name,
    )


class ImportStatusResponse(TypedDict):
    success: bool
    state: ImportState
    operation: NotRequired[RocketChatOperation]


class CurrentOperationResponse(TypedDict):
    success: bool
    operation: NotRequired[RocketChatOperation]


class RocketChatError(TypedDict):
    success: bool
    error: str
    errorType: NotRequired[str]
    status: NotRequired[str]
    message: NotRequired[str]


def import_status_view(operation: ImportOperation | None) -> ImportStatusResponse:
    if operation is None:
        return {"success": True, "state": ImportState.NONE}
    return {"success": True, "state": operation.state, "operation": rocketchat_operation(operation)}


def current_operation_view(operation: ImportOperation | None) -> CurrentOperationResponse:
    return {"success": True, "operation": rocketchat_operation(operation)} if operation else {"success": True}


@dataclass(frozen=True)
class RocketChatLogin:
    user_id: str | None
    auth_token: str | None

    @classmethod
    def of(cls, event: Request) -> RocketChatLogin:
        return cls(user_id=event.headers.get("X-User-Id"), auth_token=event.headers.get("X-Auth-Token"))


def _error(status_code: int, error: str, **details: str) -> Answer:
    body: RocketChatError = present(success=False, error=error, **details)
    return Answer.json(body, status_code)


def answer_error(error: Exception, request: Request) -> Answer:
    """The ApiClass error body a request that raised `error` gets."""
    if isinstance(error, AuthenticationRequired):
        return _error(401, NOT_LOGGED_IN, status="error", message=NOT_LOGGED_IN)
    if isinstance(error, PermissionDenied):
        return _error(403, NOT_PERMITTED)
    if isinstance(error, InvalidParams):
        return _error(400, str(error), errorType="invalid-params")
    if isinstance(error, RouteNotFound):
        return _error(404, "Not found")
    logger.exception("Unexpected error")
    return _error(500, INTERNAL_ERROR)


def answer_import_error(error: Exception, request: Request) -> Answer:
    """answer_error, and the refusals only the importer routes meet."""
    # Imported here: the status function never starts an import, and loading the import
    # machinery (files, records) would lengthen its cold start.
    from bulk_import.logic.imports import CANNOT_RECEIVE, ImportServiceError, OperationBusy

    if isinstance(error, ImportServiceError):
        return _error(400, str(error))
    if isinstance(error, OperationBusy):
        return _error(400, CANNOT_RECEIVE)
    return answer_error(error, request)


class NewOperationResponse(TypedDict):
    operation: RocketChatOperation
    success: bool


class SuccessResponse(TypedDict):
    success: bool


class InvalidParams(BulkImportError):
    """A body that fails Rocket.Chat's request schema check."""


# -- import.addUsers' body: its AJV schema (isImportAddUsersParamsPOST), checked as AJV checks it --

#: The users' properties and their types: every one nullable but the two required arrays of strings.
_USER_PROPERTIES: dict[str, tuple[str, bool]] = {
    "username": ("string", True),
    "emails": ("array", False),
    "importIds": ("array", False),
    "name": ("string", True),
    "utcOffset": ("number", True),
    "avatarUrl": ("string", True),
    "deleted": ("boolean", True),
    "statusText": ("string", True),
    "roles": ("array", True),
    "type": ("string", True),
    "bio": ("string", True),
    "password": ("string", True),
}
_USER_REQUIRED = ("emails", "importIds")
_NOT_COERCED = object()


def add_users_body(body: str | None) -> list[dict[str, Any]]:
    """The users of an import.addUsers body, checked as Rocket.Chat's AJV validator checks them
    (`coerceTypes: true`, first error only): scalars are coerced in place (a utcOffset of "5" is 5,
    a username of 5 is "5"), and the first violation is InvalidParams with AJV's message, which
    ApiClass sends with ` [invalid-params]` appended (a Meteor.Error). A body that is absent or not
    JSON is read as {}, as the router's body parser leaves it. By hand, not pydantic: its import
    alone costs a fifth of a bare function's cold start (docs/benchmarks.md)."""
    try:
        data = parse_json(body or "{}")
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        raise _invalid("must be object")
    if "users" not in data:
        raise _invalid("must have required property 'users'")
    if set(data) != {"users"}:
        raise _invalid("must NOT have additional properties")
    users = data["users"]
    if not isinstance(users, list):
        raise _invalid("must be array")
    for user in users:
        if not isinstance(user, dict):
            raise _invalid("must be object")
        for name in _USER_REQUIRED:
            if name not in user:
                raise _invalid(f"must have required property '{name}'")
        for name, (kind, nullable) in _USER_PROPERTIES.items():
            if name not in user or (nullable and user[name] is None):
                continue
            if kind == "array":
                if not isinstance(user[name], list):
                    raise _invalid("must be array")
                user[name] = [_coerced(item, "string", False) for item in user[name]]
            else:
                user[name] = _coerced(user[name], kind, nullable)
    return users


def _coerced(value: Any, kind: str, nullable: bool) -> Any:
    """`value` as a JSON `kind` ("string", "number", "boolean"), coerced as AJV's coerceTypes does,
    trying `kind` first, then null when `nullable`; InvalidParams "must be <kind>" if it can't be."""
    if _json_type(value) == kind:
        return value
    coerced: Any = _NOT_COERCED
    if kind == "string" and (isinstance(value, (bool, int, float)) or value is None):
        coerced = "" if value is None else _js_string(value)
    elif kind == "number" and (
        isinstance(value, (bool, type(None))) or (isinstance(value, str) and _number(value) is not None)
    ):
        coerced = 0 if value is None else int(value) if isinstance(value, bool) else _number(value)
    elif kind == "boolean" and value in ("true", "false", 1, 0, None):
        coerced = value == "true" or value == 1
    if coerced is _NOT_COERCED and nullable and (value == "" or value == 0 or value is False):
        coerced = None
    if coerced is _NOT_COERCED:
        raise _invalid(f"must be {kind}")
    return coerced


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    json_types: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return json_types.get(type(value), "null")


def _number(text: str) -> int | float | None:
    """JavaScript's `+text` where AJV coerces it (a non-empty string equal to its number); None if not."""
    try:
        number = float(text)
    except ValueError:
        return None
    if not text.strip() or number != number or number in (float("inf"), float("-inf")):
        return None
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _js_string(value: bool | int | float) -> str:
    """JavaScript's `"" + value`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def _invalid(message: str) -> InvalidParams:
    return InvalidParams(f"{message} [invalid-params]")


def _text(status_code: int, text: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return Answer(status_code, text, TEXT_PLAIN, headers or {}).proxy()


def options_response(event: Request, cors_enabled: bool, cors_origin: str) -> dict[str, Any]:
    """Any OPTIONS, answered before routing and authentication (settings API_Enable_CORS and
    API_CORS_Origin): a plain one `OK`; a CORS preflight (an Origin or Access-Control-Request-Method)
    405 unless CORS is enabled, then allowed for `*` or for an origin of the comma-separated list."""
    origin = event.headers.get("Origin")
    if event.headers.get("Access-Control-Request-Method") is None and origin is None:
        return _text(200, OPTIONS_ANSWER)
    if not cors_enabled:
        return _text(405, CORS_NOT_ENABLED)
    allowed = {"Access-Control-Allow-Methods": CORS_ALLOW_METHODS, "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS}
    if cors_origin == "*":
        return _text(200, OPTIONS_ANSWER, {"Access-Control-Allow-Origin": "*"} | allowed)
    # Compared as Rocket.Chat does: the listed origins lower-cased, the request's as sent.
    if origin is None or origin not in [listed.strip().lower() for listed in cors_origin.strip().split(",")]:
        return _text(403, INVALID_ORIGIN)
    return _text(200, OPTIONS_ANSWER, {"Vary": "Origin", "Access-Control-Allow-Origin": origin} | allowed)


def resolve(app: Router, event: dict[str, Any], context: Any, cors_enabled: bool, cors_origin: str) -> dict:
    """Runs the router behind the CORS middleware: OPTIONS never reaches a route, and every other
    response allows any origin and Rocket.Chat's headers, whatever the settings (Rocket.Chat PR #36085)."""
    if event.get("httpMethod") == "OPTIONS":
        return options_response(Request(event), cors_enabled, cors_origin)
    return set_response_headers(
        app.resolve(event, context),
        {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS},
    )
