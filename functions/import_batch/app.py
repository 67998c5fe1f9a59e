"""Worker task: import one batch of at most 50 staged records, counted exactly once."""

import time

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from bulk_import.dal.dynamodb import default_store
from bulk_import.dal.public_urls import Allowlist, PublicDownloads
from bulk_import.dal.s3 import default_files
from bulk_import.domain.deadline import within_remaining_time
from bulk_import.logic.worker.batch import import_batch
from bulk_import.logic.worker.pending_downloads import FailedAvatar
from bulk_import.logic.worker.tasks import BatchTask
from bulk_import.observability import logger, metrics, tracer
from bulk_import.settings import get_import_settings

#: What a batch of downloads keeps of its invocation for its writes after the last download.
WRITES_MS = 10_000


@within_remaining_time
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=BatchTask)
def lambda_handler(task: BatchTask, context: LambdaContext) -> dict:
    batch = task.batch
    logger.append_keys(operation_id=batch.operationId, cell=batch.cell, record_type=batch.type, batch=batch.batch)
    started = time.perf_counter()
    settings = get_import_settings()
    downloads = PublicDownloads(  # for downloadPendingFiles' and downloadPendingAvatars' batches
        Allowlist.parse(settings.ssrf_allowlist),
        settings.download_max_bytes,
        seconds_left=lambda: (context.get_remaining_time_in_millis() - WRITES_MS) / 1000,
    )
    failed_avatars: list[FailedAvatar] = []
    outcome = import_batch(
        default_store(),
        default_files(),
        batch.cell,
        batch.operationId,
        batch.type,
        batch.batch,
        downloads,
        failed_avatars,
    )
    if failed_avatars:  # counted as completed and left pending, as Rocket.Chat does: said here
        logger.warning(
            "Avatars not downloaded",
            extra={"failed": len(failed_avatars), "first": [vars(avatar) for avatar in failed_avatars[:20]]},
        )
    metrics.add_metric(
        name="BatchDuration", unit=MetricUnit.Milliseconds, value=round((time.perf_counter() - started) * 1000, 1)
    )
    metrics.add_metric(name="RecordsImported", unit=MetricUnit.Count, value=outcome["completed"])
    metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=outcome["error"])
    return outcome
