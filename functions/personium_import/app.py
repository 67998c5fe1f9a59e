"""POST /{CellName}/__import and PUT /{CellName}/__snapshot/{Name} - Personium's cell import - and
OPTIONS /{CellName}/__snapshot/{Name}.

Powertools' APIGatewayRestResolver routes (bulk_import.api.write_resolver); Personium's error bodies
come from its exception handlers (personium.answer_error). The import's body is read once the
caller's root is checked, as Personium reads it (personium_requests).
"""

from bulk_import.api import cold_start

cold_start.begin()  # before the imports: loading them is what it speeds up

import base64
from collections.abc import Callable

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from bulk_import.api import personium
from bulk_import.api.common import request_url
from bulk_import.api.personium_requests import cell_import_request
from bulk_import.api.rest import Answer
from bulk_import.api.write_resolver import as_response, write_resolver
from bulk_import.dal.dynamodb import default_store
from bulk_import.dal.s3 import default_files
from bulk_import.dal.stepfunctions import default_executions
from bulk_import.domain.deadline import within_remaining_time
from bulk_import.domain.operation import ImportOperation
from bulk_import.logic.authorization import authorize_cell_root_request
from bulk_import.logic.imports.snapshots import snapshot_exists, start_snapshot_import, store_snapshot
from bulk_import.observability import logger, metrics
from bulk_import.settings import get_settings

app = write_resolver(personium.answer_error)


def _authorize_root(cell: str, resource_found: Callable[[], None] | None = None) -> tuple[str, ImportOperation | None]:
    """Checks the caller has root on the cell (one request; `resource_found` first, once the cell is
    known); returns the token's subject and the cell's latest operation, read in that request."""
    credential = personium.PersoniumCredential.of(app.current_event)
    token, latest = authorize_cell_root_request(
        default_store(), cell, credential.token, credential.cookie_peer, resource_found
    )
    return token.subject, latest


@app.post(
    "/<CellName>/__import",
    summary="Start a cell import from a snapshot",
    tags=["Personium"],
    responses={202: {"description": "Import accepted; Location is the status URL"}},
)
def start_cell_import(CellName: str):
    user, latest = _authorize_root(CellName)
    name = cell_import_request(app.current_event.body).Name
    operation = start_snapshot_import(
        default_store(), default_files(), default_executions(), CellName, name, user, latest=latest
    )
    logger.info("Cell import started", extra={"operation_id": operation.id, "snapshot": name})
    metrics.add_metric(name="ImportStarted", unit=MetricUnit.Count, value=1)
    return as_response(Answer(202, headers={"Location": request_url(app.current_event)}))


@app.put(
    "/<CellName>/__snapshot/<Name>",
    summary="Store a snapshot file",
    tags=["Personium"],
    responses={201: {"description": "Snapshot stored"}},
)
def put_snapshot(CellName: str, Name: str):
    _, latest = _authorize_root(CellName)
    name = personium.snapshot_name(Name)
    event = app.current_event
    body = base64.b64decode(event.body or "") if event.is_base64_encoded else (event.body or "").encode()
    store_snapshot(default_store(), default_files(), CellName, name, body, latest=latest)
    return as_response(Answer(201, headers={"Location": request_url(event)}))


@app.route("/<CellName>/__snapshot/<Name>", method="OPTIONS", include_in_schema=False)
def snapshot_options(CellName: str, Name: str):
    """With Authorization (personium.resolve answers an OPTIONS without one): the file must exist,
    then root on the cell."""

    def file_found() -> None:
        name = personium.stored_snapshot_name(Name)
        if name is None or not snapshot_exists(default_files(), CellName, name):
            raise personium.PersoniumRequestError(personium.RESOURCE_NOT_FOUND, request_url(app.current_event))

    _authorize_root(CellName, file_found)
    return as_response(personium.options_response(personium.SNAPSHOT_FILE_METHODS))


@cold_start.ends_after_first_answer
@within_remaining_time
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return personium.resolve(app, event, context, get_settings().personium_version)
