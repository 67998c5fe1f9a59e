"""Rocket.Chat's import status routes, which its clients and its administration page poll:
import.status, getCurrentImportOperation, getLatestImportOperations, getImportProgress,
getImportFileData (which reads what a prepared file staged) and importers.list (their OPTIONS
answered by rocketchat.resolve, as Rocket.Chat's CORS middleware does)."""

from bulk_import.api import cold_start

cold_start.begin()  # before the imports: loading them is what it speeds up

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from bulk_import.api import rocketchat
from bulk_import.api.rest import Router
from bulk_import.dal.dynamodb import default_store
from bulk_import.domain.credentials import Permission
from bulk_import.domain.deadline import within_remaining_time
from bulk_import.logic.authorization import authorize_rocketchat_request
from bulk_import.logic.status_reads import rocketchat_latest_operations
from bulk_import.observability import logger, metrics
from bulk_import.settings import get_settings

app = Router(rocketchat.answer_error)


def _authorized(query_checked: bool = True):
    """The cell's latest operation, for a caller with run-import (one request); then the route's query
    is checked, as Rocket.Chat's router does after its auth and permission middlewares."""
    login = rocketchat.RocketChatLogin.of(app.current_event)
    cell = get_settings().rocketchat_cell
    operation = authorize_rocketchat_request(
        default_store(), cell, login.user_id, login.auth_token, Permission.RUN_IMPORT
    )
    if query_checked:
        rocketchat.no_query(app.current_event)
    return operation


def _latest_operation(query_checked: bool = True):
    operation = _authorized(query_checked)
    metrics.add_metric(name="StatusRead", unit=MetricUnit.Count, value=1)
    return operation


@app.get("/api/v1/import.status", summary="Status of the current import operation", tags=["Rocket.Chat"])
def import_status() -> rocketchat.ImportStatusResponse:
    return rocketchat.import_status_view(_latest_operation(query_checked=False))  # it has no query schema


@app.get("/api/v1/getCurrentImportOperation", summary="The newest import operation", tags=["Rocket.Chat"])
def get_current_import_operation() -> rocketchat.CurrentOperationResponse:
    return rocketchat.current_operation_view(_latest_operation())


@app.get("/api/v1/getLatestImportOperations", summary="Up to 20 newest import operations", tags=["Rocket.Chat"])
def get_latest_import_operations() -> list[rocketchat.RocketChatOperation]:
    login = rocketchat.RocketChatLogin.of(app.current_event)
    cell = get_settings().rocketchat_cell
    operations = rocketchat_latest_operations(
        default_store(), cell, login.user_id, login.auth_token, lambda: rocketchat.no_query(app.current_event)
    )
    return [rocketchat.rocketchat_operation(operation) for operation in operations]


@app.get("/api/v1/getImportProgress", summary="Progress of the newest import operation", tags=["Rocket.Chat"])
def get_import_progress() -> rocketchat.ImportProgressResponse:
    return rocketchat.import_progress_view(_latest_operation(), "getImportProgress")


@app.get(
    "/api/v1/getImportFileData",
    summary="What the prepared file offers to select, or waiting while it is prepared",
    tags=["Rocket.Chat"],
)
def get_import_file_data() -> rocketchat.ImportFileDataResponse | rocketchat.WaitingResponse:
    return rocketchat.import_file_data_view(_latest_operation(), _selection)


def _selection(operation):
    # Loaded by the answer that lists a selection only: the S3 client and its data would cost the cold
    # start of every status read this function serves (docs/decisions/0002-cold-start-budget.md).
    from bulk_import.dal.s3 import default_files
    from bulk_import.logic.selections import selection_of

    return selection_of(default_files(), operation)


@app.get("/api/v1/importers.list", summary="The importers an administrator can choose", tags=["Rocket.Chat"])
def importers_list() -> list[rocketchat.ImporterListing]:
    _authorized()
    return rocketchat.importers_view()


@cold_start.ends_after_first_answer
@within_remaining_time
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    settings = get_settings()
    return rocketchat.resolve(
        app, event, context, settings.rocketchat_api_enable_cors, settings.rocketchat_api_cors_origin
    )
