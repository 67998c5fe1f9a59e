"""The local stack's Step Functions and Lambda are as strict as AWS where the worker depends on it
(local/bulk_import_local/moto_stepfunctions.py, functions_host.py): each test here fails on plain moto.

The state machines are small ones made for each test; their Lambda tasks call ApiDocsFunction,
whose handler a test replaces (fake_handler).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config

from bulk_import_local import moto_stepfunctions
from bulk_import_local.functions_host import LambdaFaults, SimulatedTimeout
from bulk_import_local.sdk_boundary import SimulatedCrash, current_function

FUNCTION = "ApiDocsFunction"  # no route of these tests' stack calls it while they run
INVOKE = "arn:aws:states:::lambda:invoke"


class Boom(Exception):
    """A handler's own error, named as Step Functions sees it."""


def run(definition: dict[str, Any], execution_input: Any = None, timeout: float = 60) -> dict[str, Any]:
    """Creates the state machine, runs it to its end and returns describe_execution's answer."""
    stepfunctions = boto3.client("stepfunctions")
    arn = stepfunctions.create_state_machine(
        name=f"strict-{uuid.uuid4().hex[:10]}",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/bulk-import-local",
    )["stateMachineArn"]
    execution = stepfunctions.start_execution(
        stateMachineArn=arn, name=uuid.uuid4().hex, input=json.dumps(execution_input or {})
    )["executionArn"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = stepfunctions.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.05)
    raise TimeoutError(execution)


def output(described: dict[str, Any]) -> Any:
    assert described["status"] == "SUCCEEDED", described
    return json.loads(described["output"])


def task(function_arn: str, **fields: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": INVOKE,
        "Parameters": {"FunctionName": function_arn, "Payload.$": "$"},
        "OutputPath": "$.Payload",
        **fields,
    }


def caught(definition_state: dict[str, Any]) -> dict[str, Any]:
    """A machine running one state whose every error is caught into $.error."""
    state = {
        **definition_state,
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}],
        "End": True,
    }
    return {"StartAt": "Work", "States": {"Work": state, "Caught": {"Type": "Pass", "End": True}}}


@pytest.fixture
def faults(local_stack):
    yield local_stack.host.faults
    local_stack.host.faults.clear()


@pytest.fixture
def fake_handler(local_stack, monkeypatch) -> Callable[[Callable[[Any, Any], Any]], str]:
    """Replaces FUNCTION's handler; returns the function's ARN."""
    host = local_stack.host

    def install(handler: Callable[[Any, Any], Any]) -> str:
        monkeypatch.setattr(host.module(FUNCTION), host.functions[FUNCTION].attribute, handler)
        return host.functions[FUNCTION].arn

    return install


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setenv(moto_stepfunctions.RETRY_SCALE_VARIABLE, "0.01")


# -- 1. 256 KiB per state ---------------------------------------------------------------------------


def _map_of_big_results(items: int) -> dict[str, Any]:
    """An inline Map whose children each return 100 KB; its result is discarded (ResultPath null)."""
    return {
        "StartAt": "Items",
        "States": {
            "Items": {"Type": "Pass", "Result": list(range(items)), "ResultPath": "$.items", "Next": "Map"},
            "Map": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ResultPath": None,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Big",
                    "States": {"Big": {"Type": "Pass", "Result": "x" * 100_000, "End": True}},
                },
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }


def test_a_map_result_over_256_kib_fails_the_execution_even_if_discarded_and_states_all_does_not_catch_it(local_stack):
    moto_stepfunctions.reset_payload_sizes()
    described = run(_map_of_big_results(3))
    assert described["status"] == "FAILED"
    assert described["error"] == "States.DataLimitExceeded"
    assert "'Map'" in described["cause"]
    assert moto_stepfunctions.payload_size_details()["Map"]["result"] > moto_stepfunctions.MAX_PAYLOAD_BYTES


