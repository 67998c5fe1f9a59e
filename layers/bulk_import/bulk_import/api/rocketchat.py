"""Rocket.Chat's REST dialect: X-User-Id/X-Auth-Token, IImport operations, ApiClass error bodies,
and its REST API's CORS middleware."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bulk_import.api.common import WireModel, set_response_headers
from bulk_import.api.observability import logger
from bulk_import.errors import AuthenticationRequired, BulkImportError, PermissionDenied
from bulk_import.model import Counts, ImportOperation, ImportState, iso_millis

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


class RocketChatOperation(WireModel):
    """IImport as Rocket.Chat serialises it (collection `import`)."""

    id: str = Field(serialization_alias="_id")
    type: str
    importerKey: str
    ts: str
    status: str
    valid: bool
    user: str
    updatedAt: str = Field(serialization_alias="_updatedAt")
    count: Counts
    file: str | None = None

    @classmethod
    def of(cls, operation: ImportOperation) -> RocketChatOperation:
        return cls(
            id=operation.id,
            type=operation.type,
            importerKey=operation.importer_key,
            ts=iso_millis(operation.started_at),
            status=operation.step.value,
            valid=operation.valid,
            user=operation.user,
            updatedAt=iso_millis(operation.updated_at),
            count=operation.count,
            file=operation.importation_name,
        )


class ImportStatusResponse(WireModel):
    success: bool = True
    state: ImportState
    operation: RocketChatOperation | None = None


class CurrentOperationResponse(WireModel):
    success: bool = True
    operation: RocketChatOperation | None = None


class RocketChatError(WireModel):
    success: bool = False
    error: str
    errorType: str | None = None
    status: str | None = None
    message: str | None = None


def import_status_view(operation: ImportOperation | None) -> ImportStatusResponse:
    if operation is None:
        return ImportStatusResponse(state=ImportState.NONE)
    return ImportStatusResponse(state=operation.state, operation=RocketChatOperation.of(operation))


def current_operation_view(operation: ImportOperation | None) -> CurrentOperationResponse:
    return CurrentOperationResponse(operation=RocketChatOperation.of(operation) if operation else None)


@dataclass(frozen=True)
class RocketChatLogin:
    user_id: str | None
    auth_token: str | None

    @classmethod
    def of(cls, event: APIGatewayProxyEvent) -> RocketChatLogin:
        return cls(user_id=event.headers.get("X-User-Id"), auth_token=event.headers.get("X-Auth-Token"))


def _error(status_code: int, body: RocketChatError) -> Response:
    return Response(status_code=status_code, content_type=content_types.APPLICATION_JSON, body=body.model_dump_json())


def install_error_handlers(app: APIGatewayRestResolver) -> None:
    @app.exception_handler(AuthenticationRequired)
    def not_logged_in(_: AuthenticationRequired) -> Response:
        return _error(401, RocketChatError(error=NOT_LOGGED_IN, status="error", message=NOT_LOGGED_IN))

    @app.exception_handler(PermissionDenied)
    def not_permitted(_: PermissionDenied) -> Response:
        return _error(403, RocketChatError(error=NOT_PERMITTED))

    @app.exception_handler(InvalidParams)
    def invalid_params(error: InvalidParams) -> Response:
        return _error(400, RocketChatError(error=str(error), errorType="invalid-params"))

    @app.exception_handler(NotFoundError)
    def unknown_route(_: NotFoundError) -> Response:
        return _error(404, RocketChatError(error="Not found"))

    @app.exception_handler(Exception)
    def unexpected_error(error: Exception) -> Response:
        logger.exception("Unexpected error")
        return _error(500, RocketChatError(error=INTERNAL_ERROR))


def install_import_error_handlers(app: APIGatewayRestResolver) -> None:
    """The refusals only the importer routes meet, besides install_error_handlers' ones."""
    # Imported here: the status function never starts an import, and loading the import
    # machinery (files, records) would lengthen its cold start.
    from bulk_import.imports import CANNOT_RECEIVE, ImportServiceError, OperationBusy

    @app.exception_handler(ImportServiceError)
    def refused(error: ImportServiceError) -> Response:
        return _error(400, RocketChatError(error=str(error)))

    @app.exception_handler(OperationBusy)
    def busy(_: OperationBusy) -> Response:
        return _error(400, RocketChatError(error=CANNOT_RECEIVE))


class NewOperationResponse(WireModel):
    operation: RocketChatOperation
    success: bool = True


class SuccessResponse(WireModel):
    success: bool = True


class AddUsersRequest(BaseModel):
    """import.addUsers body; the users' fields are checked by Rocket.Chat's rules when imported.
    Built when first used: the status function never reads one."""

    model_config = ConfigDict(defer_build=True)

    users: list[dict[str, Any]]


class InvalidParams(BulkImportError):
    """A body that fails Rocket.Chat's request schema check."""


def parse_add_users_request(body: str | None) -> AddUsersRequest:
    try:
        return AddUsersRequest.model_validate_json(body or "")
    except ValidationError as exc:
        error = exc.errors()[0]
        location = ".".join(str(part) for part in error["loc"])
        raise InvalidParams(f"{error['msg']}{' in ' + location if location else ''} [invalid-params]") from exc


def _text(status_code: int, text: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status_code,
        "multiValueHeaders": {"Content-Type": [TEXT_PLAIN]}
        | {name: [value] for name, value in (headers or {}).items()},
        "body": text,
        "isBase64Encoded": False,
    }


def options_response(event: APIGatewayProxyEvent, cors_enabled: bool, cors_origin: str) -> dict[str, Any]:
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


def resolve(
    app: APIGatewayRestResolver, event: dict[str, Any], context: Any, cors_enabled: bool, cors_origin: str
) -> dict:
    """Runs the resolver behind the CORS middleware: OPTIONS never reaches a route, and every other
    response allows any origin and Rocket.Chat's headers, whatever the settings (Rocket.Chat PR #36085)."""
    if event.get("httpMethod") == "OPTIONS":
        return options_response(APIGatewayProxyEvent(event), cors_enabled, cors_origin)
    return set_response_headers(
        app.resolve(event, context),
        {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS},
    )
