"""GET /{CellName}/__import - Personium's cell import status - and OPTIONS /{CellName}/__import."""

from bulk_import.api import cold_start

cold_start.begin()  # before the imports: loading them is what it speeds up

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from bulk_import.api import personium
from bulk_import.api.rest import Router
from bulk_import.dal.dynamodb import default_store
from bulk_import.domain.deadline import within_remaining_time
from bulk_import.logic.authorization import authorize_cell_root_request
from bulk_import.observability import logger, metrics
from bulk_import.settings import get_settings

app = Router(personium.answer_error)


@app.get("/{CellName}/__import", summary="Get cell import status", tags=["Personium"])
def get_cell_import_status(CellName: str) -> personium.CellImportStatus:
    status = personium.cell_import_status_answer(default_store(), CellName, app.current_event)
    metrics.add_metric(name="StatusRead", unit=MetricUnit.Count, value=1)
    return status


@app.route("OPTIONS", "/{CellName}/__import", include_in_schema=False)
def cell_import_options(CellName: str):
    """With Authorization (personium.resolve answers an OPTIONS without one): root on the cell."""
    credential = personium.PersoniumCredential.of(app.current_event)
    authorize_cell_root_request(default_store(), CellName, credential.token, credential.cookie_peer)
    return personium.options_response(personium.CELL_IMPORT_METHODS)


@cold_start.ends_after_first_answer
@within_remaining_time
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return personium.resolve(app, event, context, get_settings().personium_version)
