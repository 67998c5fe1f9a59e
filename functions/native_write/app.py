"""The native API's writes: uploads, starting (idempotently), canceling and retrying imports."""

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel
from typing import Annotated

from bulk_import.api import native
from bulk_import.api.common import url_of
from bulk_import.api.observability import logger, metrics, tracer
from bulk_import.credentials import ApiCredential, ApiPermission
from bulk_import.executions import default_executions
from bulk_import import uploads
from bulk_import.files import default_files
from bulk_import.imports import cancel, retry, start_records_import, start_upload_import
from bulk_import.settings import get_settings
from bulk_import.status import api_credential, api_operation
from bulk_import.storage import default_store

app = APIGatewayRestResolver(enable_validation=True)
native.install_error_handlers(app)

# Idempotency records share the table (PK fixed, SK the key's hash) and expire by its TTL.
IDEMPOTENCY = DynamoDBPersistenceLayer(table_name=get_settings().table_name, key_attr="PK", sort_key_attr="SK",
                                       static_pk_value="IDEMPOTENCY#start-import", expiry_attr="expiresAt")
IDEMPOTENCY_CONFIG = IdempotencyConfig(event_key_jmespath="[cell, key]", payload_validation_jmespath="request",
                                       expires_after_seconds=24 * 3600)


def _authorize(cell: str) -> ApiCredential:
    return api_credential(default_store(), cell, native.bearer_token(app.current_event), ApiPermission.WRITE)


def _accepted(view: native.ImportView) -> Response[native.ImportView]:
    """202 with the import started, and its URL as Location."""
    location = url_of(app.current_event, f"/v1/cells/{view.cell}/imports/{view.id}")
    return Response(status_code=202, content_type="application/json", body=view, headers={"Location": location})


@app.post("/v1/cells/<cell>/uploads", summary="Get presigned S3 URLs to upload a file of any size",
          tags=["Uploads"])
def create_upload(cell: str, request: native.UploadRequest) -> native.UploadView:
    _authorize(cell)
    return native.UploadView.of(uploads.create_upload(default_files(), cell, request.filename, request.size))


@app.post("/v1/cells/<cell>/uploads/<uploadId>/complete", summary="Finish a multipart upload", tags=["Uploads"])
def complete_upload(cell: str, uploadId: str, request: native.CompleteUploadRequest) -> native.CompletedUpload:
    _authorize(cell)
    filename = uploads.complete_upload(default_files(), cell, uploadId, request.etags)
    return native.CompletedUpload(uploadId=uploadId, filename=filename)


class StartCommand(BaseModel):
    """What an idempotent start is keyed and checked on: the cell, the key and the request."""

    cell: str
    key: str
    user: str
    request: native.StartImportRequest


@idempotent_function(data_keyword_argument="command", persistence_store=IDEMPOTENCY, config=IDEMPOTENCY_CONFIG,
                     output_serializer=PydanticSerializer)
def start_once(command: StartCommand) -> native.ImportView:
    return _start(command)


def _start(command: StartCommand) -> native.ImportView:
    request = command.request
    if request.uploadId is not None:
        operation = start_upload_import(default_store(), default_files(), default_executions(), command.cell,
                                        request.uploadId, request.name, command.user)
    else:
        records = [record.model_dump(mode="json") for record in request.records]
        operation = start_records_import(default_store(), default_files(), default_executions(), command.cell,
                                         records, request.name, command.user)
    logger.info("Import started", extra={"operation_id": operation.id})
    metrics.add_metric(name="ImportStarted", unit=MetricUnit.Count, value=1)
    return native.import_view(operation)


@app.post("/v1/cells/<cell>/imports", summary="Start an import of an upload or of inline records",
          tags=["Imports"], responses={202: {"description": "Started; Location is the import"}})
def start_import(cell: str, request: native.StartImportRequest) -> Response[native.ImportView]:
    credential = _authorize(cell)
    key = app.current_event.headers.get("Idempotency-Key")
    command = StartCommand(cell=cell, key=key or "", user=credential.name, request=request)
    return _accepted(start_once(command=command) if key else _start(command))


@app.post("/v1/cells/<cell>/imports/<operationId>/cancel", summary="Cancel a loading or importing import",
          tags=["Imports"])
def cancel_import(cell: str, operationId: str) -> native.ImportView:
    _, operation = api_operation(default_store(), cell, operationId, native.bearer_token(app.current_event),
                                 ApiPermission.WRITE)
    stopped = cancel(default_store(), default_executions(), operation)
    return native.import_view(stopped)


@app.post("/v1/cells/<cell>/imports/<operationId>/retry", tags=["Imports"],
          summary="Start a new import of this import's failed records only (optionally corrected)",
          responses={202: {"description": "Started; Location is the new import"}})
def retry_import(cell: str, operationId: str,
                 request: Annotated[native.RetryRequest | None, Body()] = None) -> Response[native.ImportView]:
    credential, parent = api_operation(default_store(), cell, operationId, native.bearer_token(app.current_event),
                                       ApiPermission.WRITE)
    child = retry(default_store(), default_files(), default_executions(), parent,
                  (request or native.RetryRequest()).corrections, credential.name)
    return _accepted(native.import_view(child))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    IDEMPOTENCY_CONFIG.register_lambda_context(context)
    return app.resolve(event, context)
