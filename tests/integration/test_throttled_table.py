"""A table throttled for longer than a function's Timeout: every DynamoDB request answered with
ThrottlingException or ProvisionedThroughputExceededException, as AWS answers botocore's HTTP attempts
(a fault at the SDK boundary, `via_http`). Each API function answers 503 with Retry-After in its
dialect's error format, before its Timeout in template.yaml, after at most BOTOCORE_ATTEMPTS requests
(bulk_import.domain.deadline has the arithmetic); a worker task fails its attempt with StoreUnavailable,
which Step Functions retries with backoff, and the counts stay exact."""

from __future__ import annotations

import json

import pytest

from bulk_import.domain.deadline import BOTOCORE_ATTEMPTS
from bulk_import.domain.errors import StoreUnavailable
from bulk_import.domain.records.staged import RecordType
from bulk_import.logic.imports.start import start_records_import
from bulk_import_cli import demo
from bulk_import_local.functions_host import LambdaContext
from bulk_import_local.local_stack import function_timeouts
from bulk_import_local.sdk_boundary import Fault, SdkBoundary
from tests.support.events import http_result, load_event
from tests.support.records import users
from tests.support.stack import FUNCTIONS, ROOT, TEMPLATE
from tests.support.worker import CELL, stage_all

#: Longer than any function's Timeout: the table stays throttled for as long as the test runs.
SUSTAINED = 10**6
TIMEOUTS = function_timeouts(TEMPLATE)
THROTTLED, OVER_CAPACITY = "ThrottlingException", "ProvisionedThroughputExceededException"


@pytest.fixture
def throttled(store, function_environment):
    """The demo's cells and credentials, then a table that throttles every request."""
    demo.seed_demo(store, function_environment["ROCKETCHAT_CELL"])
    boundary = SdkBoundary(strict=True)
    undo = boundary.install()
    yield boundary
    undo()


def throttle(boundary: SdkBoundary, code: str = THROTTLED) -> None:
    boundary.inject(Fault("dynamodb", "*", code=code, times=SUSTAINED, via_http=True))


def context_of(function: str) -> LambdaContext:
    """A Lambda context with the function's Timeout from template.yaml, started now: it tells how
    much of the Timeout is left when the handler has returned."""
    resource = FUNCTIONS.functions[function]
    return LambdaContext(resource.name, resource.arn, timeout_ms=int(TIMEOUTS[function] * 1000))


def dynamodb_calls(boundary: SdkBoundary, since: int = 0) -> list[str]:
    return [call.operation for call in boundary.calls[since:] if call.service == "dynamodb"]


def personium_unavailable(body):
    assert body["code"] == "PR503-SV-0001" and body["message"]["value"] == "Too many concurrent requests."


def rocketchat_unavailable(body):
    assert body == {"success": False, "error": "Service unavailable, try again later"}


def problem_unavailable(body):
    assert (body["type"], body["status"]) == ("urn:bulk-import:problem:service-unavailable", 503)


@pytest.mark.parametrize(
    ("event_file", "code", "body_is"),
    [
        ("PersoniumStatusFunction/status-in-progress.json", THROTTLED, personium_unavailable),
        ("PersoniumImportFunction/start-import.json", OVER_CAPACITY, personium_unavailable),
        ("RocketChatStatusFunction/import-status.json", THROTTLED, rocketchat_unavailable),
        ("RocketChatImportFunction/import-new.json", OVER_CAPACITY, rocketchat_unavailable),
        ("NativeReadFunction/get-import.json", THROTTLED, problem_unavailable),
        ("NativeWriteFunction/start-import-records.json", OVER_CAPACITY, problem_unavailable),
    ],
)
def test_an_api_function_on_a_throttled_table_answers_503_with_retry_after_before_its_timeout(
    throttled, event_file, code, body_is
):
    function = event_file.split("/")[0]
    throttle(throttled, code)

    context = context_of(function)
    answer = FUNCTIONS.invoke(function, load_event(event_file), context)

    result = http_result(answer)
    assert result.status == 503 and result.headers["Retry-After"] == [str(StoreUnavailable.retry_after)]
    body_is(result.body)
    # It answered before Lambda would have stopped it: within its Timeout, with time to spare.
    assert context.get_remaining_time_in_millis() > 0
    # Its first request, the credential's read, went out at most BOTOCORE_ATTEMPTS times (botocore's
    # attempts; the store sends no throttled request again), and nothing was sent after it.
    assert 1 <= len(throttled.fired) <= BOTOCORE_ATTEMPTS
    assert len(dynamodb_calls(throttled)) == 1


def test_a_batch_on_a_throttled_table_fails_its_attempt_and_its_retry_counts_exactly(
    store, files, executions, throttled
):
    operation = start_records_import(store, files, executions, CELL, users(50, invalid={7}), None, "op")
    stage_all(store, files, operation.id)
    task = {"batch": {"cell": CELL, "operationId": operation.id, "type": RecordType.USER.value, "batch": 0}}
    throttle(throttled)
    before = len(throttled.calls)

    context = context_of("ImportBatchFunction")
    with pytest.raises(StoreUnavailable):  # Step Functions retries it (statemachine/import.asl.json)
        FUNCTIONS.invoke("ImportBatchFunction", task, context)
    assert context.get_remaining_time_in_millis() > 0  # failed within its Timeout, not timed out
    assert 1 <= len(throttled.fired) <= BOTOCORE_ATTEMPTS and len(dynamodb_calls(throttled, before)) == 1
    throttled.clear_faults()
    assert store.latest_operation(CELL).count.processed == 0

    outcome = FUNCTIONS.invoke("ImportBatchFunction", task)  # the retry, once the table answers again
    assert (outcome["completed"], outcome["error"]) == (49, 1)
    latest = store.latest_operation(CELL)
    assert (latest.count.completed, latest.count.error) == (49, 1)


def tasks(states: dict) -> list[tuple[str, dict]]:
    found = []
    for name, state in states.items():
        if state["Type"] == "Task":
            found.append((name, state))
        if state["Type"] == "Map":
            found += tasks(state["ItemProcessor"]["States"])
    return found


def test_every_task_retries_store_unavailable_with_backoff_before_other_task_failures():
    definition = json.loads((ROOT / "statemachine/import.asl.json").read_text())
    for name, state in tasks(definition["States"]):
        errors = [retrier["ErrorEquals"] for retrier in state["Retry"]]
        retrier = state["Retry"][errors.index(["StoreUnavailable"])]
        assert errors.index(["StoreUnavailable"]) < errors.index(["States.TaskFailed"]), name
        assert retrier["MaxAttempts"] >= 3 and retrier["BackoffRate"] >= 2, name
        assert retrier["JitterStrategy"] == "FULL" and retrier["MaxDelaySeconds"] <= 60, name
