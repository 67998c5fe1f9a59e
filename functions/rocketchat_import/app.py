"""Rocket.Chat's importers: the API importer's import.new, import.addUsers, import.run, import.clear,
the file importers' uploadImportFile, downloadPublicImportFile and startImport, and the downloads their
imports left, downloadPendingFiles and downloadPendingAvatars (their OPTIONS answered by
rocketchat.resolve, as Rocket.Chat's CORS middleware does).

Powertools' APIGatewayRestResolver routes (bulk_import.api.write_resolver); Rocket.Chat's error
bodies come from its exception handlers (rocketchat.answer_error). import.addUsers reads its body
once the caller is authorized, as Rocket.Chat does (rocketchat_requests), and so do uploadImportFile
and startImport.
"""

from bulk_import.api import cold_start

cold_start.begin()  # before the imports: loading them is what it speeds up

from typing import cast

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from bulk_import.api import rocketchat
from bulk_import.api.rocketchat_requests import (
    DownloadPublicImportFileRequest,
    PendingDownloadsRequest,
    StartSelectedImportRequest,
    UploadImportFileRequest,
    add_users_request,
    json_body,
)
from bulk_import.api.write_resolver import json_answer, write_resolver
from bulk_import.dal.dynamodb import default_store
from bulk_import.dal.s3 import default_files
from bulk_import.dal.stepfunctions import default_executions
from bulk_import.domain.credentials import Permission
from bulk_import.domain.deadline import current_deadline, within_remaining_time
from bulk_import.domain.importers import IMPORTERS, Importer
from bulk_import.domain.operation import ImportOperation
from bulk_import.logic.authorization import authorize_rocketchat_request
from bulk_import.logic.imports.rocketchat import rocketchat_add_users, rocketchat_new, rocketchat_run
from bulk_import.logic.imports.rocketchat_files import (
    download_pending,
    download_public_import_file,
    start_selected_import,
    upload_import_file,
)
from bulk_import.logic.imports.stop import stop
from bulk_import.observability import logger, metrics
from bulk_import.settings import get_import_settings, get_settings

#: downloadPublicImportFile's request of the URL (its target, status and length) takes at most
#: this long, and leaves the writes after it (the operation's failure, the worker's start) this long.
CHECK_SECONDS = 5.0
WRITES_SECONDS = 2.0

app = write_resolver(rocketchat.answer_error)


def _authorize() -> tuple[str, ImportOperation | None]:
    """Checks the caller may run imports (one request); returns the user id and the cell's latest
    operation, read in that request."""
    login = rocketchat.RocketChatLogin.of(app.current_event)
    latest = authorize_rocketchat_request(
        default_store(), get_settings().rocketchat_cell, login.user_id, login.auth_token, Permission.RUN_IMPORT
    )
    return cast(str, login.user_id), latest  # authorize_rocketchat_request refused a request without one


@app.post(
    "/api/v1/import.new",
    summary="Create an API import operation",
    tags=["Rocket.Chat"],
    responses={200: json_answer(rocketchat.NewOperationResponse)},
)
def import_new():
    user, latest = _authorize()
    operation = rocketchat_new(
        default_store(), default_executions(), get_settings().rocketchat_cell, user, latest=latest
    )
    return rocketchat.NewOperationResponse(operation=rocketchat.rocketchat_operation(operation), success=True)


@app.post(
    "/api/v1/import.addUsers",
    summary="Stage users for the API import",
    tags=["Rocket.Chat"],
    responses={200: json_answer(rocketchat.SuccessResponse)},
)
def import_add_users():
    _, latest = _authorize()
    users = add_users_request(app.current_event.body).user_records()
    rocketchat_add_users(default_store(), get_settings().rocketchat_cell, users, latest=latest)
    metrics.add_metric(name="UsersStaged", unit=MetricUnit.Count, value=len(users))
    return rocketchat.SuccessResponse(success=True)


@app.post(
    "/api/v1/import.run",
    summary="Run the API import; returns at once",
    tags=["Rocket.Chat"],
    responses={200: json_answer(rocketchat.SuccessResponse)},
)
def import_run():
    _, latest = _authorize()
    operation = rocketchat_run(default_store(), default_executions(), get_settings().rocketchat_cell, latest=latest)
    logger.info("Import started", extra={"operation_id": operation.id})
    metrics.add_metric(name="ImportStarted", unit=MetricUnit.Count, value=1)
    return rocketchat.SuccessResponse(success=True)


@app.post(
    "/api/v1/import.clear",
    summary="Invalidate the current operation and stop it",
    tags=["Rocket.Chat"],
    responses={200: json_answer(rocketchat.SuccessResponse)},
)
def import_clear():
    _, latest = _authorize()
    stop(default_store(), default_executions(), get_settings().rocketchat_cell, clear=True, latest=latest)
    return rocketchat.SuccessResponse(success=True)