def test_a_map_result_under_256_kib_passes_and_its_sizes_are_recorded(local_stack):
    moto_stepfunctions.reset_payload_sizes()
    assert output(run(_map_of_big_results(2))) == {"items": [0, 1]}
    details = moto_stepfunctions.payload_size_details()
    assert details["Big"]["output"] == 100_002  # the JSON string: 100,000 characters and two quotes
    assert 200_000 < details["Map"]["result"] < moto_stepfunctions.MAX_PAYLOAD_BYTES
    assert details["Map"]["output"] == len('{"items":[0,1]}')
    assert moto_stepfunctions.payload_sizes()["Map"] == details["Map"]["result"]


def test_a_task_input_over_256_kib_after_parameters_fails_the_execution(local_stack, fake_handler):
    # AWS checks "the input of a state after Parameters processing": here the state's input, its
    # result and its output are under the quota, only the Payload built from the input is over it.
    ran: list[Any] = []
    arn = fake_handler(lambda event, context: ran.append(event) or {})
    twice = {
        "Type": "Task",
        "Resource": INVOKE,
        "ResultPath": None,
        "Parameters": {"FunctionName": arn, "Payload": {"a.$": "$.big", "b.$": "$.big"}},
    }
    described = run(caught(twice), {"big": "x" * 140_000})
    assert (described["status"], described["error"]) == ("FAILED", "States.DataLimitExceeded")
    assert "'Work'" in described["cause"] and ran == []


def test_the_limit_is_262144_bytes_of_utf8_json():
    assert moto_stepfunctions.payload_size({"a": "é"}) == len('{"a":"é"}'.encode())
    assert moto_stepfunctions.MAX_PAYLOAD_BYTES == 256 * 1024


# -- 2. Lambda errors as AWS names them --------------------------------------------------------------


def _error_of(function_arn: str, **task_fields: Any) -> dict[str, Any]:
    return output(run(caught(task(function_arn, **task_fields))))["error"]


def test_a_handler_exception_fails_the_task_with_its_class_name(local_stack, fake_handler):
    def handler(event, context):
        raise Boom("no")

    error = _error_of(fake_handler(handler))
    assert error["Error"] == "Boom" and json.loads(error["Cause"])["errorMessage"] == "no"


