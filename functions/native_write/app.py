"""The native API's writes: uploads, starting (idempotently), canceling and retrying imports; OPTIONS
of these resources (native.resolve).

It loads neither Powertools' event handler nor pydantic (issue 10, docs/benchmarks.md): it routes with
bulk_import.api.rest, and a route that takes a body reads it with native_writes.with_body.
"""

from __future__ import annotations

from bulk_import.api import cold_start

cold_start.begin()  # before the imports: loading them is what it speeds up

from dataclasses import asdict
from typing import TYPE_CHECKING, cast

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from bulk_import.api import native, native_writes
from bulk_import.api.common import url_of
from bulk_import.api.native_writes import with_body
from bulk_import.api.rest import Answer, Router, json_text
from bulk_import.dal.dynamodb import default_store
from bulk_import.dal.s3 import default_files
from bulk_import.dal.stepfunctions import default_executions
from bulk_import.domain.credentials import ApiCredential, ApiPermission
from bulk_import.domain.operation import ImportOperation, StartKey
from bulk_import.logic import uploads
from bulk_import.logic.imports import (
    cancel,
    correction_batches,
    retry,
    start_key,
    start_records_import,
    start_upload_import,
)
from bulk_import.logic.status_reads import AuthorizedCell, api_cell, api_credential, api_operation
from bulk_import.observability import logger, metrics

if TYPE_CHECKING:
    from bulk_import.api.native_bodies import CompleteUploadRequest, RetryRequest, StartImportRequest, UploadRequest

app = Router(native_writes.answer_write_error)

#: The OpenAPI document's answer of the routes that start an import.
STARTED = {
    "description": "Started; Location is the import",
    "content": {"application/json": {"model": native.ImportView}},
}


def _authorize(cell: str) -> ApiCredential:
    return api_credential(default_store(), cell, native.bearer_token(app.current_event), ApiPermission.WRITE)


def _accepted(view: native.ImportView) -> Answer:
    """202 with the import started, and its URL as Location."""
    location = url_of(app.current_event, f"/v1/cells/{view['cell']}/imports/{view['id']}")
    return Answer(202, json_text(view), headers={"Location": location})


@app.post("/v1/cells/{cell}/uploads", summary="Get presigned S3 URLs to upload a file of any size", tags=["Uploads"])
@with_body(app, "UploadRequest")
def create_upload(cell: str, request: UploadRequest) -> native_writes.UploadView:
    _authorize(cell)
    return native_writes.upload_view(uploads.create_upload(default_files(), cell, request.filename, request.size))


@app.post("/v1/cells/{cell}/uploads/{uploadId}/complete", summary="Finish a multipart upload", tags=["Uploads"])
@with_body(app, "CompleteUploadRequest")
def complete_upload(cell: str, uploadId: str, request: CompleteUploadRequest) -> native_writes.CompletedUpload:
    _authorize(cell)
    filename = uploads.complete_upload(default_files(), cell, uploadId, request.etags)
    return {"uploadId": uploadId, "filename": filename}


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
    records = cast("list[dict]", request.records)  # StartImportRequest: one or the other
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
    "/v1/cells/{cell}/imports",
    summary="Start an import of an upload or of inline records",
    tags=["Imports"],
    responses={202: STARTED},
)
@with_body(app, "StartImportRequest")
def start_import(cell: str, request: StartImportRequest):
    # With an Idempotency-Key, a repeat within 24 h answers the import the key's first start claimed:
    # the key is recorded in the transaction that claims the cell, and read with the credential.
    key = app.current_event.headers.get("Idempotency-Key")
    idempotency = start_key(key, asdict(request)) if key else None
    authorized = api_cell(
        default_store(),
        cell,
        native.bearer_token(app.current_event),
        ApiPermission.WRITE,
        idempotency.key_hash if idempotency else None,
    )
    operation = _start(cell, request, authorized, idempotency)
    logger.info("Import started", extra={"operation_id": operation.id})
    metrics.add_metric(name="ImportStarted", unit=MetricUnit.Count, value=1)
    return _accepted(native.import_view(operation))


@app.post(
    "/v1/cells/{cell}/imports/{operationId}/cancel", summary="Cancel a loading or importing import", tags=["Imports"]
)
def cancel_import(cell: str, operationId: str) -> native.ImportView:
    read = api_operation(
        default_store(), cell, operationId, native.bearer_token(app.current_event), ApiPermission.WRITE
    )
    stopped = cancel(default_store(), default_executions(), read.operation, latest=read.latest)
    return native.import_view(stopped)


@app.post(
    "/v1/cells/{cell}/imports/{operationId}/retry",
    tags=["Imports"],
    summary="Start a new import of this import's failed records only (optionally corrected)",
    responses={202: STARTED | {"description": "Started; Location is the new import"}},
)
@with_body(app, "RetryRequest", required=False)
def retry_import(cell: str, operationId: str, request: RetryRequest | None):
    corrections = request.corrections if request is not None else {}
    read = api_operation(  # with the parent's markers of the corrected records, in the same read
        default_store(),
        cell,
        operationId,
        native.bearer_token(app.current_event),
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
    return _accepted(native.import_view(child))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return native.resolve(app, event, context)


cold_start.end()
