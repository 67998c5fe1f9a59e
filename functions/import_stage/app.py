"""Worker task: stage the input from where the operation says staging resumes, within this
invocation's time budget (downloading it first if it comes from a public URL)."""

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from bulk_import.dal.dynamodb import default_store
from bulk_import.dal.public_urls import Allowlist, PublicDownloads
from bulk_import.dal.s3 import default_files
from bulk_import.domain.deadline import within_remaining_time
from bulk_import.logic.worker.stage import stage_input
from bulk_import.logic.worker.tasks import StageTask
from bulk_import.observability import logger, tracer
from bulk_import.readers.slack_export import SkippedFile
from bulk_import.settings import get_import_settings

# Stop reading this long before the Lambda timeout, leaving time to save the cursor.
SAFETY_MARGIN_MS = 60_000


@within_remaining_time
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@event_parser(model=StageTask)
def lambda_handler(task: StageTask, context: LambdaContext) -> dict:
    logger.append_keys(operation_id=task.operation.id, cell=task.operation.cell)
    settings = get_import_settings()
    skipped: list[SkippedFile] = []
    answer = stage_input(
        default_store(),
        default_files(),
        task.operation.cell,
        task.operation.id,
        out_of_time=lambda: context.get_remaining_time_in_millis() < SAFETY_MARGIN_MS,
        concurrency=settings.batch_concurrency,
        reconcile_after=settings.reconcile_after,
        execution_arn=task.execution,
        downloads=PublicDownloads(
            Allowlist.parse(settings.ssrf_allowlist),
            settings.download_max_bytes,
            seconds_left=lambda: (context.get_remaining_time_in_millis() - SAFETY_MARGIN_MS) / 1000,
        ),
        skipped=skipped,
    )
    if skipped:
        logger.warning(
            "Files skipped uncounted, as Rocket.Chat skips them",
            extra={"skipped": len(skipped), "first": [{"file": f.name, "reason": f.reason} for f in skipped[:20]]},
        )
    return answer