def test_a_crashed_process_fails_the_task_with_runtime_exit_error(local_stack, fake_handler):
    seen: list[str | None] = []

    def handler(event, context):
        seen.append(current_function.get())
        raise SimulatedCrash()

    error = _error_of(fake_handler(handler))
    assert error["Error"] == "Runtime.ExitError"
    assert json.loads(error["Cause"])["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
    assert seen == [FUNCTION]  # the host tells sdk_boundary which function runs


def test_a_timed_out_function_fails_the_task_with_sandbox_timedout(local_stack, fake_handler):
    def handler(event, context):
        raise SimulatedTimeout()

    error = _error_of(fake_handler(handler))
    assert error["Error"] == "Sandbox.Timedout"
    message = json.loads(error["Cause"])["errorMessage"]
    assert message.startswith("RequestId: ") and message.endswith("Error: Task timed out after 10.00 seconds")


def test_a_handler_running_past_its_timeout_is_reported_timed_out(local_stack, fake_handler, monkeypatch):
    monkeypatch.setitem(local_stack.host.timeouts, FUNCTION, 0.2)
    remaining: list[int] = []

    def handler(event, context):
        remaining.append(context.get_remaining_time_in_millis())
        time.sleep(0.3)
        return {}

    assert _error_of(fake_handler(handler))["Error"] == "Sandbox.Timedout"
    assert 0 < remaining[0] <= 200


def test_an_injected_timeout_after_the_handler_ran(local_stack, fake_handler, faults):
    ran: list[Any] = []
    arn = fake_handler(lambda event, context: ran.append(event) or {"done": True})
    with faults.timeout(FUNCTION) as fault:
        assert _error_of(arn)["Error"] == "Sandbox.Timedout"
    assert fault.fired == 1 and len(ran) == 1


@pytest.mark.parametrize("error", ["ServiceException", "TooManyRequestsException"])
def test_a_failed_invoke_call_fails_the_task_with_the_lambda_error_name(local_stack, fake_handler, faults, error):
    ran: list[Any] = []
    arn = fake_handler(lambda event, context: ran.append(event) or {})
    faults.service_error(FUNCTION, error)
    failure = _error_of(arn)
    assert failure["Error"] == f"Lambda.{error}"
    assert f"Error Code: {error}" in failure["Cause"]
    assert ran == []  # the Invoke call failed: the handler never ran
    assert local_stack.host.invocations[-1].error == error and not local_stack.host.invocations[-1].handler_ran


def test_a_service_error_after_the_handler_ran_makes_a_retry_run_it_again(
    local_stack, fake_handler, faults, fast_retries
):
    ran: list[Any] = []
    arn = fake_handler(lambda event, context: ran.append(event) or {"n": len(ran)})
    faults.service_error(FUNCTION, after_handler=True)
    retry = [{"ErrorEquals": ["Lambda.ServiceException"], "IntervalSeconds": 1, "MaxAttempts": 2}]
    assert output(run(caught(task(arn, Retry=retry)), {"batch": 7})) == {"n": 2}
    assert ran == [{"batch": 7}, {"batch": 7}]  # at least once: the first run's writes stay


def test_the_invoke_api_answers_function_errors_and_service_errors_as_aws(local_stack, fake_handler, faults):
    fake_handler(lambda event, context: (_ for _ in ()).throw(SimulatedCrash()))
    client = boto3.client("lambda", config=Config(retries={"max_attempts": 0}))
    name = local_stack.host.functions[FUNCTION].name
    response = client.invoke(FunctionName=name, Payload=b"{}")
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "Runtime.ExitError"
    faults.service_error(FUNCTION, "TooManyRequestsException")
    with pytest.raises(client.exceptions.TooManyRequestsException) as raised:
        client.invoke(FunctionName=name, Payload=b"{}")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429


def test_faults_can_pick_invocations_by_their_event(local_stack, fake_handler, faults):
    arn = fake_handler(lambda event, context: {"ok": event["n"]})
    faults.crash(FUNCTION, match=lambda event: event.get("n") == 2, times=None)
    assert output(run(caught(task(arn)), {"n": 1})) == {"ok": 1}
    assert output(run(caught(task(arn)), {"n": 2}))["error"]["Error"] == "Runtime.ExitError"
    assert output(run(caught(task(arn)), {"n": 3})) == {"ok": 3}


# -- 3. At-least-once delivery -----------------------------------------------------------------------


def test_delivering_twice_runs_the_handler_twice_and_answers_the_second(local_stack, fake_handler, faults):
    runs: list[str] = []
    arn = fake_handler(lambda event, context: runs.append(context.aws_request_id) or {"run": len(runs)})
    faults.deliver_twice(FUNCTION)
    assert output(run(caught(task(arn)))) == {"run": 2}
    assert len(set(runs)) == 2
    assert [i.delivered for i in list(local_stack.host.invocations)[-2:]] == [False, True]


def test_delivering_twice_concurrently_runs_both_at_the_same_time(local_stack, fake_handler, faults):
    both = threading.Barrier(2, timeout=10)  # only passes if the two deliveries overlap
    functions: list[str | None] = []
    running: list[int] = []

    def handler(event, context):
        functions.append(current_function.get())
        both.wait()
        running.append(local_stack.host.running())
        return {"ok": True}

    arn = fake_handler(handler)
    faults.deliver_twice(FUNCTION, concurrently=True)
    assert output(run(caught(task(arn)))) == {"ok": True}
    assert functions == [FUNCTION, FUNCTION]
    assert running[0] >= 2  # both handlers were running


def test_delivering_twice_can_be_switched_on_for_every_function_and_off_for_one():
    faults = LambdaFaults()
    faults.deliver_twice()
    faults.deliver_twice("A", concurrently=True)
    assert (faults.twice("A"), faults.twice("B")) == (True, False)
    faults.deliver_once("A")
    assert faults.twice("A") is False
    faults.clear()
    assert faults.twice("A") is None


# -- 4. A Distributed Map's failed child -------------------------------------------------------------


def _distributed_map(local_stack, function_arn: str, items: list[Any], **map_fields: Any) -> dict[str, Any]:
    bucket = local_stack.template.physical_name("ImportBucket")
    key = f"strict/{uuid.uuid4().hex}.json"
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(items).encode())
    return {
        "StartAt": "Batches",
        "States": {
            "Batches": {
                "Type": "Map",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:getObject",
                    "ReaderConfig": {"InputType": "JSON"},
                    "Parameters": {"Bucket": bucket, "Key": key},
                },
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Batch",
                    "States": {"Batch": task(function_arn, End=True)},
                },
                "MaxConcurrency": 2,
                "Catch": [
                    {"ErrorEquals": ["Boom"], "ResultPath": "$.boom", "Next": "Boom"},
                    {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"},
                ],
                "End": True,
                **map_fields,
            },
            "Boom": {"Type": "Pass", "End": True},
            "Failed": {"Type": "Pass", "End": True},
        },
    }


