"""Step Functions: starting and stopping the import worker. Knows nothing of HTTP."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from botocore.config import Config

from bulk_import.dal import aws_clients
from bulk_import.settings import get_import_settings


class WorkerExecutions:
    def __init__(self, state_machine_arn: str, client: Any) -> None:
        self.state_machine_arn = state_machine_arn
        self.client = client

    def start(self, cell: str, operation_id: str) -> str:
        """Starts the worker; the execution is named after the operation, so a repeated start of
        the same operation (an API call retried, the sweeper finishing a start that died) cannot
        run it twice: Step Functions answers a repeat with the running execution, or refuses a
        reused name, which means the execution exists."""
        try:
            response = self.client.start_execution(
                stateMachineArn=self.state_machine_arn,
                name=operation_id,
                input=json.dumps({"operation": {"cell": cell, "id": operation_id}}),
            )
        except self.client.exceptions.ExecutionAlreadyExists:
            return self.execution_arn(operation_id)
        return response["executionArn"]

    def execution_arn(self, operation_id: str) -> str:
        return self.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{operation_id}"

    def resume(self, task_token: str) -> None:
        """Lets an execution that waits on `task_token` go on (SendTaskSuccess). An execution that
        went on already (the other side of a race sent it first), timed out or was stopped answers
        with an error that means there is nothing left to resume."""
        errors = self.client.exceptions
        try:
            self.client.send_task_success(taskToken=task_token, output="{}")
        except (errors.TaskTimedOut, errors.TaskDoesNotExist, errors.InvalidToken):
            pass

    def stop(self, execution_arn: str, cause: str) -> None:
        try:
            self.client.stop_execution(executionArn=execution_arn, error="OperationStopped", cause=cause)
        except self.client.exceptions.ExecutionDoesNotExist:
            pass  # gone already (history expired, or never started): nothing left to stop


@lru_cache(maxsize=1)
def default_executions() -> WorkerExecutions:
    state_machine_arn = get_import_settings().state_machine_arn
    if state_machine_arn is None:
        raise RuntimeError("STATE_MACHINE_ARN is not set for this function")
    # botocore's standard mode: throttling and 5xx, at most 4 attempts
    retries = Config(retries={"mode": "standard", "total_max_attempts": 4})
    return WorkerExecutions(state_machine_arn, aws_clients.client("stepfunctions", config=retries))
