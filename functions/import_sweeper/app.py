"""Scheduled: fails imports whose worker stopped showing progress, counts the stalled ones, and starts
the executions of imports whose start died half-way."""

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from bulk_import.dal.dynamodb import default_store
from bulk_import.dal.s3 import default_files
from bulk_import.dal.stepfunctions import default_executions
from bulk_import.domain.deadline import within_remaining_time
from bulk_import.domain.operation import utc_now
from bulk_import.logic.worker.sweep import sweep
from bulk_import.observability import logger, metrics, tracer
from bulk_import.settings import get_import_settings


@within_remaining_time
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    settings = get_import_settings()
    swept = sweep(
        default_store(),
        default_files(),
        default_executions(),
        utc_now(),
        settings.stalled_after,
        settings.fail_stalled_after,
        concurrency=settings.batch_concurrency,
        reconcile_after=settings.reconcile_after,
    )
    # The StalledImports alarm watches this: imports shown as stalled that are not failed yet.
    metrics.add_metric(name="ImportsStalled", unit=MetricUnit.Count, value=len(swept.stalled) - len(swept.failed))
    metrics.add_metric(name="StalledImportsFailed", unit=MetricUnit.Count, value=len(swept.failed))
    for operation in swept.failed:
        logger.warning("Stalled import failed", extra={"operation_id": operation.id, "cell": operation.cell})
    for operation in swept.reconciled:
        logger.info("Stopped import reconciled", extra={"operation_id": operation.id, "cell": operation.cell})
    for operation in swept.started:
        logger.warning("Unstarted import started", extra={"operation_id": operation.id, "cell": operation.cell})
    for operation in swept.resumed:
        logger.warning("Selected import let go", extra={"operation_id": operation.id, "cell": operation.cell})
    return {
        name: [operation.id for operation in getattr(swept, name)]
        for name in ("stalled", "failed", "started", "reconciled", "resumed")
    }
