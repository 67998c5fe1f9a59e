"""Rocket.Chat's REST dialect: X-User-Id/X-Auth-Token, IImport operations, ApiClass error bodies."""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bulk_import.api.common import WireModel
from bulk_import.api.observability import logger
from bulk_import.errors import AuthenticationRequired, BulkImportError, PermissionDenied
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
