"""Worker task: move an import to its next phase, finish it, record why it failed, or record the
task token its execution waits on for Rocket.Chat's startImport."""

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from bulk_import.dal.dynamodb import default_store
from bulk_import.dal.s3 import default_files
from bulk_import.dal.stepfunctions import default_executions
from bulk_import.domain.deadline import within_remaining_time
from bulk_import.logic.worker.phase import advance_phase, await_selection, fail_operation
from bulk_import.logic.worker.tasks import PhaseTask
from bulk_import.observability import logger, tracer


@within_remaining_time
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@event_parser(model=PhaseTask)
def lambda_handler(task: PhaseTask, context: LambdaContext) -> dict:
    operation = task.operation
    logger.append_keys(operation_id=operation.id, cell=operation.cell, phase=task.phase)
    if task.phase == "failed":
        logger.warning("Import failed", extra={"error": task.error})
        return fail_operation(default_store(), operation.cell, operation.id, task.error or {})
    if task.phase == "await-selection":
        return await_selection(default_store(), default_executions(), operation.cell, operation.id, task.token or "")
    return advance_phase(default_store(), default_files(), operation.cell, operation.id, task.phase)
