"""Rocket.Chat's API importer: import.new, import.addUsers, import.run, import.clear (their OPTIONS
answered by rocketchat.resolve, as Rocket.Chat's CORS middleware does)."""

from bulk_import.api import cold_start

cold_start.begin()  # before the imports: loading them is what it speeds up

from typing import cast

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from bulk_import.api import rocketchat
from bulk_import.api.rest import Router
from bulk_import.dal.dynamodb import default_store
from bulk_import.dal.stepfunctions import default_executions
from bulk_import.domain.credentials import Permission
from bulk_import.domain.operation import ImportOperation
from bulk_import.logic.imports import rocketchat_add_users, rocketchat_new, rocketchat_run, stop
from bulk_import.logic.status_reads import rocketchat_import_status
from bulk_import.observability import logger, metrics
from bulk_import.settings import get_settings

app = Router(rocketchat.answer_import_error)


def _authorize() -> tuple[str, ImportOperation | None]:
    """Checks the caller may run imports (one request); returns the user id and the cell's latest
    operation, read in that request."""
    login = rocketchat.RocketChatLogin.of(app.current_event)
    latest = rocketchat_import_status(
        default_store(), get_settings().rocketchat_cell, login.user_id, login.auth_token, Permission.RUN_IMPORT
    )
    return cast(str, login.user_id), latest  # rocketchat_import_status refused a request without one


@app.route("POST", "/api/v1/import.new", summary="Create an API import operation", tags=["Rocket.Chat"])
def import_new() -> rocketchat.NewOperationResponse:
    user, latest = _authorize()
    operation = rocketchat_new(
        default_store(), default_executions(), get_settings().rocketchat_cell, user, latest=latest
    )
    return {"operation": rocketchat.rocketchat_operation(operation), "success": True}


@app.route("POST", "/api/v1/import.addUsers", summary="Stage users for the API import", tags=["Rocket.Chat"])
def import_add_users() -> rocketchat.SuccessResponse:
    _, latest = _authorize()
    users = rocketchat.add_users_body(app.current_event.body)
    rocketchat_add_users(default_store(), get_settings().rocketchat_cell, users, latest=latest)
    metrics.add_metric(name="UsersStaged", unit=MetricUnit.Count, value=len(users))
    return {"success": True}


@app.route("POST", "/api/v1/import.run", summary="Run the API import; returns at once", tags=["Rocket.Chat"])
def import_run() -> rocketchat.SuccessResponse:
    _, latest = _authorize()
    operation = rocketchat_run(default_store(), default_executions(), get_settings().rocketchat_cell, latest=latest)
    logger.info("Import started", extra={"operation_id": operation.id})
    metrics.add_metric(name="ImportStarted", unit=MetricUnit.Count, value=1)
    return {"success": True}


@app.route("POST", "/api/v1/import.clear", summary="Invalidate the current operation and stop it", tags=["Rocket.Chat"])
def import_clear() -> rocketchat.SuccessResponse:
    _, latest = _authorize()
    stop(default_store(), default_executions(), get_settings().rocketchat_cell, clear=True, latest=latest)
    return {"success": True}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    settings = get_settings()
    return rocketchat.resolve(
        app, event, context, settings.rocketchat_api_enable_cors, settings.rocketchat_api_cors_origin
    )


cold_start.end()