@app.post(
    "/api/v1/uploadImportFile",
    summary="Upload a file (base64) for a file importer; it is prepared for selection",
    tags=["Rocket.Chat"],
    responses={200: json_answer(rocketchat.SuccessResponse)},
)
def upload_file():
    user, latest = _authorize()
    request = UploadImportFileRequest.model_validate(json_body(app.current_event.body))
    importer = _file_importer(request.importerKey, "uploadImportFile")
    operation = upload_import_file(
        default_store(),
        default_files(),
        default_executions(),
        get_settings().rocketchat_cell,
        user,
        importer,
        request.fileName,
        request.content(),
        latest=latest,
    )
    logger.info("File uploaded", extra={"operation_id": operation.id, "importer": importer.key})
    return rocketchat.SuccessResponse(success=True)


@app.post(
    "/api/v1/downloadPublicImportFile",
    summary="Download a file from a public URL for a file importer; returns once the download has started",
    tags=["Rocket.Chat"],
    responses={200: json_answer(rocketchat.SuccessResponse)},
)
def download_file():
    user, latest = _authorize()
    request = DownloadPublicImportFileRequest.model_validate(json_body(app.current_event.body))
    importer = _file_importer(request.importerKey, "downloadImportFile")
    if not request.fileUrl.startswith("http"):  # a path on Rocket.Chat's server: none exists here
        raise rocketchat.MeteorError("error-import-file-missing", request.fileUrl, "downloadPublicImportFile")
    # Imported here: only this route fetches a URL, and the module would lengthen every cold start.
    from bulk_import.dal.public_urls import Allowlist, PublicDownloads

    settings = get_import_settings()
    downloads = PublicDownloads(
        Allowlist.parse(settings.ssrf_allowlist),
        settings.download_max_bytes,
        # What the invocation has left once its last writes are made, at most a connection's wait
        # and a response's.
        seconds_left=lambda: min(CHECK_SECONDS, _seconds_left() - WRITES_SECONDS),
    )
    operation = download_public_import_file(
        default_store(),
        default_executions(),
        downloads,
        settings.rocketchat_cell,
        user,
        importer,
        request.fileUrl,
        latest=latest,
    )
    logger.info("File download started", extra={"operation_id": operation.id, "importer": importer.key})
    return rocketchat.SuccessResponse(success=True)


@app.post(
    "/api/v1/downloadPendingFiles",
    summary="Download the files imported messages left (a new operation, Pending Files); answers their count",
    tags=["Rocket.Chat"],
    responses={200: json_answer(rocketchat.PendingDownloadsResponse)},
)
def download_pending_files():
    return _download_pending("pending-files")


@app.post(
    "/api/v1/downloadPendingAvatars",
    summary="Download the avatars imported users left (a new operation, Pending Avatars); answers their count",
    tags=["Rocket.Chat"],
    responses={200: json_answer(rocketchat.PendingDownloadsResponse)},
)
def download_pending_avatars():
    return _download_pending("pending-avatars")


def _download_pending(importer_key: str) -> rocketchat.PendingDownloadsResponse:
    user, latest = _authorize()
    PendingDownloadsRequest.model_validate(json_body(app.current_event.body))
    importer = IMPORTERS[importer_key]
    count = download_pending(
        default_store(), default_executions(), get_settings().rocketchat_cell, user, importer, latest=latest
    )
    logger.info("Pending downloads started", extra={"importer": importer.key, "count": count})
    return rocketchat.PendingDownloadsResponse(count=count, success=True)


def _file_importer(key: str, method: str) -> Importer:
    """The file importer `key` names; the API importer's and this product's own take no file."""
    importer = rocketchat.importer_named(key, method)
    if not importer.selects:
        raise rocketchat.MeteorError(
            "error-importer-not-defined", f"The importer ({key}) has no import class defined.", method
        )
    return importer


def _seconds_left() -> float:
    deadline = current_deadline()
    return deadline.remaining() if deadline is not None else CHECK_SECONDS + WRITES_SECONDS


@app.post(
    "/api/v1/startImport",
    summary="Import what was selected of the prepared file; returns at once",
    tags=["Rocket.Chat"],
    responses={200: json_answer(rocketchat.SuccessResponse)},
)
def start_import():
    _, latest = _authorize()
    request = StartSelectedImportRequest.model_validate(json_body(app.current_event.body))
    rocketchat.importer_for(latest, "startImport")
    assert latest is not None  # importer_for refused none
    start_selected_import(default_store(), default_files(), default_executions(), latest, request.selection())
    logger.info("Import started", extra={"operation_id": latest.id})
    metrics.add_metric(name="ImportStarted", unit=MetricUnit.Count, value=1)
    return rocketchat.SuccessResponse(success=True)


@cold_start.ends_after_first_answer
@within_remaining_time
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    settings = get_settings()
    return rocketchat.resolve(
        app, event, context, settings.rocketchat_api_enable_cors, settings.rocketchat_api_cors_origin
    )
