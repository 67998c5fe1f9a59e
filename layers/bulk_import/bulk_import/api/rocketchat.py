"""Rocket.Chat's REST dialect: X-User-Id/X-Auth-Token, IImport operations, ApiClass error bodies,
and its REST API's CORS middleware."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, NotRequired

from typing_extensions import TypedDict

from bulk_import.api.common import OperationCounts, ProxyRequest, answer_shape, present, set_response_headers
from bulk_import.api.rest import Answer, Request, RouteNotFound
from bulk_import.domain.errors import AuthenticationRequired, BulkImportError, PermissionDenied, StoreUnavailable
from bulk_import.domain.importers import Importer, importer_of, visible_importers
from bulk_import.domain.operation import ImportOperation, ImportState, iso_millis
from bulk_import.domain.selection import WAITING_STEPS
from bulk_import.logic.imports.errors import ImportServiceError, OperationBusy
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
    def of(cls, event: ProxyRequest) -> RocketChatLogin:
        return cls(user_id=event.headers.get("X-User-Id"), auth_token=event.headers.get("X-Auth-Token"))


def _error(status_code: int, error: str, **details: str) -> Answer:
    body: RocketChatError = present(success=False, error=error, **details)
    return Answer.json(body, status_code)


def answer_error(error: Exception, request: ProxyRequest) -> Answer:
    """The ApiClass error body a request that raised `error` gets: the one place that maps errors to
    Rocket.Chat's answers, for the status function's router and the importer's exception handlers."""
    if isinstance(error, AuthenticationRequired):
        return _error(401, NOT_LOGGED_IN, status="error", message=NOT_LOGGED_IN)
    if isinstance(error, PermissionDenied):
        return _error(403, NOT_PERMITTED)
    if isinstance(error, InvalidParams):
        return _error(400, str(error), errorType="invalid-params")
    if isinstance(error, InvalidQuery):
        return _error(400, str(error), errorType="error-invalid-params")
    if isinstance(error, MeteorError):
        return _error(400, f"{error.reason} [{error.error_type}]", errorType=error.error_type, details=error.details)
    if isinstance(error, ImportServiceError):
        return _error(400, str(error))
    if isinstance(error, OperationBusy):
        # Imported here: only the importer meets this, and the module brings the import machinery.
        from bulk_import.logic.imports.rocketchat import CANNOT_RECEIVE

        return _error(400, CANNOT_RECEIVE)
    if isinstance(error, RouteNotFound):
        return _error(404, "Not found")
    if isinstance(error, StoreUnavailable):
        unavailable = _error(503, "Service unavailable, try again later")
        return Answer(unavailable.status_code, unavailable.body, headers={"Retry-After": str(error.retry_after)})
    logger.exception("Unexpected error")
    return _error(500, INTERNAL_ERROR)


@answer_shape
class NewOperationResponse(TypedDict):
    operation: RocketChatOperation
    success: bool


@answer_shape
class SuccessResponse(TypedDict):
    success: bool


@answer_shape
class PendingDownloadsResponse(TypedDict):
    """downloadPendingFiles and downloadPendingAvatars: how many downloads the new operation runs."""

    count: int
    success: bool


class InvalidParams(BulkImportError):
    """A body that fails Rocket.Chat's request schema check."""


class InvalidQuery(BulkImportError):
    """A query that fails the route's query schema (its router answers `error-invalid-params`)."""


class MeteorError(BulkImportError):
    """A `Meteor.Error(type, reason, details)` of an importer method: ApiClass answers it with
    `<reason> [<type>]`, its type and its details (the method's name)."""

    def __init__(self, error_type: str, reason: str, details: str) -> None:
        self.error_type, self.reason, self.details = error_type, reason, details
        super().__init__(f"{reason} [{error_type}]")