def _fails_on(bad: set[int]) -> Callable[[Any, Any], Any]:
    def handler(event, context):
        if event["n"] in bad:
            raise Boom(f"item {event['n']}")
        return {"n": event["n"]}

    return handler


def test_a_failed_distributed_map_child_fails_the_map_with_exceed_tolerated_failure_threshold(
    local_stack, fake_handler
):
    arn = fake_handler(_fails_on({2}))
    result = output(run(_distributed_map(local_stack, arn, [{"n": n} for n in range(4)])))
    assert "boom" not in result  # the child's own error name does not reach the parent's Catch
    assert result["error"] == {
        "Error": "States.ExceedToleratedFailureThreshold",
        "Cause": "The specified tolerated failure threshold was exceeded",
    }


def test_a_distributed_map_tolerates_as_many_failures_as_it_is_told(local_stack, fake_handler):
    arn = fake_handler(_fails_on({1, 2}))
    items = [{"n": n} for n in range(4)]
    assert "error" in output(run(_distributed_map(local_stack, arn, items, ToleratedFailureCount=1)))
    assert "error" not in output(run(_distributed_map(local_stack, arn, items, ToleratedFailureCount=2)))
    assert "error" not in output(run(_distributed_map(local_stack, arn, items, ToleratedFailurePercentage=50.0)))
    assert "error" in output(run(_distributed_map(local_stack, arn, items, ToleratedFailurePercentage=25.0)))


def test_an_inline_map_still_fails_with_its_child_error(local_stack, fake_handler):
    arn = fake_handler(_fails_on({1}))
    definition = {
        "StartAt": "Items",
        "States": {
            "Items": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Batch",
                    "States": {"Batch": task(arn, End=True)},
                },
                "Catch": [{"ErrorEquals": ["Boom"], "ResultPath": "$.boom", "Next": "Done"}],
                "End": True,
            },
            "Done": {"Type": "Pass", "End": True},
        },
    }
    assert output(run(definition, {"items": [{"n": 0}, {"n": 1}]}))["boom"]["Error"] == "Boom"


def test_an_execution_stopped_while_a_state_fails_ends_aborted(local_stack, fake_handler):
    # What a cancel does to the worker: the API flags the operation, a batch fails on the flag, and
    # StopExecution lands while the Map fails. moto skipped the Catch and ended it FAILED.
    def handler(event, context):
        token = current_function.set(None)  # the stop is the API's call, made meanwhile, not this function's
        boto3.client("stepfunctions").stop_execution(
            executionArn=event["execution"], error="OperationStopped", cause="cleared"
        )
        current_function.reset(token)
        raise Boom("stopped")

    arn = fake_handler(handler)
    stops = {
        "Type": "Task",
        "Resource": INVOKE,
        "Parameters": {"FunctionName": arn, "Payload": {"execution.$": "$$.Execution.Id"}},
    }
    described = run(caught(stops))
    assert described["status"] == "ABORTED"


# -- 5. ResultWriter ---------------------------------------------------------------------------------


