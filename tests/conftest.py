"""Shared fixtures: moto in-process, the table and environment as template.yaml declares them."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bulk_import.dal.dynamodb import ImportStore, default_store

# First: it keeps moto's unused backends unloaded (moto_footprint), before anything imports moto's
# Step Functions interpreter (moto_stepfunctions below).
from bulk_import_local.local_stack import LOCAL_PARAMETERS, clear_cached_clients

# isort: split
from bulk_import_local import moto_partiql, moto_stepfunctions, moto_transactions
from bulk_import_local.functions_host import FunctionsHost
from bulk_import_local.iam_policies import function_policies
from bulk_import_local.sam_template import SamTemplate
from bulk_import_local.sdk_boundary import SdkBoundary

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = SamTemplate(ROOT / "template.yaml", LOCAL_PARAMETERS)
FUNCTIONS = FunctionsHost(TEMPLATE.functions())
# As in Lambda, the environment exists before any handler module (and its Powertools singletons) loads.
os.environ.update(FUNCTIONS.environment() | {"POWERTOOLS_TRACE_DISABLED": "true"})
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # Lambda always sets it
TABLE_NAME = os.environ["TABLE_NAME"]
BUCKET_NAME = os.environ["IMPORT_BUCKET"]


@pytest.fixture(scope="session")
def function_environment() -> dict[str, str]:
    return FUNCTIONS.environment()


@pytest.fixture
def moto_aws(monkeypatch, function_environment):
    """In-process moto, as kind as it is (the SDK boundary's own tests compare against it)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        **function_environment,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    clear_cached_clients()
    with mock_aws():
        yield
    clear_cached_clients()


@pytest.fixture
def aws(moto_aws):
    """moto behind the strict SDK boundary: it refuses what AWS refuses and moto accepts (item size,
    nesting, numbers, batch sizes, payloads, and what a function's IAM policy does not allow), so a
    test fails where AWS would."""
    undo_transactions = moto_transactions.install()  # as the local stack: one at a time, undoing only their items
    undo_partiql = moto_partiql.install()  # as the local stack: DynamoDB's INSERT
    undo_stop = moto_stepfunctions.install_stop_after_start()  # as the local stack: a stop never fails in moto
    undo = SdkBoundary(strict=True, policies=function_policies(TEMPLATE.raw)).install()
    yield
    undo()
    undo_stop()
    undo_partiql()
    undo_transactions()


@pytest.fixture
def store(aws) -> ImportStore:
    """The template's table, bucket and state machine on in-process moto (executions are recorded,
    not run: tests/local runs them)."""
    for name, arguments in TEMPLATE.tables().items():
        boto3.client("dynamodb").create_table(TableName=name, **arguments)
    for name in TEMPLATE.buckets():
        boto3.client("s3").create_bucket(Bucket=name)
    for name in TEMPLATE.event_buses():
        boto3.client("events").create_event_bus(Name=name)
    for name, definition in TEMPLATE.state_machines().items():
        boto3.client("stepfunctions").create_state_machine(
            name=name, definition=definition, roleArn="arn:aws:iam::123456789012:role/bulk-import-test"
        )
    return default_store()


@pytest.fixture
def dynamodb_requests(store) -> Counter:
    """Counts the DynamoDB API calls the handlers' store makes, by operation name."""
    calls: Counter = Counter()

    def count(model, **_):
        calls[model.name] += 1

    store.client.meta.events.register("before-call.dynamodb", count)
    return calls


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: dict[str, list[str]]
    body: Any


def http_result(response: dict) -> HttpResult:
    """A Lambda proxy response as the client sees it: the body decoded when it is JSON."""
    headers = response.get("multiValueHeaders") or {k: [v] for k, v in (response.get("headers") or {}).items()}
    content_type = (headers.get("Content-Type") or [""])[0]
    body = response["body"] or None
    return HttpResult(response["statusCode"], headers, json.loads(body) if body and "json" in content_type else body)


@pytest.fixture
def invoke() -> Callable[[str, dict], HttpResult]:
    def call(function: str, event: dict) -> HttpResult:
        return http_result(FUNCTIONS.invoke(function, event))

    return call


def load_event(relative_path: str) -> dict:
    return json.loads((ROOT / "events" / relative_path).read_text())


def api_event(
    method: str,
    path: str,
    token: str | None = None,
    body: Any = None,
    query: dict | None = None,
    headers: dict[str, str] | None = None,
) -> dict:
    """A REST API proxy event for `method path`, shaped like the files in events/ (one of which it
    starts from), for tests that vary what events/ fixes."""
    event = load_event("NativeReadFunction/list-imports.json")
    event["requestContext"]["path"] = f"/{event['requestContext']['stage']}{path}"
    all_headers = (
        {"Host": event["headers"]["Host"], "Accept": "application/json"}
        | ({"Authorization": f"Bearer {token}"} if token else {})
        | ({"Content-Type": "application/json"} if body is not None else {})
        | (headers or {})
    )
    event.update(
        path=path,
        httpMethod=method,
        headers=all_headers,
        multiValueHeaders={name: [value] for name, value in all_headers.items()},
        queryStringParameters=query,
        multiValueQueryStringParameters={k: [v] for k, v in (query or {}).items()} or None,
        body=json.dumps(body) if body is not None else None,
    )
    return event


def capture_bus_events(bus: str, name: str, pattern: dict) -> Callable[[], list[dict]]:
    """Routes the events matching `pattern` on `bus` to a new SQS queue (moto delivers rule targets);
    returns a function that drains the queue and answers every event received so far."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
    received: list[dict] = []

    def drain() -> list[dict]:
        while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            received.extend(json.loads(message["Body"]) for message in messages)
            sqs.delete_message_batch(
                QueueUrl=queue,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
        return received

    return drain
