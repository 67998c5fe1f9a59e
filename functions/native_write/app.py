"""The native API's writes: uploads, starting (idempotently), canceling and retrying imports; OPTIONS
of these resources (native.cors.resolve).

Powertools' APIGatewayRestResolver routes, and validates each body with its pydantic model
(native.requests); its exception handlers answer problem details (native.writes).
"""

from __future__ import annotations

from bulk_import.api import cold_start

cold_start.begin()  # before the imports: loading them is what it speeds up

from typing import Annotated, cast

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from bulk_import.api.common import url_of
from bulk_import.api.native import cors, views, writes
from bulk_import.api.native.auth import bearer_token
from bulk_import.api.native.requests import CompleteUploadRequest, RetryRequest, StartImportRequest, UploadRequest
from bulk_import.api.rest import Answer, json_text
from bulk_import.api.write_resolver import as_response, json_answer
from bulk_import.dal.dynamodb import default_store
from bulk_import.dal.s3 import default_files
from bulk_import.dal.stepfunctions import default_executions
from bulk_import.domain.credentials import ApiCredential, ApiPermission
from bulk_import.domain.deadline import within_remaining_time
from bulk_import.domain.operation import ImportOperation, StartKey
from bulk_import.logic import uploads
from bulk_import.logic.authorization import AuthorizedCell, api_cell, api_credential, api_operation
from bulk_import.logic.imports.launch import start_key
from bulk_import.logic.imports.retry import correction_batches, retry
from bulk_import.logic.imports.start import start_records_import, start_upload_import
from bulk_import.logic.imports.stop import cancel
from bulk_import.observability import logger, metrics

app = writes.resolver()

#: The OpenAPI document's answer of the routes that start an import.
STARTED = json_answer(views.ImportView, "Started; Location is the import")


def _authorize(cell: str) -> ApiCredential:
    return api_credential(default_store(), cell, bearer_token(app.current_event), ApiPermission.WRITE)


def _accepted(view: views.ImportView) -> Response:
    """202 with the import started, and its URL as Location."""
    location = url_of(app.current_event, f"/v1/cells/{view['cell']}/imports/{view['id']}")
    return as_response(Answer(202, json_text(view), headers={"Location": location}))


@app.post(
    "/v1/cells/<cell>/uploads",
    summary="Get presigned S3 URLs to upload a file of any size",
    tags=["Uploads"],
    responses={200: json_answer(views.UploadView)},
)
def create_upload(cell: str, request: UploadRequest):
    _authorize(cell)
    return views.upload_view(uploads.create_upload(default_files(), cell, request.filename, request.size))


@app.post(
    "/v1/cells/<cell>/uploads/<uploadId>/complete",
    summary="Finish a multipart upload",
    tags=["Uploads"],
    responses={200: json_answer(views.CompletedUpload)},
)
def complete_upload(cell: str, uploadId: str, request: CompleteUploadRequest):
    _authorize(cell)
    filename = uploads.complete_upload(default_files(), cell, uploadId, request.etags)
    return views.CompletedUpload(uploadId=uploadId, filename=filename)


def _start(
    cell: str, request: StartImportRequest, authorized: AuthorizedCell, idempotency: StartKey | None
) -> ImportOperation:
    user = authorized.credential.name
    if request.uploadId is not None:
        return start_upload_import(
            default_store(),
            default_files(),
            default_executions(),
            cell,
            request.uploadId,
            request.name,
            user,
            latest=authorized.latest,
            idempotency=idempotency,
            keyed=authorized.keyed,
        )
    records = cast("list[dict]", request.model_dump(mode="json")["records"])  # StartImportRequest: one or the other
    return start_records_import(
        default_store(),
        default_files(),
        default_executions(),
        cell,
        records,
        request.name,
        user,
        latest=authorized.latest,
        idempotency=idempotency,
        keyed=authorized.keyed,
    )


@app.post(
    "/v1/cells/<cell>/imports",
    summary="Start an import of an upload or of inline records",
    tags=["Imports"],
    responses={202: STARTED},
)
def start_import(
    cell: str,
    request: StartImportRequest,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="A repeat of the request with this key within 24 h answers the import its first start began",
        ),
    ] = None,
):
    # The key is recorded in the transaction that claims the cell, and read with the credential.
    idempotency = start_key(idempotency_key, request.model_dump(mode="json")) if idempotency_key else None
    authorized = api_cell(
        default_store(),
        cell,
        bearer_token(app.current_event),
        ApiPermission.WRITE,
        idempotency.key_hash if idempotency else None,
    )
    operation = _start(cell, request, authorized, idempotency)
    logger.info("Import started", extra={"operation_id": operation.id})
    metrics.add_metric(name="ImportStarted", unit=MetricUnit.Count, value=1)
    return _accepted(views.import_view(operation))


@app.post(
    "/v1/cells/<cell>/imports/<operationId>/cancel",
    summary="Cancel a loading or importing import",
    tags=["Imports"],
    responses={200: json_answer(views.ImportView)},
)
def cancel_import(cell: str, operationId: str):
    read = api_operation(default_store(), cell, operationId, bearer_token(app.current_event), ApiPermission.WRITE)
    stopped = cancel(default_store(), default_executions(), read.operation, latest=read.latest)
    return views.import_view(stopped)


@app.post(
    "/v1/cells/<cell>/imports/<operationId>/retry",
    tags=["Imports"],
    summary="Start a new import of this import's failed records only (optionally corrected)",
    responses={202: json_answer(views.ImportView, "Started; Location is the new import")},
)
def retry_import(cell: str, operationId: str, request: Annotated[RetryRequest | None, Body()] = None):
    corrections = request.corrections if request is not None else {}
    read = api_operation(  # with the parent's markers of the corrected records, in the same read
        default_store(),
        cell,
        operationId,
        bearer_token(app.current_event),
        ApiPermission.WRITE,
        correction_batches(corrections),
    )
    child = retry(
        default_store(),
        default_files(),
        default_executions(),
        read.operation,
        corrections,
        read.credential.name,
        latest=read.latest,
        outcomes=read.outcomes,
    )
    return _accepted(views.import_view(child))


@cold_start.ends_after_first_answer
@within_remaining_time
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return cors.resolve(app, event, context)
