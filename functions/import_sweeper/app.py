"""Scheduled: fails imports whose worker stopped showing progress, and counts the stalled ones."""

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from bulk_import.api.observability import logger, metrics, tracer
from bulk_import.executions import default_executions
from bulk_import.model import utc_now
from bulk_import.settings import get_settings
from bulk_import.storage import default_store
from bulk_import.worker import sweep_stalled


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    settings = get_settings()
    stalled, failed = sweep_stalled(default_store(), default_executions(), utc_now(), settings.stalled_after,
                                    settings.fail_stalled_after)
    # The StalledImports alarm watches this: imports shown as stalled that are not failed yet.
    metrics.add_metric(name="ImportsStalled", unit=MetricUnit.Count, value=len(stalled) - len(failed))
    metrics.add_metric(name="StalledImportsFailed", unit=MetricUnit.Count, value=len(failed))
    for operation in failed:
        logger.warning("Stalled import failed", extra={"operation_id": operation.id, "cell": operation.cell})
    return {"stalled": [operation.id for operation in stalled], "failed": [operation.id for operation in failed]}
