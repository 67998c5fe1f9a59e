"""Rocket.Chat's REST dialect: X-User-Id/X-Auth-Token, IImport operations, ApiClass error bodies."""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import Field

from bulk_import.api.common import WireModel
from bulk_import.api.observability import logger
from bulk_import.errors import AuthenticationRequired, PermissionDenied
from bulk_import.model import Counts, ImportOperation, ImportState, iso_millis

NOT_LOGGED_IN = "You must be logged in to do this."
NOT_PERMITTED = "User does not have the permissions required for this action [error-unauthorized]"
# Rocket.Chat's ApiClass.internalError default text, spelling included.
INTERNAL_ERROR = "Internal error occured"


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

    @app.exception_handler(NotFoundError)
    def unknown_route(_: NotFoundError) -> Response:
        return _error(404, RocketChatError(error="Not found"))

    @app.exception_handler(Exception)
    def unexpected_error(error: Exception) -> Response:
        logger.exception("Unexpected error")
        return _error(500, RocketChatError(error=INTERNAL_ERROR))