def test_a_result_writer_makes_the_map_output_a_reference_that_does_not_grow_with_the_items(local_stack, fake_handler):
    arn = fake_handler(lambda event, context: {"n": event["n"], "padding": "x" * 1_000})
    bucket = local_stack.template.physical_name("ImportBucket")
    writer = {
        "ResultWriter": {
            "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": {"Bucket.$": "$.bucket", "Prefix.$": "$.prefix"},
        },
        "InputPath": "$.results",
        "ResultPath": "$.results",
    }
    sizes = []
    for items in (3, 30):
        moto_stepfunctions.reset_payload_sizes()
        result = output(
            run(
                _distributed_map(local_stack, arn, [{"n": n} for n in range(items)], **writer),
                {"results": {"bucket": bucket, "prefix": "strict-results"}},
            )
        )
        details = result["results"]["ResultWriterDetails"]
        assert set(result["results"]) == {"MapRunArn", "ResultWriterDetails"}
        assert details["Bucket"] == bucket and details["Key"].startswith("strict-results/")
        manifest = json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=details["Key"])["Body"].read())
        assert manifest["MapRunArn"] == result["results"]["MapRunArn"]
        sizes.append(moto_stepfunctions.payload_sizes()["Batches"])
    assert sizes[0] == sizes[1]  # both runs: same-length ARN and key
    # Without it, the Map's result is every child's output: 30 children of 1 KB, growing with them.
    moto_stepfunctions.reset_payload_sizes()
    output(run(_distributed_map(local_stack, arn, [{"n": n} for n in range(30)], ResultPath=None)))
    assert moto_stepfunctions.payload_size_details()["Batches"]["result"] > 30_000


# -- 6. Retry waits ----------------------------------------------------------------------------------


def test_retries_still_happen_with_scaled_waits(local_stack, fake_handler, fast_retries):
    attempts: list[int] = []

    def handler(event, context):
        attempts.append(1)
        if len(attempts) < 4:
            raise Boom("again")
        return {"attempts": len(attempts)}

    retry = [{"ErrorEquals": ["Boom"], "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 2}]
    started = time.monotonic()
    assert output(run(caught(task(fake_handler(handler), Retry=retry)))) == {"attempts": 4}
    assert time.monotonic() - started < 5  # unscaled: 2 + 4 + 8 = 14 seconds of waits


def test_retry_scale_is_read_from_the_environment(monkeypatch):
    monkeypatch.delenv(moto_stepfunctions.RETRY_SCALE_VARIABLE, raising=False)
    assert moto_stepfunctions.retry_scale() == 1.0
    monkeypatch.setenv(moto_stepfunctions.RETRY_SCALE_VARIABLE, "0.01")
    assert moto_stepfunctions.retry_scale() == 0.01


def test_a_stop_right_after_the_start_stops_the_execution(local_stack, monkeypatch):
    """moto's execution thread creates its environment when it begins; a StopExecution that landed
    before that failed inside moto (a 500). And the thread records ABORTED only when it next runs,
    where AWS's DescribeExecution says ABORTED as soon as StopExecution has answered. The thread is
    held back at both points here, so the stop always lands first and is read before the thread
    records it."""
    from moto.stepfunctions.parser.backend import execution, execution_worker

    begin = execution_worker.ExecutionWorker._execution_logic
    monkeypatch.setattr(
        execution_worker.ExecutionWorker, "_execution_logic", lambda self: (time.sleep(0.3), begin(self))
    )
    record_end = execution.BaseExecutionWorkerCommunication._reflect_execution_status
    monkeypatch.setattr(
        execution.BaseExecutionWorkerCommunication,
        "_reflect_execution_status",
        lambda self: (time.sleep(0.5), record_end(self)),
    )
    stepfunctions = boto3.client("stepfunctions")
    arn = stepfunctions.create_state_machine(
        name=f"strict-{uuid.uuid4().hex[:10]}",
        roleArn="arn:aws:iam::123456789012:role/bulk-import-local",
        definition=json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 5, "End": True}}}),
    )["stateMachineArn"]
    execution = stepfunctions.start_execution(stateMachineArn=arn, input="{}")["executionArn"]

    stepfunctions.stop_execution(executionArn=execution, error="OperationStopped", cause="canceled")

    assert stepfunctions.describe_execution(executionArn=execution)["status"] == "ABORTED"
