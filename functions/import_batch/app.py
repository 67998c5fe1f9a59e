"""Worker task: import one batch of at most 50 staged records, counted exactly once."""

import time

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from bulk_import.dal.dynamodb import default_store
from bulk_import.dal.s3 import default_files
from bulk_import.domain.deadline import within_remaining_time
from bulk_import.logic.worker.batch import import_batch
from bulk_import.logic.worker.tasks import BatchTask
from bulk_import.observability import logger, metrics, tracer


@within_remaining_time
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=BatchTask)
def lambda_handler(task: BatchTask, context: LambdaContext) -> dict:
    batch = task.batch
    logger.append_keys(operation_id=batch.operationId, cell=batch.cell, record_type=batch.type, batch=batch.batch)
    started = time.perf_counter()
    outcome = import_batch(default_store(), default_files(), batch.cell, batch.operationId, batch.type, batch.batch)
    metrics.add_metric(
        name="BatchDuration", unit=MetricUnit.Milliseconds, value=round((time.perf_counter() - started) * 1000, 1)
    )
    metrics.add_metric(name="RecordsImported", unit=MetricUnit.Count, value=outcome["completed"])
    metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=outcome["error"])
    return outcome