def no_query(request: ProxyRequest) -> None:
    """The check of the routes whose query schema has no properties and `additionalProperties: false`
    (getImportProgress, importers.list, ...): any parameter is refused, after authorization as in
    Rocket.Chat's router."""
    if request.query_string_parameters:
        raise InvalidQuery("must NOT have additional properties")


class ProgressCount(TypedDict):
    completed: int
    total: int
    error: int


@answer_shape
class ImportProgressResponse(TypedDict):
    key: str
    name: str
    step: str
    count: ProgressCount
    success: bool


def importer_for(operation: ImportOperation | None, method: str) -> Importer:
    """The importer of the cell's latest operation, as Rocket.Chat's importer methods look it up
    (`method`, named in their errors): none, or one of an importer it does not have, is refused."""
    if operation is None:
        raise MeteorError("error-operation-not-found", "Import Operation Not Found", method)
    return importer_named(operation.importer_key, method)


def importer_named(key: str, method: str) -> Importer:
    importer = importer_of(key)
    if importer is None:
        raise MeteorError("error-importer-not-defined", f"The importer ({key}) has no import class defined.", method)
    return importer


def import_progress_view(operation: ImportOperation | None, method: str) -> ImportProgressResponse:
    """The importer's progress of the cell's latest operation (Importer.getProgress): its importer's
    key and name, its step and three counts. `method` is the route's Meteor method, named in errors."""
    importer = importer_for(operation, method)
    assert operation is not None  # importer_for refused none
    count = operation.count
    return {
        "key": importer.key,
        "name": importer.name,
        "step": operation.step.value,
        "count": {"completed": count.completed, "total": count.total, "error": count.error},
        "success": True,
    }


class ImporterListing(TypedDict):
    key: str
    name: str


def importers_view() -> list[ImporterListing]:
    """importers.list: the visible importers, as a bare array (API.v1.success sends arrays as they are)."""
    return [{"key": importer.key, "name": importer.name} for importer in visible_importers()]


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


def resolve(app: Any, event: dict[str, Any], context: Any, cors_enabled: bool, cors_origin: str) -> dict:
    """Runs the router (bulk_import.api.rest's or Powertools') behind the CORS middleware: OPTIONS never
    reaches a route, and every other response allows any origin and Rocket.Chat's headers, whatever
    the settings (Rocket.Chat PR #36085)."""
    if event.get("httpMethod") == "OPTIONS":
        return options_response(Request(event), cors_enabled, cors_origin)
    return set_response_headers(
        app.resolve(event, context),
        {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS},
    )


class WaitingResponse(TypedDict):
    waiting: bool
    success: bool


class SelectionUser(TypedDict):
    user_id: str
    username: str | None
    email: str | None
    is_deleted: bool
    is_bot: bool
    do_import: bool
    is_email_taken: bool


class SelectionChannel(TypedDict):
    channel_id: str
    name: str | None
    is_archived: bool
    do_import: bool
    is_private: bool
    is_direct: bool


@answer_shape
class ImportFileDataResponse(TypedDict):
    name: str
    users: list[SelectionUser]
    channels: list[SelectionChannel]
    contacts: list[dict[str, Any]]
    message_count: int
    success: bool


def import_file_data_view(
    operation: ImportOperation | None, selection_of: Callable[[ImportOperation], Any]
) -> ImportFileDataResponse | WaitingResponse:
    """getImportFileData: `waiting` while the file is prepared (domain.selection.WAITING_STEPS), then
    what can be selected (`selection_of`: logic.selections), as Rocket.Chat's Selection serialises it."""
    importer = importer_for(operation, "getImportFileData")
    assert operation is not None  # importer_for refused none
    if operation.step in WAITING_STEPS:
        if not operation.valid:
            raise MeteorError("error-import-operation-invalid", "Invalid Import Operation", "getImportFileData")
        return {"waiting": True, "success": True}
    selection = selection_of(operation)
    return {
        "name": importer.name,
        "users": selection.users,
        "channels": selection.channels,
        "contacts": [],
        "message_count": selection.message_count,
        "success": True,
    }
